"""Where exports read and write: a buffer's checkpoint, and output directories.

Light on purpose (no TensorFlow): the binary checks its paths with it before
the heavy imports, so a refused run answers at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Callable, Iterator

from smart_control.reinforcement_learning.replay_buffer import checkpoint_store

EXPORT_RECORD = "export.json"
IMPORT_RECORD = "import.json"
_BUFFER_MARKERS = ("metadata.json", "checkpoints", "populate.json", IMPORT_RECORD)


class NotABufferError(ValueError):
    """The path holds no complete Reverb checkpoint."""


def find_checkpoint(buffer_dir: str) -> str:
    """The newest complete checkpoint of a buffer directory (or the path itself).

    Raises:
      FileNotFoundError: If `buffer_dir` does not exist.
      NotABufferError: If it holds no complete checkpoint.
    """
    path = os.path.abspath(os.path.expanduser(buffer_dir))
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such buffer directory: {path}")
    if checkpoint_store.is_complete(path):
        return path
    latest = (
        checkpoint_store.CheckpointStore(path).latest_checkpoint()
        if os.path.isdir(path)
        else None
    )
    if latest is None:
        raise NotABufferError(
            f"{path} is not a replay buffer: it holds no complete Reverb "
            "checkpoint (a directory with a DONE file)"
        )
    return latest


def is_export(path: str) -> bool:
    """Whether `path` is a directory an export wrote (it has export.json)."""
    return os.path.isfile(os.path.join(path, EXPORT_RECORD))


def is_buffer(path: str) -> bool:
    """Whether `path` is a replay buffer directory."""
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, name)) for name in _BUFFER_MARKERS
    )


def check_output(
    path: str, overwrite: bool, replaceable: Callable[[str], bool], what: str
) -> str:
    """Checks that `path` may be written; returns it made absolute.

    A missing path or an empty directory may always be written; an existing
    one only with `overwrite`, and only if `replaceable(path)` says it is
    an output of the same kind (so a typo never deletes a home directory).

    Args:
      path: The output directory.
      overwrite: Replace an existing output.
      replaceable: Whether an existing `path` is an output of this kind.
      what: What the output is, for messages ("an export", "a buffer").

    Raises:
      ValueError: If `path` is empty.
      FileExistsError: If `path` exists and may not be replaced.
    """
    if not path:
        raise ValueError(f"path must be a directory path, got {path!r}")
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        return path
    if os.path.isdir(path) and not os.listdir(path):
        return path
    if not overwrite:
        raise FileExistsError(
            f"{path} already exists; pass --overwrite (overwrite=True) to replace it"
        )
    if not replaceable(path):
        raise FileExistsError(
            f"{path} exists and is not {what}; --overwrite replaces only {what}"
        )
    return path


@contextlib.contextmanager
def written_whole(path: str) -> Iterator[str]:
    """Yields a staging directory that replaces `path` once the block succeeds.

    On an exception the staging directory is removed and `path` is left as
    it was; a reader never sees half an output.
    """
    staging = f"{path}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
    os.rename(staging, path)
