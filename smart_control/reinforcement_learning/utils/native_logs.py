"""TensorFlow's and Reverb's C++ logging, kept off the terminal (see binary.py).

It goes to `<output>/logs/native.log` instead, unless `--verbosity` >= 1.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import shutil
import sys
import tempfile
from typing import Iterator, Optional

from absl import flags, logging

from smart_control.reinforcement_learning.utils import run_files

FLAGS = flags.FLAGS

NATIVE_LOG = os.path.join(run_files.LOGS_DIR, "native.log")

_native_log_path: Optional[str] = None
_native_log_is_temporary = False


@contextlib.contextmanager
def quiet_native_logs(
    output_dir: Optional[str], verbosity: Optional[int] = None
) -> Iterator[None]:
    """Sends C++ (TensorFlow, Reverb, gRPC) logging to `<output_dir>/logs/native.log`.

    Use around the first import of TensorFlow. File descriptor 2 stays
    redirected for the life of the process (Reverb logs from its threads);
    Python's `sys.stderr`, and with it absl logging and progress bars, keeps
    writing to the terminal. With verbosity >= 1 nothing is redirected.

    With `output_dir=None` the log starts in a temporary file, to be moved
    next to the outputs by `attach_native_log` once the binary knows it may
    write there (so that a refused run leaves an existing output untouched).
    """
    global _native_log_path, _native_log_is_temporary
    if verbosity is None:
        verbosity = FLAGS.verbosity if FLAGS.is_parsed() else 0
    if verbosity >= 1:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if output_dir:
        log_path = os.path.join(output_dir, NATIVE_LOG)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
    else:
        fd, log_path = tempfile.mkstemp(prefix="smart_control-native-", suffix=".log")
        os.close(fd)
    _native_log_path = log_path
    _native_log_is_temporary = not output_dir
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    sys.stderr.flush()
    _redirect_fd2(log_path)
    # Python-level chatter during the heavy imports (e.g. gym's notice) goes to
    # the log too; afterwards Python writes to the terminal again.
    sys.stderr = open(log_path, "a", buffering=1)
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = terminal
        _point_absl_at(terminal)


def _redirect_fd2(log_path: str) -> None:
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)


def attach_native_log(output_dir: str) -> Optional[str]:
    """Moves a temporary native log (see `quiet_native_logs`) under `output_dir`."""
    global _native_log_path, _native_log_is_temporary
    if _native_log_path is None or not _native_log_is_temporary:
        return _native_log_path
    target = os.path.join(output_dir, NATIVE_LOG)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(_native_log_path, "rb") as src, open(target, "ab") as dst:
        shutil.copyfileobj(src, dst)
    _redirect_fd2(target)
    os.remove(_native_log_path)
    _native_log_path = target
    _native_log_is_temporary = False
    return target


def discard_temporary_native_log() -> None:
    """A run that never reached its outputs leaves no log file in $TMPDIR.

    (File descriptor 2 keeps writing to the unlinked file until exit; run
    with --verbosity=1 to see the C++ logs of a failing run.)
    """
    global _native_log_path, _native_log_is_temporary
    if _native_log_is_temporary and _native_log_path:
        try:
            os.remove(_native_log_path)
        except OSError:
            pass
        _native_log_path, _native_log_is_temporary = None, False


def quiet_shutdown() -> None:
    """No logging noise after the last line the binary printed.

    Objects that TensorFlow finalises at interpreter exit (a checkpoint with
    unrestored values, say) log warnings; by then the streams the handlers
    write to may be closed, and each record would print a "--- Logging error
    ---" traceback. Late records go to file descriptor 2 (the native log
    unless --verbosity >= 1), and logging errors are not printed.
    """
    std_logging.raiseExceptions = False
    try:
        _point_absl_at(sys.__stderr__)
    except Exception:  # noqa: BLE001 - nothing may fail on the way out
        pass


def _point_absl_at(stream) -> None:
    handler = logging.get_absl_handler()
    handler.python_handler.stream = stream
