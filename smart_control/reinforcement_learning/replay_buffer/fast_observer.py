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
    By default the backlog stays under the 50 pending items at which Reverb's
    writer logs "The number of pending items is alarmingly high" (writing
    faster than TF-Agents' observer, this observer would otherwise log it
    every few steps of a long episode); the waits cost a few percent.

Mid-episode waits never block on a server that makes no progress, which is
where TF-Agents' observer would not wait at all: a wait goes on only while
the server keeps confirming items. When a rate limiter holds inserts back (no
item confirmed for `_STALL_MS`), the observer stops waiting and only polls
(1 ms) at later points, waiting again once the server confirms items; at
episode ends and in `flush()` it blocks exactly as TF-Agents' observer does.
So a single-threaded collect/train loop cannot deadlock in the middle of an
episode, and under a blocking limiter a mid-episode step costs at most one
such wait per stall (measured: one 672-step episode in 0.13 s, TF-Agents'
0.36 s). Under heavy CPU contention a slow server can look stalled for a
moment; the backlog then grows as TF-Agents' would until the next poll sees
progress. `close()` (and garbage collection) waits a bounded time for
unconfirmed items, then drops them with a warning, whatever the server does.

Relies on `reverb.Client._client` (the pybind client) of the pinned
dm-reverb 0.14.
"""

from __future__ import annotations

import collections
import math
import re
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import tree
from absl import logging
from reverb import pybind
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory as trajectory_lib

from smart_control.reinforcement_learning.replay_buffer.errors import (
    check_int,
    check_number,
)

DEFAULT_MAX_CHUNK_LENGTH = None  # auto-tuned, as TF-Agents
DEFAULT_FLUSH_EVERY = None  # keep the backlog under Reverb's warning threshold
DEFAULT_CLOSE_TIMEOUT_MS = 5_000
# Garbage collection must not stall the program for long.
_DEL_TIMEOUT_MS = 1_000
# Reverb's TrajectoryWriter warns once this many items are pending.
_PENDING_ITEMS_WARNING_THRESHOLD = 50
# A mid-episode wait goes on in slices of this length while each slice sees
# items confirmed; a slice without progress means the server holds inserts.
_STALL_MS = 25
# Reverb's timeout message: "Timeout exceeded with N items waiting to be
# written and M items awaiting confirmation."
_PENDING_RE = re.compile(r"(\d+) items waiting to be written and (\d+) items awaiting")
_LAST = ts.StepType.LAST


def _pending_items(error: Exception) -> Optional[int]:
    """Items still pending according to a writer timeout, if it says."""
    match = _PENDING_RE.search(str(error))
    return int(match.group(1)) + int(match.group(2)) if match else None


def _is_timeout(error: Exception) -> bool:
    return "Timeout exceeded" in str(error)


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
        close_timeout_ms: int = DEFAULT_CLOSE_TIMEOUT_MS,
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
          close_timeout_ms: How long `close()` waits for the server to confirm
            the items written so far before dropping them (with a warning).

        Raises:
          ValueError: If an argument is out of range (the message names it),
            or `tile_end_of_episodes` is set without `pad_end_of_episodes`.
        """
        check_int("sequence_length", sequence_length, 1)
        check_int("stride_length", stride_length, 1)
        if max_chunk_length is not None:
            check_int("max_chunk_length (None or an integer)", max_chunk_length, 1)
        if flush_every is not None:
            check_int("flush_every (None or an integer)", flush_every, 0)
        check_int("close_timeout_ms", close_timeout_ms, 1)
        priority = check_number("priority", priority, 0.0)
        if tile_end_of_episodes and not pad_end_of_episodes:
            raise ValueError(
                "Must set `pad_end_of_episodes=True` when using `tile_end_of_episodes`"
            )
        self._table_names: List[str] = (
            [table_name] if isinstance(table_name, str) else list(table_name)
        )
        if not self._table_names or not all(
            isinstance(n, str) and n for n in self._table_names
        ):
            raise ValueError(
                f"table_name must be a table name or a list of them, got {table_name!r}"
            )
        self._sequence_length = sequence_length
        self._stride_length = stride_length
        self._priority = priority
        self._close_timeout_ms = close_timeout_ms
        # Set when a mid-episode wait saw the server make no progress (a rate
        # limiter holding inserts back); cleared at episode ends and flushes.
        self._stalled = False
        # Items created so far, and (pending, created) at the last timed-out
        # wait: how `_wait_for_backlog` tells a slow server from a stalled one.
        self._items_created = 0
        self._last_pending: Optional[tuple] = None
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
        step_type = trajectory.step_type
        # Trajectory.is_boundary() spends most of its time in tf.is_tensor.
        if isinstance(step_type, (np.generic, int)):
            boundary = step_type == _LAST
        elif isinstance(step_type, np.ndarray) and step_type.ndim == 0:
            boundary = step_type == _LAST
        else:
            self._check_unbatched(step_type)
            boundary = trajectory.is_boundary()
        self._last_trajectory = trajectory
        self._append(trajectory)
        if boundary:
            self.reset(write_cached_steps=self._pad_end_of_episodes)
        elif self._flush_every and self._steps_since_flush >= self._flush_every:
            self._steps_since_flush = 0
            self._wait_for_backlog()

    @staticmethod
    def _check_unbatched(step_type: Any) -> None:
        try:
            shape = tuple(getattr(step_type, "shape", ()))
            size = math.prod(int(d) if d is not None else 2 for d in shape)
        except (TypeError, ValueError):  # Unknown rank: let TF-Agents' code judge.
            return
        if size > 1:
            raise ValueError(
                "FastTrajectoryObserver takes one unbatched step per call, got a "
                f"batch of {size} steps (step_type shape {shape}); use one "
                "observer per environment, or unbatch the trajectories"
            )

    def _wait_for_backlog(self) -> None:
        """Waits while the server confirms items, leaving the open chunk alone.

        At most one chunk of items stays pending (no early, short chunks).
        The wait goes on only while items are being confirmed. Once a wait
        sees no progress the observer is *stalled*: it stops waiting
        mid-episode (see the module docstring) and only polls (1 ms) at the
        next points, waiting again as soon as a poll shows the server has
        confirmed anything since the last one.
        """
        writer = self._get_writer()
        # 0 would mean "no timeout" to Reverb: 1 ms is the shortest.
        timeout = 1 if self._stalled else _STALL_MS
        while True:
            try:
                writer.Flush(self._open_chunk_items, timeout)
                self._stalled, self._last_pending = False, None
                return
            except RuntimeError as e:
                if not _is_timeout(e):
                    raise
                pending, created = _pending_items(e), self._items_created
                last = self._last_pending
                self._last_pending = (pending, created)
                # Progress: fewer items pending than before plus those
                # created since (pending only grows while nothing lands).
                progress = (
                    pending is not None
                    and last is not None
                    and last[0] is not None
                    and pending < last[0] + (created - last[1])
                )
                if not progress and (self._stalled or last is not None):
                    self._stalled = True
                    return
                self._stalled = False
                timeout = _STALL_MS

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
        self._items_created += len(self._table_names)

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
        """Blocks until every item created so far has reached the server.

        Like TF-Agents' `flush()`, this waits as long as a rate limiter holds
        inserts back.
        """
        self._get_writer().Flush(0, -1)
        self._steps_since_flush = 0
        self._stalled, self._last_pending = False, None

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
            # Waits for the server like TF-Agents' observer at episode ends.
            self._writer.EndEpisode(True, None)
            self._steps_since_flush = 0
            self._stalled, self._last_pending = False, None

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

    def close(self, timeout_ms: Optional[int] = None) -> None:
        """Flushes and closes the writer; `open()` makes a new one.

        Returns within about `timeout_ms` whatever the server does: items it
        has not confirmed by then (a rate limiter holding inserts back, a
        server gone) are dropped with a warning.

        Args:
          timeout_ms: How long to wait for the server; default
            `close_timeout_ms`.
        """
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        self._history.clear()
        timeout_ms = self._close_timeout_ms if timeout_ms is None else timeout_ms
        try:
            writer.EndEpisode(True, max(1, int(timeout_ms)))
        except RuntimeError as e:
            logging.warning(
                "Replay buffer observer closed with items the server did not "
                "confirm within %d ms; they are dropped (%s).",
                timeout_ms,
                str(e).splitlines()[0] if _is_timeout(e) else e,
            )
        finally:
            writer.Close()

    def _get_writer(self) -> Any:
        if self._writer is None:
            raise ValueError("Could not obtain writer from py_client.")
        return self._writer

    def __del__(self):
        try:
            self.close(timeout_ms=min(self._close_timeout_ms, _DEL_TIMEOUT_MS))
        except Exception:  # The server or interpreter may be gone.
            pass
