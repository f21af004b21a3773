"""Errors a user can fix, said as one line `error: ...` (see binary.py).

`UserError` is what the binaries raise; `user_message` words any exception
the user can fix (an OSError, a ValueError, gin's "Required bindings", a
TensorFlow or Reverb filesystem error) as that line, and says None for a
bug, which keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback
from typing import Optional

from absl import flags


class UserError(Exception):
    """An error the user can fix; reported as one line, without traceback."""


# Exceptions whose message is written for the user (the library raises these
# with the argument and value named); anything else is a bug and keeps its
# traceback.
USER_ERRORS = (
    UserError,
    ValueError,
    # Every filesystem and OS error (missing files, permissions, a full or
    # read-only disk, a busy buffer directory, a port in use): its message
    # names the path or port and the cause.
    OSError,
)


def report(error: BaseException) -> int:
    """Prints `error: <one line>` (and the traceback with --verbosity=1)."""
    if flags.FLAGS.verbosity >= 1:
        traceback.print_exc()
    message = user_message(error) or _first_line(str(error)) or type(error).__name__
    sys.stderr.flush()
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


def _first_line(text: str) -> str:
    return text.strip().split("\n")[0].strip()


# "[Errno 28] No space left on device: '/x'" (also from gin's proxies of an
# OSError raised in a configurable, which lose the attributes).
_ERRNO_MESSAGE = re.compile(r"^\[Errno (\d+)\] (.*?)(?:: '(.*?)')?(?: -> '(.*)')?$")
# The causes of filesystem errors as TensorFlow and Reverb word them (their
# errors are not OSErrors): "<path>; No space left on device".
_FILESYSTEM_CAUSES = tuple(
    os.strerror(code)
    for code in (
        errno.ENOSPC,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENOENT,
        errno.EDQUOT,
        errno.EIO,
    )
)
_REQUIRED_BINDINGS = re.compile(
    r"^Required bindings for `([^`]+)` not provided in config: \[(.*)\]"
)


def describe_os_error(error: OSError) -> str:
    """`<path>: <cause>` for an OSError with a file name, else its message."""
    strerror, filename, filename2 = error.strerror, error.filename, error.filename2
    if strerror is None:
        first = _first_line(str(error))
        match = _ERRNO_MESSAGE.match(first)
        if not match:
            return first or type(error).__name__
        strerror, filename, filename2 = match.group(2, 3, 4)
    if filename is None:
        return strerror
    paths = f"{os.fsdecode(filename)}" + (
        f" -> {os.fsdecode(filename2)}" if filename2 else ""
    )
    return f"{paths}: {strerror}"


def user_message(error: BaseException) -> Optional[str]:
    """The one line for an error the user can fix; None for a bug.

    Beyond `USER_ERRORS`: gin's "Required bindings" error (said as the
    setting to bind), and TensorFlow's or Reverb's errors whose cause is the
    filesystem (a full or read-only disk, permissions); their message names
    the path.
    """
    if isinstance(error, OSError):
        return describe_os_error(error)
    first = _first_line(str(error))
    match = _REQUIRED_BINDINGS.match(first)
    if match:
        names = [n.strip(" '\"") for n in match.group(2).split(",") if n.strip()]
        settings = ", ".join(f"{match.group(1)}.{n}" for n in names)
        example = f"{match.group(1)}.{names[0]}" if names else match.group(1)
        return (
            f"gin: {settings} must be bound (no default): add a binding such as "
            f'--gin_bindings="{example} = ..."'
        )
    if isinstance(error, USER_ERRORS):
        return first or type(error).__name__
    # The class or, for gin's proxy of an error raised in a configurable, a
    # base of it comes from TensorFlow or Reverb.
    native = any(
        (cls.__module__ or "").startswith(("tensorflow", "reverb"))
        for cls in type(error).__mro__
    )
    if native or isinstance(error, RuntimeError):
        # TensorFlow words some causes in lower case ("... is not a directory").
        lowered = first.lower()
        if any(cause.lower() in lowered for cause in _FILESYSTEM_CAUSES):
            # "/x/y; No space left on device" -> "/x/y: No space left on device"
            return re.sub(r"; (?=[A-Z])", ": ", first)
    return None
