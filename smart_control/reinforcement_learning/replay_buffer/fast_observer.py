"""A leaner drop-in for TF-Agents' `ReverbAddTrajectoryObserver`.

`FastTrajectoryObserver` writes exactly the items `ReverbAddTrajectoryObserver`
writes (a window of `sequence_length` steps every `stride_length` steps, the
cache dropped at every episode boundary, optional end-of-episode padding) and
has the same interface (`__call__`, `reset`, `flush`, `open`, `close`,
`py_client`, `get_table_signature`), so Actors, drivers and the
`ReplayBufferManager` can use either. It is faster because it talks to
Reverb's C++ `TrajectoryWriter` directly: one `tree.flatten` and one `Append`
per step, the last `sequence_length` step references kept in a deque, instead
of the Python writer re-flattening with paths and rebuilding the whole
`writer.history` nest for every item.

Two options go further than TF-Agents:

  * `max_chunk_length`: by default chunks are auto-tuned exactly as TF-Agents'
    observer does (at most `sequence_length + 1` steps), so items reach the
    server just as soon. A constant 32 makes fewer, better compressed chunks:
    about half the server memory per item, a checkpoint near the raw size and
    cheaper sampling, but an item is only sent once its chunk is complete (up
    to 31 steps late) or at `flush()` or an episode end. Use it where nothing
    waits on single items: populating a buffer, collect-only actors. In one
    process, a learner that samples right after a few steps, or a
    `SampleToInsertRatio` limiter with a small error buffer, would wait for
    items that are not sent yet.
  * `flush_every`: every that many steps the observer waits until the server
    has confirmed all but the open chunk's items, so the backlog of a long
    episode stays bounded (TF-Agents' observer only waits at episode ends).
    Like an episode end, that wait blocks while a rate limiter blocks inserts.
    By default the backlog stays under the 50 pending items at which Reverb's
    writer logs "The number of pending items is alarmingly high" (writing
    faster than TF-Agents' observer, this observer would otherwise log it
    every few steps of a long episode); the waits cost a few percent.

Relies on `reverb.Client._client` (the pybind client) of the pinned
dm-reverb 0.14.
"""

from __future__ import annotations

import collections
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import tree
from reverb import pybind
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory as trajectory_lib

DEFAULT_MAX_CHUNK_LENGTH = None  # auto-tuned, as TF-Agents
DEFAULT_FLUSH_EVERY = None  # keep the backlog under Reverb's warning threshold
# Reverb's TrajectoryWriter warns once this many items are pending.
_PENDING_ITEMS_WARNING_THRESHOLD = 50
_LAST = ts.StepType.LAST


class FastTrajectoryObserver:
    """Writes fixed-length, overlapping trajectories to Reverb tables.

    Call it once per environment step with an unbatched `Trajectory`. Once
    `sequence_length` steps of the current episode are cached, an item of the
    last `sequence_length` steps is created, then one every `stride_length`
    steps. A boundary step (LAST -> FIRST) ends the episode: the cache is
    dropped (or padded with zero boundary steps and written, with
    `pad_end_of_episodes`).
    """

    def __init__(
        self,
        py_client: Any,
        table_name: Union[str, Sequence[str]],
        sequence_length: int,
        stride_length: int = 1,
        priority: Union[float, int] = 1,
        pad_end_of_episodes: bool = False,
        tile_end_of_episodes: bool = False,
        *,
        max_chunk_length: Optional[int] = DEFAULT_MAX_CHUNK_LENGTH,
        flush_every: Optional[int] = DEFAULT_FLUSH_EVERY,
    ):
        """Creates the observer and its writer.

        Args:
          py_client: A `reverb.Client` of the server holding the table(s).
          table_name: The table name, or several: every item goes to each.
          sequence_length: Steps per item.
          stride_length: Steps between the starts of consecutive items.
          priority: Priority of new items.
          pad_end_of_episodes: Pad the cache with zero boundary steps at an
            episode's end and write the padded items, instead of dropping it.
          tile_end_of_episodes: With padding, write `sequence_length - 1`
            padded items (tiling the end) instead of one.
          max_chunk_length: Steps per chunk the writer sends to the server
            (see the module docstring); None (default) uses Reverb's
            auto-tuned chunker, as TF-Agents does.
          flush_every: Steps between waits until the server has confirmed all
            items but those of the open chunk. 0 disables them; None (default)
            waits often enough to stay below Reverb's pending-items warning.

        Raises:
          ValueError: If an argument is out of range, or `tile_end_of_episodes`
            is set without `pad_end_of_episodes`.
        """
        if isinstance(sequence_length, bool) or sequence_length < 1:
            raise ValueError(f"sequence_length must be >= 1, got {sequence_length!r}")
        if isinstance(stride_length, bool) or stride_length < 1:
            raise ValueError(f"stride_length must be >= 1, got {stride_length!r}")
        if max_chunk_length is not None and max_chunk_length < 1:
            raise ValueError(
                f"max_chunk_length must be None or >= 1, got {max_chunk_length!r}"
            )
        if flush_every is not None and flush_every < 0:
            raise ValueError(f"flush_every must be None or >= 0, got {flush_every!r}")
        if tile_end_of_episodes and not pad_end_of_episodes:
            raise ValueError(
                "Must set `pad_end_of_episodes=True` when using `tile_end_of_episodes`"
            )
        self._table_names: List[str] = (
            [table_name] if isinstance(table_name, str) else list(table_name)
        )
        self._sequence_length = sequence_length
        self._stride_length = stride_length
        self._priority = float(priority)
        self._pad_end_of_episodes = pad_end_of_episodes
        self._tile_end_of_episodes = tile_end_of_episodes
        self._max_chunk_length = max_chunk_length
        self._open_chunk_items = max_chunk_length or sequence_length + 1
        if flush_every is None:
            # After a wait at most the open chunk's items are pending; the
            # steps until the next wait add one item each.
            flush_every = max(
                1, _PENDING_ITEMS_WARNING_THRESHOLD - 2 - self._open_chunk_items
            )
        self._flush_every = flush_every
        self._py_client = py_client
        self._writer = None
        self._history: collections.deque = collections.deque(maxlen=sequence_length)
        self._squeeze: List[bool] = []
        self._cached_steps = 0
        self._steps_since_flush = 0
        self._last_trajectory = None
        self.open()

    @property
    def py_client(self) -> Any:
        return self._py_client

    def get_table_signature(self) -> Any:
        return self._py_client.server_info()[self._table_names[0]].signature

    def __call__(self, trajectory: trajectory_lib.Trajectory) -> None:
        """Writes one unbatched step; creates an item when the window is full."""
        self._last_trajectory = trajectory
        self._append(trajectory)
        step_type = trajectory.step_type
        # Trajectory.is_boundary() spends most of its time in tf.is_tensor.
        if isinstance(step_type, (np.ndarray, np.generic, int)):
            boundary = step_type == _LAST
        else:
            boundary = trajectory.is_boundary()
        if boundary:
            self.reset(write_cached_steps=self._pad_end_of_episodes)
        elif self._flush_every and self._steps_since_flush >= self._flush_every:
            self._steps_since_flush = 0
            # Waits for the server, but leaves the open chunk alone (no early,
            # short chunks): at most one chunk of items stays pending.
            self._get_writer().Flush(self._open_chunk_items, -1)

    def _append(self, trajectory: Any) -> None:
        refs = self._get_writer().Append(tree.flatten(trajectory))
        self._history.append(refs)
        self._cached_steps += 1
        self._steps_since_flush += 1
        self._write_cached_steps()

    def _sequence_lengths_reached(self) -> bool:
        return (
            self._cached_steps >= self._sequence_length
            and (self._cached_steps - self._sequence_length) % self._stride_length == 0
        )

    def _write_cached_steps(self) -> None:
        if not self._sequence_lengths_reached():
            return
        columns = [list(column) for column in zip(*self._history)]
        if len(self._squeeze) != len(columns):
            self._squeeze = [False] * len(columns)
        writer = self._get_writer()
        for table_name in self._table_names:
            writer.CreateItem(table_name, self._priority, columns, self._squeeze)

    def _padding_step(self, example: trajectory_lib.Trajectory) -> Any:
        def zeros(x):
            return np.zeros_like(np.asarray(x))

        return trajectory_lib.boundary(
            tree.map_structure(zeros, example.observation),
            tree.map_structure(zeros, example.action),
            tree.map_structure(zeros, example.policy_info),
            tree.map_structure(zeros, example.reward),
            tree.map_structure(zeros, example.discount),
        )

    def flush(self) -> None:
        """Blocks until every item created so far has reached the server."""
        self._get_writer().Flush(0, -1)
        self._steps_since_flush = 0

    def reset(self, write_cached_steps: bool = True) -> None:
        """Ends the episode: writes (or drops) the cache and clears it.

        Same semantics as `ReverbAddTrajectoryObserver.reset`, including that
        `write_cached_steps=True` without padding writes the last full window
        once more.

        Args:
          write_cached_steps: Write the cached steps (padded when
            `pad_end_of_episodes`) before clearing; False drops them.

        Raises:
          ValueError: If `write_cached_steps` is set without padding and the
            cache holds fewer steps than an item needs.
        """
        if write_cached_steps and self._last_trajectory is not None:
            if self._pad_end_of_episodes:
                zero_step = self._padding_step(self._last_trajectory)
                if self._tile_end_of_episodes:
                    pad_range = range(self._sequence_length - 1)
                else:
                    pad_range = range(self._sequence_length - self._cached_steps)
                for _ in pad_range:
                    self._append(zero_step)
            elif self._sequence_lengths_reached():
                self._write_cached_steps()
            else:
                raise ValueError(
                    "write_cached_steps is True, but not enough steps remain in the "
                    "cache to write an item with sequence_length="
                    f"{self._sequence_length}, consider enabling pad_end_of_episodes."
                )
        self._cached_steps = 0
        self._last_trajectory = None
        self._history.clear()
        if self._writer is None:
            self.open()
        else:
            self._writer.EndEpisode(True, None)
            self._steps_since_flush = 0

    def open(self) -> None:
        """Opens the writer; a no-op if it is open."""
        if self._writer is None:
            keep_alive = self._sequence_length + 1
            if self._max_chunk_length is None:
                options = pybind.AutoTunedChunkerOptions(keep_alive, 1.0)
            else:
                keep_alive = max(keep_alive, self._max_chunk_length)
                options = pybind.ConstantChunkerOptions(
                    self._max_chunk_length, keep_alive
                )
            self._writer = self._py_client._client.NewTrajectoryWriter(options, False)
            self._history.clear()
            self._cached_steps = 0
            self._steps_since_flush = 0

    def close(self) -> None:
        """Flushes and closes the writer; `open()` makes a new one."""
        if self._writer is not None:
            self._writer.EndEpisode(True, None)
            self._writer.Close()
            self._writer = None
            self._history.clear()

    def _get_writer(self) -> Any:
        if self._writer is None:
            raise ValueError("Could not obtain writer from py_client.")
        return self._writer

    def __del__(self):
        try:
            self.close()
        except Exception:  # The server or interpreter may be gone.
            pass
