"""The replay buffer's exceptions and argument checks, shared by its modules.

Every error meant for a user says what is wrong in its first line (the
binaries print only that line): the file or directory, the numbers, and the
setting to change.
"""

from __future__ import annotations

import numbers
from typing import Any

# One integer check for every layer (re-exported: the buffer's modules import
# it from here).
from smart_control.reinforcement_learning.utils.validation import (
    check_int as check_int,
)


class NoCheckpointFoundError(FileNotFoundError):
    """`load_replay_buffer()` found no complete checkpoint."""


class SpecMismatchError(ValueError):
    """A checkpoint or server holds items of another spec than `data_spec`."""


class CheckpointVerificationError(ValueError):
    """Checkpoints exist, but none holds what it should (corrupt or short).

    Deliberately not a `FileNotFoundError`: callers that start an empty buffer
    when there is no checkpoint must not do so when there are damaged ones.
    """


class BufferDirLockedError(BlockingIOError):
    """Another live process runs a replay buffer server writing to this directory.

    An OSError (the directory is busy), so binaries report it in one line.
    """


class PortInUseError(ConnectionError):
    """The local server cannot listen on the port asked for."""


class CapacityTooSmallError(ValueError):
    """Loading would drop stored items to fit `capacity` (see `allow_shrink`)."""


def check_number(name: str, value: Any, minimum: float) -> float:
    """`value` as a float if it is a finite real number >= `minimum`.

    Raises:
      ValueError: Naming `name` and the value otherwise.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value >= minimum  # also refuses NaN
        or value == float("inf")
    ):
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return float(value)
