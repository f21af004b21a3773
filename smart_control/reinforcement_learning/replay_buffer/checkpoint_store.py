"""On-disk layout of a replay buffer directory and its checkpoint bookkeeping.

A buffer directory (`ReplayBufferManager.checkpoint_dir`) looks like this:

    <checkpoint_dir>/
      metadata.json            spec, capacity, sequence length, table config,
                               created/updated times, package versions, and
                               the item count of each checkpoint written
                               (`metadata.py`)
      checkpoints/
        ckpt-00000001/         complete Reverb checkpoints; the highest number
        ckpt-00000002/         is the newest. Each holds tables.tfrecord,
                               items.tfrecord, chunks.tfrecord and DONE.
      staging/<instance>/      the Reverb checkpointer root of one running
                               server. Reverb deletes everything in its root
                               but the newest entry, so nothing of ours lives
                               there: each finished checkpoint is moved (one
                               atomic rename) into checkpoints/.
      restore/<instance>/      the rewritten copy a `load` starts its server
                               from (removed once the server is up).
      .lock                    held (flock) while a local server writes here.

A checkpoint directory may also hold a `KEEP` file (one line: why): retention
never deletes such a checkpoint. The manager writes it into a checkpoint it
loaded into a smaller capacity (`allow_shrink`), so the full data stays on
disk; delete the directory by hand once it is no longer needed.

Reverb writes a checkpoint's DONE file last, so a directory without DONE is an
interrupted write and never a checkpoint. Checkpoints taken behind the
manager's back (`replay_buffer.py_client.checkpoint()`, as in the guide) land
in the staging root; they are moved into checkpoints/ by the next
`checkpoint()`/`close()`, or by the next manager that takes the lock if the
process died first. A buffer directory written by plain Reverb (checkpoints
directly under it) is read too.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import os
import re
import shutil
import socket
import uuid
from typing import Iterable, List, Optional

from smart_control.reinforcement_learning.replay_buffer.errors import (
    BufferDirLockedError,
)

CHECKPOINTS_DIR = "checkpoints"
STAGING_DIR = "staging"
RESTORE_DIR = "restore"
METADATA_FILE = "metadata.json"
LOCK_FILE = ".lock"
DONE_FILE = "DONE"
KEEP_FILE = "KEEP"

_CKPT_RE = re.compile(r"^ckpt-(\d{8,})$")


def is_complete(path: str) -> bool:
    """A Reverb checkpoint is complete once its DONE file exists."""
    return os.path.isfile(os.path.join(path, DONE_FILE))


def is_kept(path: str) -> bool:
    """Whether retention must leave the checkpoint alone (see the module doc)."""
    return os.path.isfile(os.path.join(path, KEEP_FILE))


def mark_kept(path: str, reason: str) -> None:
    """Writes a checkpoint's KEEP file; retention never deletes it afterwards."""
    with open(os.path.join(path, KEEP_FILE), "w") as f:
        f.write(reason.rstrip("\n") + "\n")


def checkpoint_name(path_or_name: str) -> str:
    """`ckpt-00000003` for a checkpoint's name or any path ending in it."""
    return os.path.basename(os.path.normpath(os.fspath(path_or_name)))


def checkpoint_number(path_or_name: str) -> int:
    """N of a `ckpt-N` checkpoint; -1 for any other name."""
    m = _CKPT_RE.match(checkpoint_name(path_or_name))
    return int(m.group(1)) if m else -1


def new_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class CheckpointStore:
    """Finds, adopts, numbers and prunes the checkpoints of one buffer directory."""

    def __init__(self, root: str):
        self.root = os.path.abspath(os.fspath(root))
        self._lock_fd: Optional[int] = None

    @property
    def checkpoints_dir(self) -> str:
        return os.path.join(self.root, CHECKPOINTS_DIR)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, METADATA_FILE)

    @property
    def holds_lock(self) -> bool:
        return self._lock_fd is not None

    def staging_root(self, instance_id: str) -> str:
        return os.path.join(self.root, STAGING_DIR, instance_id)

    def restore_root(self, instance_id: str) -> str:
        return os.path.join(self.root, RESTORE_DIR, instance_id)

    # -- locking --------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Takes the directory for this process (released by `release_lock`).

        Raises:
          BufferDirLockedError: If another live process holds it.
        """
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(os.path.join(self.root, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            owner = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise self._locked_error(owner) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._lock_fd = fd

    def _locked_error(self, owner: str) -> BufferDirLockedError:
        return BufferDirLockedError(
            f"replay buffer directory {self.root} is in use by another "
            f"running replay buffer server ({owner or 'unknown owner'})"
        )

    def check_not_locked(self) -> None:
        """Refuses a directory another process holds, changing nothing.

        For a check before anything is built (`acquire_lock` decides): takes
        the lock shared for an instant, creating no file.

        Raises:
          BufferDirLockedError: If another live process holds the directory.
        """
        try:
            fd = os.open(os.path.join(self.root, LOCK_FILE), os.O_RDONLY)
        except OSError:
            return  # No lock file (or unreadable): acquire_lock will tell.
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                owner = os.pread(fd, 200, 0).decode(errors="replace").strip()
                raise self._locked_error(owner) from None
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def release_lock(self) -> None:
        """Releases the lock; the lock file is left empty (its owner line is
        only meaningful while held), so a run that took the lock and was
        refused leaves the directory byte-identical."""
        if self._lock_fd is not None:
            try:
                os.ftruncate(self._lock_fd, 0)
            except OSError:
                pass  # A read-only or full disk: the lock is released anyway.
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- listing --------------------------------------------------------------

    def numbered_dirs(self) -> List[str]:
        """Every `ckpt-N` directory under checkpoints/, complete or not, oldest first."""
        found = []
        if os.path.isdir(self.checkpoints_dir):
            for name in os.listdir(self.checkpoints_dir):
                m = _CKPT_RE.match(name)
                path = os.path.join(self.checkpoints_dir, name)
                if m and os.path.isdir(path):
                    found.append((int(m.group(1)), path))
        return [p for _, p in sorted(found)]

    def numbered_checkpoints(self) -> List[str]:
        """Complete checkpoints under checkpoints/, oldest first."""
        return [p for p in self.numbered_dirs() if is_complete(p)]

    def staged_checkpoints(self) -> List[str]:
        """Complete checkpoints left in staging roots, oldest first.

        Reverb names its checkpoints by an ISO timestamp with nanoseconds, so
        names sort in time order.
        """
        found = []
        staging = os.path.join(self.root, STAGING_DIR)
        if os.path.isdir(staging):
            for instance in os.listdir(staging):
                inst_dir = os.path.join(staging, instance)
                if not os.path.isdir(inst_dir):
                    continue
                for name in os.listdir(inst_dir):
                    path = os.path.join(inst_dir, name)
                    if is_complete(path):
                        found.append((name, path))
        return [p for _, p in sorted(found)]

    def plain_reverb_checkpoints(self) -> List[str]:
        """Complete checkpoints of a plain Reverb root (written without a manager)."""
        found = []
        if os.path.isdir(self.root):
            for name in os.listdir(self.root):
                path = os.path.join(self.root, name)
                if os.path.isdir(path) and is_complete(path):
                    found.append(path)
        return sorted(found)

    def all_checkpoints(self) -> List[str]:
        """Every complete checkpoint readable here, oldest first."""
        return (
            self.plain_reverb_checkpoints()
            + self.numbered_checkpoints()
            + self.staged_checkpoints()
        )

    def latest_checkpoint(self) -> Optional[str]:
        found = self.all_checkpoints()
        return found[-1] if found else None

    # -- writing (only with the lock held) ---------------------------------------

    def _next_number(self) -> int:
        highest = 0
        if os.path.isdir(self.checkpoints_dir):
            for name in os.listdir(self.checkpoints_dir):
                m = _CKPT_RE.match(name)
                if m:
                    highest = max(highest, int(m.group(1)))
        return highest + 1

    def adopt(self, staged_path: str) -> str:
        """Moves a complete staged checkpoint to checkpoints/ckpt-N; returns the new path."""
        os.makedirs(self.checkpoints_dir, exist_ok=True)
        target = os.path.join(self.checkpoints_dir, f"ckpt-{self._next_number():08d}")
        os.rename(staged_path, target)
        return target

    def adopt_all_staged(self, keep_root_of: Optional[str] = None) -> List[str]:
        """Adopts every complete staged checkpoint (oldest first).

        Staging roots are removed afterwards, except the one of the running
        server `keep_root_of` (its checkpointer still writes there).
        """
        adopted = [self.adopt(p) for p in self.staged_checkpoints()]
        staging = os.path.join(self.root, STAGING_DIR)
        if os.path.isdir(staging):
            for instance in os.listdir(staging):
                if instance != keep_root_of:
                    shutil.rmtree(os.path.join(staging, instance), ignore_errors=True)
        return adopted

    def prune(self, keep: int, protected: Iterable[str] = ()) -> List[str]:
        """Deletes all but the newest `keep` numbered checkpoints.

        Checkpoints named in `protected` (names or paths ending in the name)
        and those with a KEEP file are never deleted, and do not count
        towards `keep`. DONE goes first, so an interrupted deletion never
        leaves something that looks like a checkpoint. Incomplete numbered
        directories (an interrupted deletion, or damage) are removed as well,
        unless protected.

        Returns:
          The deleted directories.
        """
        spared = {checkpoint_name(p) for p in protected}
        complete = [
            p
            for p in self.numbered_checkpoints()
            if checkpoint_name(p) not in spared and not is_kept(p)
        ]
        doomed = complete[:-keep] if keep > 0 else complete
        for path in self.numbered_dirs():
            if not is_complete(path) and checkpoint_name(path) not in spared:
                doomed.append(path)
        for path in doomed:
            _remove_checkpoint(path)
        return doomed

    def discard_checkpoints(self, keep_root_of: str) -> List[str]:
        """Deletes every checkpoint (and staged or restore copy) of this directory.

        Only `keep_root_of`'s staging root, where the running server's
        checkpointer writes, survives. For `--overwrite`, with the lock held.

        Returns:
          The deleted checkpoint directories.
        """
        doomed = self.numbered_dirs() + self.plain_reverb_checkpoints()
        for path in doomed:
            _remove_checkpoint(path)
        for parent in (STAGING_DIR, RESTORE_DIR):
            parent_dir = os.path.join(self.root, parent)
            if os.path.isdir(parent_dir):
                for instance in os.listdir(parent_dir):
                    if not (parent == STAGING_DIR and instance == keep_root_of):
                        shutil.rmtree(
                            os.path.join(parent_dir, instance), ignore_errors=True
                        )
        return doomed

    def _remove_instance_dir(self, parent: str, instance_id: str) -> None:
        shutil.rmtree(os.path.join(self.root, parent, instance_id), ignore_errors=True)
        try:
            os.rmdir(os.path.join(self.root, parent))
        except OSError:  # Not empty: another instance's, or an orphan to adopt.
            pass

    def remove_restore_copy(self, instance_id: str) -> None:
        self._remove_instance_dir(RESTORE_DIR, instance_id)

    def remove_instance_dirs(self, instance_id: str) -> None:
        self._remove_instance_dir(STAGING_DIR, instance_id)
        self._remove_instance_dir(RESTORE_DIR, instance_id)


def _remove_checkpoint(path: str) -> None:
    done = os.path.join(path, DONE_FILE)
    if os.path.exists(done):
        os.remove(done)
    shutil.rmtree(path, ignore_errors=True)
