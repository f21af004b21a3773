"""What the supervisor (launchers/supervisor.py) runs and what it records of it.

`ProcessSpec` describes one process of a group, `PidInJsonFile` is its usual
readiness condition, `validate` checks a group's specs and settings, and
`ProcessState` is the supervisor's record of one process (its `summary()` is
what run.json shows). The outcome and status names are those of
`Supervisor.summary()`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import threading
from collections.abc import Sequence
from typing import Any, Callable, Optional

# Outcomes of the group.
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
INTERRUPTED = "interrupted"

# Statuses of one process (RUNNING and FAILED as above).
PENDING = "pending"
RESTARTING = "restarting"
STOPPING = "stopping"
EXITED = "exited"
STOPPED = "stopped"
NOT_STARTED = "not_started"

ENDED = (EXITED, FAILED, STOPPED, NOT_STARTED)


class StartupError(RuntimeError):
    """The group could not be started; it has been stopped."""


@dataclasses.dataclass
class ProcessSpec:
    """One process of the group.

    Attributes:
      name: Unique short name, e.g. "server", "collector-0"; prefixes its
        output lines.
      command: The full command line.
      log_path: File its output is appended to.
      restart: Restart it when it exits without being asked to.
      primary: The group is done when this process exits with code 0, and
        has failed when it fails. At most one per group.
      env: Environment variables added to (or replacing) the launcher's.
      stop_timeout_s: Seconds between SIGTERM and SIGKILL when it is stopped.
      stop_order: Processes are stopped by increasing stop_order, the next
        order only once every process of the previous one has exited.
      ready: `ready(spec, pid)` is polled after it started, before the next
        process in the group starts, until it returns True; must be quick.
      ready_timeout_s: Seconds `ready` may take to become True.
      max_restarts: Overrides the supervisor's max_restarts for this process.
      cwd: Working directory; None: the launcher's.
    """

    name: str
    command: list[str]
    log_path: str
    restart: bool = False
    primary: bool = False
    env: Optional[dict[str, str]] = None
    stop_timeout_s: float = 10.0
    stop_order: int = 0
    ready: Optional[Callable[[ProcessSpec, int], bool]] = None
    ready_timeout_s: float = 60.0
    max_restarts: Optional[int] = None
    cwd: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class PidInJsonFile:
    """Readiness condition: `path` is a JSON object whose `key` is the pid.

    The process should write the file atomically (temporary file + rename)
    once it serves; a half-written file just reads as not ready yet.
    """

    path: str
    key: str = "pid"

    def __call__(self, spec: ProcessSpec, pid: int) -> bool:
        try:
            with open(self.path) as f:
                content = json.load(f)
        except (OSError, ValueError):
            return False
        return isinstance(content, dict) and content.get(self.key) == pid

    def __str__(self) -> str:
        return f"{self.path} holds {self.key!r}: <its pid>"


def validate(
    specs: Sequence[ProcessSpec], max_restarts: int, backoff_s: Sequence[float]
) -> None:
    """Checks a group's specs and the supervisor's settings.

    Raises:
      ValueError: If names repeat or are empty, a command is empty, there is
        more than one primary, or a number is out of range.
    """
    names = [spec.name for spec in specs]
    if not specs:
        raise ValueError("specs must not be empty")
    if any(not name for name in names) or len(set(names)) != len(names):
        raise ValueError(f"process names must be unique and non-empty: {names}")
    if any(not spec.command for spec in specs):
        raise ValueError("every process needs a command")
    if sum(spec.primary for spec in specs) > 1:
        raise ValueError("at most one process may be primary")
    for spec in specs:
        if spec.stop_timeout_s < 0 or spec.ready_timeout_s <= 0:
            raise ValueError(
                f"{spec.name}: stop_timeout_s must be >= 0 and ready_timeout_s > 0"
            )
        if spec.max_restarts is not None and spec.max_restarts < 0:
            raise ValueError(f"{spec.name}: max_restarts must be >= 0")
    if max_restarts < 0:
        raise ValueError(f"max_restarts must be >= 0, got {max_restarts}")
    if not backoff_s or min(backoff_s) < 0:
        raise ValueError(f"backoff_s must be non-empty and >= 0: {backoff_s}")


class ProcessState:
    """The supervisor's state of one process; guarded by the supervisor's lock."""

    def __init__(self, spec: ProcessSpec):
        self.spec = spec
        self.status = PENDING
        self.popen: Optional[subprocess.Popen] = None
        self.drain: Optional[threading.Thread] = None
        self.pids: list[int] = []
        self.exit_codes: list[int] = []
        self.restarts = 0
        self.requested_restarts = 0
        self.started_at: Optional[str] = None
        self.last_started_at: Optional[str] = None
        self.ended_at: Optional[str] = None
        self.started_monotonic = 0.0
        self.restart_at = 0.0
        # Set when the supervisor sent SIGTERM: the coming exit is requested.
        self.stop_deadline: Optional[float] = None
        self.sigkilled = False
        self.restart_requested = False
        self.restart_waiters: list[threading.Event] = []

    def release_waiters(self) -> None:
        """Wakes every `Supervisor.restart()` call waiting for this process."""
        for waiter in self.restart_waiters:
            waiter.set()
        self.restart_waiters.clear()

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "command": list(self.spec.command),
            "log_path": self.spec.log_path,
            "primary": self.spec.primary,
            "restart": self.spec.restart,
            "stop_order": self.spec.stop_order,
            "status": self.status,
            "pid": self.popen.pid if self.popen is not None else None,
            "pids": list(self.pids),
            "exit_codes": list(self.exit_codes),
            "restarts": self.restarts,
            "requested_restarts": self.requested_restarts,
            "started_at": self.started_at,
            "last_started_at": self.last_started_at,
            "ended_at": self.ended_at,
        }


def now() -> str:
    """The current UTC time in ISO 8601, to the millisecond (event times)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds"
    )
