"""Child processes of the launchers: started in their own session, stopped as a group.

Written once for the supervisor (launchers/supervisor_loop.py), the local
executor and the Slurm array tasks (launchers/executors.py):

  * `start_in_session` starts a command in a session (and process group) of
    its own, stdin closed, stderr merged into stdout, and with
    `terminate_with_parent`, so that Ctrl-C in a terminal reaches only the
    launcher, which then stops its children in order, and a launcher killed
    with SIGKILL leaves no child behind;
  * `signal_group` signals such a child's whole group, `stop_groups` stops
    several (SIGTERM, SIGKILL after a grace period);
  * `DeferredSignals` holds Ctrl-C (and a SIGTERM handled like it) back to a
    point of the caller's choosing while it polls its children;
  * `describe_exit` words a subprocess return code;
  * `free_port` picks a port for a server child to bind.

Standard library only: the Slurm job driver imports it inside the job.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Optional, Union

_PR_SET_PDEATHSIG = 1
# Seconds between two checks of a stopping child during its grace period.
_STOP_POLL_INTERVAL_S = 0.05


def terminate_with_parent() -> None:
    """`preexec_fn` for subprocess.Popen: SIGTERM the child when its parent dies.

    A launcher killed with SIGKILL cannot stop its children itself; without
    this they would run on and hold the run's replay buffer lock, so that a
    resumed sweep or run could not continue. Linux only (prctl).
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_in_session(
    argv: list[str],
    stdout: Union[int, IO[bytes]],
    cwd: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> subprocess.Popen:
    """Starts `argv` in a new session, stderr merged into `stdout`.

    PR_SET_PDEATHSIG fires when the *thread* that started the child ends:
    start children from a thread that outlives them.

    Args:
      argv: The command line.
      stdout: Where its stdout and stderr go: a file, or subprocess.PIPE.
      cwd: Its working directory; None: the caller's.
      env: Its whole environment; None: the caller's.

    Raises:
      OSError: If the command cannot be started.
    """
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=terminate_with_parent,
    )


def signal_group(pid: int, signum: int) -> None:
    """Sends `signum` to the process group led by `pid`, if there is one."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_groups(
    processes: Iterable[subprocess.Popen],
    grace_s: float,
    hurry: Callable[[], bool] = lambda: False,
) -> None:
    """Stops processes and their process groups: SIGTERM, then SIGKILL.

    The grace period ends early when `hurry()` turns true (a second Ctrl-C
    held back by `DeferredSignals`); an exception during it (a second Ctrl-C
    raised as KeyboardInterrupt) goes straight to SIGKILL. Either way no
    process is left running.
    """
    processes = list(processes)
    try:
        for process in processes:
            signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while (
            time.monotonic() < deadline
            and not hurry()
            and any(process.poll() is None for process in processes)
        ):
            time.sleep(_STOP_POLL_INTERVAL_S)
    finally:
        for process in processes:
            # The group may outlive its leader: kill whatever is left of it.
            signal_group(process.pid, signal.SIGKILL)
            process.wait()


class DeferredSignals:
    """Holds SIGINT and SIGTERM back to the points where `deliver()` is called.

    Python raises a handler's KeyboardInterrupt between any two bytecodes,
    also inside `subprocess.Popen.poll()` after it has taken the Popen's
    waitpid lock and before its `try` releases it; every later `wait()` of
    that child then blocks forever (a local sweep hung on Ctrl-C that way).
    Within `with DeferredSignals() as signals:`, a signal whose handler is
    Python code only counts; `deliver()` runs the original handler (which
    raises KeyboardInterrupt, for Ctrl-C) where the caller polls safely. A
    signal that is ignored or has the default action is left alone, and so is
    every signal outside the main thread, where no handler can be set. One
    still pending at exit is delivered then, after the handlers are restored.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._previous: dict[int, Callable] = {}
        self._pending: list[int] = []

    def __enter__(self) -> DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self._SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):
                    self._previous[signum] = signal.signal(signum, self._hold)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if exc_info[0] is None:
            self.deliver()

    def _hold(self, signum: int, frame) -> None:
        self._pending.append(signum)

    def pending(self) -> bool:
        """Whether a signal came since the last `deliver()`."""
        return bool(self._pending)

    def deliver(self) -> None:
        """Runs the original handler of the first signal that came, if any."""
        if self._pending:
            signum = self._pending[0]
            self._pending.clear()
            self._previous[signum](signum, None)


def describe_exit(code: int) -> str:
    """E.g. "exited with code 3", "exited with signal SIGKILL (-9)"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"exited with signal {name} ({code})"
    return f"exited with code {code}"


def free_port() -> int:
    """A TCP port free on this machine right now (the OS's pick).

    A server child binds it moments later; another process could take it
    meanwhile, which the child then reports as an error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]
