"""The local lifecycle of a buffer: a Reverb server in this process and its checkpoints.

`LocalBuffer` owns one buffer directory (layout in `checkpoint_store.py`)
while its lock is held: it starts the server empty or from the first usable
checkpoint (verified and re-configured by `loading.py`, falling back to older
ones with one warning line), writes checkpoints (adopting them into
`checkpoints/`, recording their item count in metadata.json, pruning old ones
without ever touching protected ones) and stops the server.
`ReplayBufferManager` is its only user.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from typing import Dict, List, Optional, Tuple

import reverb
from absl import logging

from smart_control.reinforcement_learning.replay_buffer import (
    checkpoint_files,
    checkpoint_store,
    loading,
    metadata,
)
from smart_control.reinforcement_learning.replay_buffer.errors import (
    CheckpointVerificationError,
    PortInUseError,
)
from smart_control.reinforcement_learning.replay_buffer.settings import Settings
from smart_control.reinforcement_learning.utils import faults


def _check_port_free(port: int) -> None:
    """Refuses a port another process listens on.

    gRPC binds with SO_REUSEPORT, so a second server on a busy port would
    start and silently share it; a bind without that option finds out.
    """
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # No IPv6 on this machine.
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            return
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"cannot start the replay buffer server on port {port}: the "
                    "port is in use (set ReplayBufferManager.port to a free port, "
                    "or leave it unset to pick one)"
                ) from None
            if family == socket.AF_INET6:
                continue
            raise
        finally:
            probe.close()


class LocalBuffer:
    """A Reverb server in this process writing checkpoints into one directory."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = checkpoint_store.CheckpointStore(settings.checkpoint_dir)
        self.instance_id = checkpoint_store.new_instance_id()
        self.server: Optional[reverb.Server] = None
        # Item counts by checkpoint name, of this directory (metadata.json).
        self.records: Dict[str, int] = {}
        self.created_at: Optional[str] = None

    @property
    def address(self) -> str:
        return f"localhost:{self.server.port}"

    # -- start ------------------------------------------------------------------

    def open(self) -> None:
        """Takes the lock and reads the directory's records.

        Raises:
          BufferDirLockedError: If another live process holds the directory.
        """
        self.store.acquire_lock()
        content = metadata.read(self.store.metadata_path)
        self.records = metadata.recorded_items(content)
        self.created_at = (content or {}).get("created_at")
        adopted = self.store.adopt_all_staged()
        if adopted:
            logging.info("Kept %d checkpoint(s) left by an earlier run.", len(adopted))

    def _new_server(self, fallback: Optional[str] = None) -> reverb.Server:
        if self.settings.port:
            _check_port_free(self.settings.port)
        staging = self.store.staging_root(self.instance_id)
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        checkpointer = reverb.checkpointers.DefaultCheckpointer(
            path=staging, fallback_checkpoint_path=fallback
        )
        try:
            return reverb.Server(
                tables=[self.settings.build_table()],
                port=self.settings.port,
                checkpointer=checkpointer,
            )
        except RuntimeError as e:
            if "BuildAndStart" not in str(e):
                raise  # A restore failure: the caller names the file.
            raise PortInUseError(
                f"cannot start the replay buffer server on port {self.settings.port}: "
                "gRPC could not listen there (in use, or not allowed)"
            ) from None

    def start_empty(self) -> None:
        # A fresh, empty checkpointer root: Reverb restores the newest
        # checkpoint under its root on start-up, which must not happen here.
        self.server = self._new_server()
        self.created_at = checkpoint_store.utc_now()
        self.write_metadata()

    def start_from(
        self,
        source: str,
        table_name: Optional[str],
        expected_items: loading.ExpectedItems,
    ) -> str:
        """Starts the server from the newest usable checkpoint of `source`.

        Arguments as `ReplayBufferManager.load_replay_buffer`'s.

        Returns:
          The checkpoint restored.

        Raises:
          NoCheckpointFoundError: If `source` holds no checkpoint.
          CheckpointVerificationError: If none of them is usable.
          SpecMismatchError, CapacityTooSmallError, ValueError: If a
            checkpoint does not fit this run (see `loading.prepare`).
        """
        candidates = loading.find_candidates(
            source, self.store, self.records, expected_items
        )
        settings = self.settings
        wanted = loading.Wanted(
            data_spec=settings.data_spec,
            sequence_length=settings.sequence_length,
            table_name=settings.table_name,
            source_table=table_name,
            capacity=settings.capacity,
            allow_shrink=settings.allow_shrink,
            table_info=settings.build_table().info,
        )
        skipped: List[Tuple[str, str]] = []
        copy_path = os.path.join(
            self.store.restore_root(self.instance_id), "checkpoint"
        )
        for candidate in candidates:
            shutil.rmtree(os.path.dirname(copy_path), ignore_errors=True)
            try:
                prepared = loading.prepare(candidate, wanted, copy_path)
                self._restore(prepared)
            except loading.UnusableCheckpoint as e:
                skipped.append((candidate.path, str(e)))
                continue
            finally:
                # The server holds everything in memory now (or failed).
                self.store.remove_restore_copy(self.instance_id)
            self._report(prepared, skipped)
            self.created_at = self.created_at or checkpoint_store.utc_now()
            self.write_metadata()
            return candidate.path
        reasons = "; ".join(
            f"{checkpoint_store.checkpoint_name(p)}: {why}" for p, why in skipped
        )
        raise CheckpointVerificationError(
            f"no usable replay buffer checkpoint in {source}: {reasons}"
        )

    def _report(self, prepared: loading.Prepared, skipped) -> None:
        path, capacity = prepared.candidate.path, self.settings.capacity
        if skipped:
            logging.warning(
                "Replay buffer: loading the older checkpoint %s because %s",
                path,
                "; ".join(f"{p} is unusable ({why})" for p, why in skipped),
            )
        if prepared.dropped:
            logging.warning(
                "Dropped the %d oldest of %d items of %s to fit capacity %d "
                "(allow_shrink).",
                prepared.dropped,
                prepared.stored_items,
                path,
                capacity,
            )
            if os.path.dirname(path) == self.store.checkpoints_dir:
                checkpoint_store.mark_kept(
                    path,
                    f"held {prepared.stored_items} items; loaded into capacity "
                    f"{capacity} (allow_shrink) on {checkpoint_store.utc_now()}",
                )
        logging.info(
            "Loaded %d frames from %s (capacity %d).", prepared.items, path, capacity
        )

    def _restore(self, prepared: loading.Prepared) -> None:
        name = self.settings.table_name
        try:
            server = self._new_server(fallback=prepared.copy_path)
        except RuntimeError as e:
            raise loading.UnusableCheckpoint(
                loading.diagnose_restore_failure(prepared.candidate.path, e)
            ) from None
        loaded = reverb.Client(f"localhost:{server.port}").server_info()[name]
        if loaded.current_size != prepared.items:
            server.stop()
            raise loading.UnusableCheckpoint(
                f"Reverb restored {loaded.current_size} of its {prepared.items} "
                f"items ({checkpoint_files.CHUNKS_FILE} lacks chunks?)"
            )
        self.server = server

    # -- checkpoints ------------------------------------------------------------

    def checkpoint(self, client: reverb.Client) -> Tuple[str, int]:
        """Writes, adopts, records and prunes a checkpoint; returns (path, items)."""

        def size() -> int:
            return int(client.server_info()[self.settings.table_name].current_size)

        before = size()
        path = client.checkpoint()
        items = before
        if size() != before:
            # Writers changed the table meanwhile: count what was written.
            items = checkpoint_files.count_records(
                os.path.join(path, checkpoint_files.ITEMS_FILE)
            )
        adopted = self.store.adopt_all_staged(keep_root_of=self.instance_id)
        path = adopted[-1] if adopted else path
        self.records[checkpoint_store.checkpoint_name(path)] = items
        faults.reached(faults.BUFFER_CHECKPOINT_ADOPTED)
        self.prune()
        faults.reached(faults.BUFFER_CHECKPOINT_PRUNED)
        self.write_metadata()
        return path, items

    def protected_names(self) -> Optional[List[str]]:
        """Names the caller's committed state needs; None if they cannot be read."""
        protected = self.settings.protected_checkpoints
        if protected is None:
            return []
        try:
            return [checkpoint_store.checkpoint_name(p) for p in protected()]
        except Exception as e:  # A broken callback must never cost data.
            logging.warning(
                "Not pruning replay buffer checkpoints in %s: "
                "protected_checkpoints failed (%s).",
                self.store.root,
                e,
            )
            return None

    def prune(self) -> List[str]:
        protected = self.protected_names()
        if protected is None:
            return []
        return self.store.prune(self.settings.num_checkpoints_to_keep, protected)

    def write_metadata(self) -> None:
        names = [
            checkpoint_store.checkpoint_name(p)
            for p in self.store.numbered_checkpoints()
        ]
        self.records = {n: c for n, c in self.records.items() if n in names}
        metadata.write(
            self.store.metadata_path,
            self.settings.metadata(),
            names,
            self.records,
            self.created_at,
            checkpoint_store.utc_now(),
        )

    def discard_stored(self) -> List[str]:
        """Deletes every stored checkpoint; the running server is untouched."""
        removed = self.store.discard_checkpoints(keep_root_of=self.instance_id)
        self.records = {}
        self.write_metadata()
        return removed

    # -- stop -------------------------------------------------------------------

    def close(self) -> None:
        """Stops the server, adopts its last checkpoints and prunes (lock kept)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
            if self.store.adopt_all_staged() + self.prune():
                self.write_metadata()
            self.store.remove_instance_dirs(self.instance_id)

    def release(self) -> None:
        self.store.release_lock()

    def abort(self) -> None:
        """Undoes a failed start: no server, no instance dirs, no lock."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.store.holds_lock:  # Never touch a directory another process holds.
            self.store.remove_instance_dirs(self.instance_id)
        self.store.release_lock()
