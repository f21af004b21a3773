"""Reinforcement learning replay buffers.

`ReplayBufferManager` creates, loads, checkpoints and clears a Reverb replay
buffer and hands out the TF-Agents `ReverbReplayBuffer` (for sampling) and a
`FastTrajectoryObserver` (for writing; the interface and items of TF-Agents'
`ReverbAddTrajectoryObserver` at about twice its speed) that work with it.

    with ReplayBufferManager(spec, 50000, "path/to/checkpoint/dir") as manager:
        replay_buffer, observer = manager.create_replay_buffer()  # always empty
        ...                                                        # collect
        manager.checkpoint()                                       # -> path
    with ReplayBufferManager(spec, 50000, "path/to/checkpoint/dir") as manager:
        replay_buffer, observer = manager.load_replay_buffer()  # newest verified
        dataset = manager.get_dataset(batch_size=64)

What a run can rely on is tabulated in the README ("Replay buffer"). The jobs
are split over `settings.py` (validated settings), `local_buffer.py` (server
and checkpoints; layout in `checkpoint_store.py`), `loading.py` (which
checkpoint, verified), `clients.py` (TF-Agents buffer and observer, remote
tables), `dataset.py` and `metadata.py`; this module is the public face.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Tuple

import gin
import reverb
import tensorflow as tf
from absl import logging
from tf_agents.replay_buffers import reverb_replay_buffer

from smart_control.reinforcement_learning.replay_buffer import (
    clients,
    loading,
    local_buffer,
    settings,
    table_config,
)
from smart_control.reinforcement_learning.replay_buffer.dataset import (
    SAMPLE_WORKERS as _SAMPLE_WORKERS,  # noqa: F401  (bench/bench_sample.py)
)
from smart_control.reinforcement_learning.replay_buffer.dataset import (
    make_dataset,
    whole_item_dataset,  # noqa: F401  (re-exported)
)
from smart_control.reinforcement_learning.replay_buffer.errors import (  # noqa: F401
    BufferDirLockedError,
    CapacityTooSmallError,
    CheckpointVerificationError,
    NoCheckpointFoundError,
    PortInUseError,
    SpecMismatchError,
)
from smart_control.reinforcement_learning.replay_buffer.fast_observer import (
    FastTrajectoryObserver,
)

DEFAULT_TABLE_NAME = settings.DEFAULT_TABLE_NAME
Buffers = Tuple[reverb_replay_buffer.ReverbReplayBuffer, FastTrajectoryObserver]


@gin.configurable
class ReplayBufferManager:
    """Manager for creating and interacting with Reverb replay buffers.

    This class simplifies the setup, interaction, and checkpointing of Reverb
    replay buffers for reinforcement learning agents. It provides methods to
    create a new buffer, add data, sample from the buffer, and save/restore
    buffer state.
    """

    def __init__(
        self,
        data_spec: Any,
        capacity: int,
        checkpoint_dir: Optional[str],
        sequence_length: int = 2,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        sampler_factory: table_config.SamplerFactory = table_config.uniform_sampler,
        rate_limiter_factory: table_config.RateLimiterFactory = (
            table_config.min_size_rate_limiter
        ),
        num_checkpoints_to_keep: int = 3,
        server_address: Optional[str] = None,
        port: Optional[int] = None,
        stride_length: int = 1,
        rate_limiter_timeout_ms: int = -1,
        allow_shrink: bool = False,
        protected_checkpoints: Optional[settings.ProtectedCheckpoints] = None,
    ):
        """Initialises the manager; no server is started until create or load.

        Args:
          data_spec: Nest of `TensorSpec`/`ArraySpec` of one step, usually
            `agent.collect_data_spec`.
          capacity: Maximum number of items (sequences); the oldest are evicted.
          checkpoint_dir: The buffer directory: checkpoints and metadata. May be
            None only with `server_address` (the server owns its checkpoints).
          sequence_length: Steps per item (2 for one transition).
          table_name: Reverb table name.
          sampler_factory: Zero-argument callable returning a Reverb selector
            (`table_config.uniform_sampler` or `prioritized_sampler`).
          rate_limiter_factory: Zero-argument callable returning a Reverb rate
            limiter (`min_size_rate_limiter` or
            `sample_to_insert_ratio_rate_limiter`).
          num_checkpoints_to_keep: Newest complete checkpoints kept on disk.
          server_address: "host:port" of a running Reverb server to use instead
            of starting one.
          port: Port of the local server; None picks a free one.
          stride_length: Steps between the starts of consecutive items.
          rate_limiter_timeout_ms: How long sampling waits on the rate limiter;
            -1 waits forever, otherwise the dataset ends after the timeout.
          allow_shrink: Let a load keep only the newest `capacity` items of a
            checkpoint that holds more (a warning says how many were dropped;
            a checkpoint of `checkpoint_dir` loaded so gets a KEEP file and is
            never pruned). False refuses such a load.
          protected_checkpoints: Zero-argument callable returning the
            checkpoints (names like "ckpt-00000003" or paths ending in them)
            the caller's newest committed state refers to; called at every
            prune, and those are never deleted. Read the state from disk in
            it, so it names what a restarted run would load.

        Raises:
          ValueError: If an argument is out of range.
        """
        self._settings = settings.Settings(
            data_spec=data_spec,
            capacity=capacity,
            checkpoint_dir=checkpoint_dir,
            sequence_length=sequence_length,
            table_name=table_name,
            sampler_factory=sampler_factory,
            rate_limiter_factory=rate_limiter_factory,
            num_checkpoints_to_keep=num_checkpoints_to_keep,
            server_address=server_address,
            port=port,
            stride_length=stride_length,
            rate_limiter_timeout_ms=rate_limiter_timeout_ms,
            allow_shrink=allow_shrink,
            protected_checkpoints=protected_checkpoints,
        )
        self._local = (
            local_buffer.LocalBuffer(self._settings) if server_address is None else None
        )
        self._replay_buffer: Optional[reverb_replay_buffer.ReverbReplayBuffer] = None
        self._observer: Optional[FastTrajectoryObserver] = None
        self._closed = False
        self._loaded_from: Optional[str] = None

    # -- properties -------------------------------------------------------------

    data_spec = property(lambda self: self._settings.data_spec)
    capacity = property(lambda self: self._settings.capacity)
    sequence_length = property(lambda self: self._settings.sequence_length)
    stride_length = property(lambda self: self._settings.stride_length)
    checkpoint_dir = property(lambda self: self._settings.checkpoint_dir)
    table_name = property(lambda self: self._settings.table_name)
    num_checkpoints_to_keep = property(
        lambda self: self._settings.num_checkpoints_to_keep
    )
    allow_shrink = property(lambda self: self._settings.allow_shrink)
    is_initialized = property(lambda self: self._replay_buffer is not None)

    @property
    def server(self) -> Optional[reverb.Server]:
        """The local Reverb server (None before create/load, remote, or closed)."""
        return self._local.server if self._local is not None else None

    @property
    def replay_buffer(self) -> Optional[reverb_replay_buffer.ReverbReplayBuffer]:
        """The TF-Agents replay buffer (None before create/load)."""
        return self._replay_buffer

    @property
    def observer(self) -> Optional[FastTrajectoryObserver]:
        """The observer writing into the buffer (None before create/load)."""
        return self._observer

    @property
    def loaded_checkpoint(self) -> Optional[str]:
        """The checkpoint `load_replay_buffer()` restored: after a fallback, the
        older one it fell back to. None after create, or in remote mode."""
        return self._loaded_from

    @property
    def server_address(self) -> Optional[str]:
        """Address of the server in use ("localhost:port" for a local one)."""
        if self.server is not None:
            return self._local.address
        if self._replay_buffer is None:
            return None
        return self._settings.server_address

    # -- lifecycle --------------------------------------------------------------

    def create_replay_buffer(self) -> Buffers:
        """Create the replay buffer: an empty table, whatever the directory holds.

        With `server_address`, connects to that server instead (its table is
        used as it is: the server owns its data).

        Returns:
          A tuple of (replay_buffer, observer).

        Raises:
          RuntimeError: If the buffer is already initialised or closed.
          BufferDirLockedError: If another process holds `checkpoint_dir`.
          SpecMismatchError: If a remote table's signature differs from data_spec.
        """
        buffers = self._start(self._local.start_empty if self._local else None)
        if self._local is not None:
            logging.info(
                "Created empty replay buffer %r (capacity %d) at %s",
                self.table_name,
                self.capacity,
                self.server_address,
            )
        return buffers

    def load_replay_buffer(
        self,
        source_dir: Optional[str] = None,
        *,
        table_name: Optional[str] = None,
        expected_items: loading.ExpectedItems = None,
    ) -> Buffers:
        """Load an existing replay buffer from a saved checkpoint.

        This method reconstructs the replay buffer, server, and observer based
        on the saved state in the checkpoint directory: the newest checkpoint
        that verifies is restored into this manager's table name, capacity,
        sampler and rate limiter (see the module docstring). New checkpoints
        are written to `checkpoint_dir`.

        Args:
          source_dir: Buffer directory (ours, or a plain Reverb checkpoint
            root such as the reference smart_control writes) or a single
            checkpoint directory to restore from, e.g. a shared starter
            buffer; defaults to `checkpoint_dir`. It is only read. A named
            checkpoint that does not verify falls back to the older ones
            beside it.
          table_name: The table to read from the checkpoint; by default this
            manager's `table_name` if the checkpoint has it, else its only
            table.
          expected_items: What the caller's own committed state recorded: the
            item count of the named (or newest) checkpoint, or a mapping of
            checkpoint name to item count (then only those checkpoints are
            considered; None for one whose count was not recorded). Checked
            besides metadata.json's record.

        Returns:
          A tuple of (replay_buffer, observer).

        Raises:
          NoCheckpointFoundError: If there is no checkpoint at all.
          CheckpointVerificationError: If none of the checkpoints verifies.
          SpecMismatchError: If the checkpoint was written for another spec.
          CapacityTooSmallError: If it holds more than `capacity` items and
            `allow_shrink` is False.
          ValueError: If its sequence length differs from `sequence_length`,
            or `table_name` is absent (or needed and not given).
          RuntimeError: If the buffer is already initialised or closed.
        """
        source = os.fspath(self.checkpoint_dir if source_dir is None else source_dir)

        def start() -> None:
            self._loaded_from = self._local.start_from(
                source, table_name, expected_items
            )

        return self._start(start if self._local else None)

    def load_checkpoint(self, *args: Any, **kwargs: Any) -> Buffers:
        """Alias of `load_replay_buffer` (the reference smart_control's name)."""
        return self.load_replay_buffer(*args, **kwargs)

    def get_replay_buffer_and_observer(self) -> Buffers:
        """Get the replay buffer and observer.

        Creates them (an empty buffer) if not already initialized.

        Returns:
          A tuple of (replay_buffer, observer).
        """
        if self._replay_buffer is None:
            return self.create_replay_buffer()
        return self._replay_buffer, self._observer

    def get_dataset(
        self, batch_size: int = 64, num_steps: Optional[int] = None
    ) -> tf.data.Dataset:
        """Get a TensorFlow dataset for sampling from the replay buffer.

        The elements are those of TF-Agents'
        `replay_buffer.as_dataset(sample_batch_size=batch_size,
        num_steps=num_steps)` (see `dataset.make_dataset` for how).

        Args:
          batch_size: Number of sequences to sample in each batch.
          num_steps: Number of steps to sample for each sequence. If None,
            defaults to sequence_length. Must divide sequence_length.

        Returns:
          A dataset of (Trajectory with shape [batch_size, num_steps, ...],
          SampleInfo with shape [batch_size, num_steps]) tuples. It ends if
          the rate limiter blocks sampling longer than
          `rate_limiter_timeout_ms`.

        Raises:
          RuntimeError: If the replay buffer has not been initialized yet, or
            was closed.
          ValueError: If batch_size or num_steps is out of range.
        """
        self._check_running("get_dataset")
        return make_dataset(
            self._replay_buffer,
            self.server_address,
            self.table_name,
            self.data_spec,
            self.sequence_length,
            batch_size,
            self.sequence_length if num_steps is None else num_steps,
            self._settings.rate_limiter_timeout_ms,
        )

    def num_frames(self) -> int:
        """Get the current number of frames in the replay buffer.

        A frame is one stored item (a sequence of `sequence_length` steps).

        Returns:
          The number of frames currently in the buffer (0 before initialisation
          and after close).
        """
        if self._replay_buffer is None or self._closed:
            return 0
        return int(self._replay_buffer.num_frames())

    def flush(self) -> None:
        """Blocks until every item the observer created has reached the server."""
        if self._observer is not None and not self._closed:
            self._observer.flush()

    def checkpoint(self) -> str:
        """Writes a checkpoint of the buffer and returns its path.

        Items the observer still holds are flushed first. Locally, the
        checkpoint becomes `checkpoint_dir/checkpoints/ckpt-N`, its item count
        is recorded in metadata.json, and only the newest
        `num_checkpoints_to_keep` are kept (plus those `protected_checkpoints`
        names). With `server_address` the server writes it where its own
        checkpointer says.

        Raises:
          RuntimeError: If the buffer has not been initialized or was closed.
        """
        self._check_running("checkpoint")
        self.flush()
        client = self._replay_buffer.py_client
        if self._local is None:
            path = client.checkpoint()
            logging.info("Remote server wrote checkpoint %s", path)
            return path
        path, items = self._local.checkpoint(client)
        logging.info("Checkpointed %d frames to %s", items, path)
        return path

    def save_checkpoint(self) -> str:
        """Alias of `checkpoint()` (the reference smart_control's name)."""
        return self.checkpoint()

    def discard_stored_checkpoints(self) -> None:
        """Deletes every checkpoint stored in `checkpoint_dir` (for --overwrite).

        Only while this manager's local server runs (so the directory's lock
        is held and the new buffer is up); the running table is untouched.

        Raises:
          RuntimeError: Without a running local server.
        """
        self._check_running("discard_stored_checkpoints")
        if self._local is None:
            raise RuntimeError("discard_stored_checkpoints: the server is remote")
        removed = self._local.discard_stored()
        logging.info(
            "Deleted %d old checkpoint(s) of %s.", len(removed), self.checkpoint_dir
        )

    def clear(self) -> None:
        """Clear all data from the replay buffer.

        The table is emptied in place (its rate limiter too); the observer and
        the replay buffer stay usable and checkpoints on disk are untouched.
        Datasets made before `clear()` may still hold a few prefetched samples:
        make new ones.

        Raises:
          RuntimeError: If the buffer has not been initialized or was closed.
        """
        self._check_running("clear")
        # Steps cached for a partly written item must not be joined to steps
        # written after the clear, and pending items must land before the reset.
        self._observer.reset(write_cached_steps=False)
        self._observer.flush()
        self._replay_buffer.py_client.reset(self.table_name)

    def close(self) -> None:
        """Close the replay buffer server and clean up resources.

        Idempotent, and bounded in time whatever the server does (the
        observer gives up waiting for unconfirmed items). Checkpoints taken
        with `py_client.checkpoint()` are kept; nothing is checkpointed
        implicitly.
        """
        if self._closed:
            return
        self._closed = True
        if self._observer is not None:
            try:
                self._observer.close()
            except Exception as e:  # The server may already be gone.
                logging.warning("Closing the replay buffer observer failed: %s", e)
        if self._local is not None:
            try:
                self._local.close()
            finally:
                self._local.release()

    def __enter__(self) -> ReplayBufferManager:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self):
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:  # Interpreter shutdown: modules may be gone.
                pass

    # -- internals --------------------------------------------------------------

    def _check_can_start(self) -> None:
        if self._closed:
            raise RuntimeError("the replay buffer manager is closed; make a new one")
        if self._replay_buffer is not None:
            raise RuntimeError(
                "the replay buffer is already initialized; use clear() to empty it "
                "or close() and a new manager to start over"
            )

    def _check_running(self, what: str) -> None:
        if self._closed:
            raise RuntimeError(f"{what}: the replay buffer has been closed")
        if self._replay_buffer is None:
            raise RuntimeError(
                f"{what}: the replay buffer has not been initialized yet; call "
                "create_replay_buffer() or load_replay_buffer() first"
            )

    def _start(self, start_local: Optional[Callable[[], None]]) -> Buffers:
        """Starts the local server with `start_local` (under the lock), or
        checks the remote table; then makes the replay buffer and observer."""
        self._check_can_start()
        if self._local is None:
            clients.check_remote_table(self._settings)
        try:
            if self._local is not None:
                self._local.open()
                start_local()
            server = self._local.server if self._local is not None else None
            self._replay_buffer, self._observer = clients.make_clients(
                self._settings, server
            )
        except BaseException:
            self._replay_buffer = self._observer = self._loaded_from = None
            if self._local is not None:
                self._local.abort()
            raise
        return self._replay_buffer, self._observer
