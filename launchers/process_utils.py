"""Child processes that do not outlive the launcher that started them."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def terminate_with_parent() -> None:
    """`preexec_fn` for subprocess.Popen: SIGTERM the child when its parent dies.

    A launcher killed with SIGKILL cannot stop its children itself; without
    this they would run on and hold the run's replay buffer lock, so that a
    resumed sweep or run could not continue. Linux only (prctl).
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
