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
import time
from collections.abc import Iterable, Mapping
from typing import IO, Optional, Union

_PR_SET_PDEATHSIG = 1


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


def stop_groups(processes: Iterable[subprocess.Popen], grace_s: float) -> None:
    """Stops processes and their process groups: SIGTERM, then SIGKILL.

    A second interrupt during the grace period goes straight to SIGKILL, so no
    process is left running either way.
    """
    processes = list(processes)
    try:
        for process in processes:
            signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    finally:
        for process in processes:
            # The group may outlive its leader: kill whatever is left of it.
            signal_group(process.pid, signal.SIGKILL)
            process.wait()


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
