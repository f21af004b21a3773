r"""A small supervisor for a group of local processes that run together.

It starts the processes in order (optionally waiting until one is ready before
starting the next), restarts those that may be restarted when they die,
stops the whole group in a chosen order when the primary process finishes, a
process fails for good, `stop()` is called or the launcher gets Ctrl-C, and
keeps a JSON-serialisable summary of everything that happened.

Usage, e.g. one server, N collectors and a trainer:

    from launchers import supervisor

    server = supervisor.ProcessSpec(
        name="server",
        command=[sys.executable, "-m", "...server", f"--root_dir={root}"],
        log_path=f"{root}/logs/server.log",
        stop_order=1,  # stopped last, once every writer is gone
        ready=supervisor.PidInJsonFile(f"{root}/server.json"),
        ready_timeout_s=120,
    )
    collectors = [
        supervisor.ProcessSpec(
            name=f"collector-{i}",
            command=[...],
            log_path=f"{root}/logs/collector-{i}.log",
            restart=True,
        )
        for i in range(n)
    ]
    trainer = supervisor.ProcessSpec(
        name="trainer", command=[...], log_path=..., primary=True
    )
    group = supervisor.Supervisor(
        [server, *collectors, trainer],
        on_event=lambda event: save_run_json(processes=group.summary()),
    )
    summary = group.wait()  # starts the group unless start() was called
    if summary["outcome"] != supervisor.SUCCESS:
        ...

Starting: processes start in the order of `specs`. After starting a process
whose spec has a `ready` condition, the supervisor polls `ready(spec, pid)`
(pid: that process's current pid) until it returns True before starting the
next one; `PidInJsonFile(path)` is the condition "path is a JSON file whose
"pid" is this process's pid", which a stale file from an earlier run does not
satisfy. If the process exits first, or is not ready within
`ready_timeout_s`, or a command cannot be started, the group is stopped and
`start()` (and `wait()`) raise `StartupError` saying which process, why, and
where its log is. Readiness is awaited at start only: a process restarted
later is not waited for, so the others must tolerate its absence, as they
must during its restart backoff anyway.

Output: each process's stdout and stderr, merged, are appended to its
`log_path` (created with its parent directories), together with
"[supervisor] ..." lines about that process. On `stream` (default stdout),
every line is prefixed with "[<name>] ", whole lines only, except absl INFO
lines ("I0101 ..."), which stay in the log. The supervisor's own lines start
with "[supervisor] ".

Faults: a process that exits without the supervisor asking it to (whatever
its exit code) is
  - if it is the primary and exited with code 0: done, the others are
    stopped and the outcome is SUCCESS;
  - else if `restart` is set: restarted after a backoff (`backoff_s[k-1]`
    for its k-th restart, the last value repeating), at most `max_restarts`
    times over the whole run; then given up on, with status FAILED;
  - else: recorded with status EXITED (code 0) or FAILED.
A FAILED primary, or with `stop_on_failure` any FAILED process, stops the
group with the outcome FAILED. Without a primary, the group ends when every
process has ended. `kill(name, sig)` injects such a fault; `restart(name)` is
a requested restart and not counted against `max_restarts`.

Stopping: processes are stopped by increasing `stop_order` (ties stop
together): SIGTERM to each one's process group, SIGKILL after its
`stop_timeout_s`, and the next `stop_order` only once all of the previous
have exited. A KeyboardInterrupt in `start()`, `wait()`, `stop()` or
`restart()` stops the group the same way (outcome INTERRUPTED) before it
propagates; a second one during that stop SIGKILLs every process at once.

Each process runs in its own session, so Ctrl-C in the terminal reaches the
launcher only and the launcher stops the group in order; and with
PR_SET_PDEATHSIG, so a launcher killed with SIGKILL leaves no process behind.

`on_event(event)` is called (from the supervisor's thread, never with its
lock held, so it may call `summary()`) with a dict {"event", "name", "time",
...} for "started", "ready", "exited" (with "exit_code" and "requested"),
"restarting", "gave_up", "start_failed", "stopping" and "done" (with
"outcome"). An exception in it is reported on `stream` and otherwise ignored,
so that a failing run.json write cannot leave the group unsupervised.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Callable, Optional, TextIO

from launchers import process_utils

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

_ENDED = (EXITED, FAILED, STOPPED, NOT_STARTED)
_ABSL_INFO = re.compile(r"^I\d{4} ")
# Seconds between two checks of the processes: the longest delay before an
# exit, a stop timeout or a readiness is noticed.
_POLL_INTERVAL_S = 0.05
# Seconds to wait for a process's output to be drained after it exited; a
# grandchild in another session may hold its pipe open forever.
_DRAIN_TIMEOUT_S = 2.0


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


class _Process:
    """The supervisor's state of one process; guarded by Supervisor._lock."""

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


class Supervisor:
    """Runs a group of processes; see the module docstring."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        max_restarts: int = 5,
        backoff_s: Sequence[float] = (1, 2, 4, 8, 16),
        on_event: Optional[Callable[[dict[str, Any]], None]] = None,
        stream: Optional[TextIO] = None,
        stop_on_failure: bool = False,
    ):
        """Checks the specs; nothing is started yet.

        Args:
          specs: The processes, in start order.
          max_restarts: Most automatic restarts of each restartable process.
          backoff_s: Seconds before the k-th restart of a process:
            backoff_s[k-1], the last value for every later restart.
          on_event: Called with each event dict (see the module docstring).
          stream: Receives the prefixed output; None: sys.stdout.
          stop_on_failure: Stop the group (outcome FAILED) as soon as any
            process fails for good, not only the primary.

        Raises:
          ValueError: If names repeat or are empty, a command is empty, there
            is more than one primary, or a number is out of range.
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
        self._processes = {spec.name: _Process(spec) for spec in specs}
        self._max_restarts = max_restarts
        self._backoff_s = tuple(backoff_s)
        self._on_event = on_event
        self._stream = stream if stream is not None else sys.stdout
        self._stop_on_failure = stop_on_failure
        self._has_primary = any(spec.primary for spec in specs)

        self._lock = threading.Lock()
        self._output_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._started = threading.Event()
        self._done = threading.Event()
        self._events: list[dict[str, Any]] = []
        self._to_start = list(self._processes.values())
        # (process, deadline) of the process being waited for to be ready.
        self._gate: Optional[tuple[_Process, float]] = None
        self._restart_requests: list[_Process] = []
        self._stopping = False
        self._kill_now = False
        self._killed_all = False
        self._finished = False
        self._outcome = RUNNING
        self._reason: Optional[str] = None
        self._startup_error: Optional[str] = None
        self._internal_error: Optional[BaseException] = None
        self._started_at: Optional[str] = None
        self._ended_at: Optional[str] = None

    # Public API.

    def start(self) -> None:
        """Starts the processes in order, waiting for each `ready` condition.

        Raises:
          StartupError: A process could not start, exited before it was
            ready or was not ready in time; the group has been stopped.
          KeyboardInterrupt: Re-raised once the group has been stopped.
        """
        if self._thread is not None or self._done.is_set():
            raise RuntimeError("start() was already called, or stop()")
        try:
            self._launch()
            self._block_until(self._started)
        except KeyboardInterrupt:
            self._stop_after_interrupt()
            raise
        self._raise_if_broken()

    def wait(self) -> dict[str, Any]:
        """Starts the group unless started, and waits until it has ended.

        Returns:
          The final summary (see `summary()`); its "outcome" is SUCCESS,
          FAILED or INTERRUPTED.

        Raises:
          StartupError: As `start()`.
          KeyboardInterrupt: Re-raised once the group has been stopped.
        """
        try:
            if self._thread is None and not self._done.is_set():
                self._launch()
            self._block_until(self._done)
        except KeyboardInterrupt:
            self._stop_after_interrupt()
            raise
        self._raise_if_broken()
        return self.summary()

    def stop(self) -> dict[str, Any]:
        """Stops the group (outcome INTERRUPTED unless already decided).

        Returns:
          The summary once every process has ended; called from `on_event`,
          the summary at once, as the stop has only been requested.
        """
        if self._thread is None:
            with self._lock:
                self._begin_stop(INTERRUPTED, "stopped before it started")
                self._finish()
                events, self._events = self._events, []
            for event in events:
                self._emit(event)
            self._started.set()
            self._done.set()
            return self.summary()
        self._request_stop(INTERRUPTED, "stop requested")
        if threading.current_thread() is not self._thread:
            try:
                self._block_until(self._done)
            except KeyboardInterrupt:
                self._stop_after_interrupt()
                raise
        return self.summary()

    def restart(self, name: str) -> Optional[int]:
        """Restarts a process now: SIGTERM, SIGKILL after its stop_timeout_s.

        A process waiting for its backoff, or given up on, starts again at
        once. Not counted against max_restarts.

        Returns:
          The new pid; None if the group began stopping meanwhile.

        Raises:
          KeyError: Unknown name.
          RuntimeError: The group is not running, the process has not been
            started yet, or this is called from `on_event`.
        """
        process = self._processes[name]
        if threading.current_thread() is self._thread:
            raise RuntimeError("restart() cannot wait from on_event")
        restarted = threading.Event()
        with self._lock:
            if self._thread is None or self._stopping:
                raise RuntimeError(f"cannot restart {name}: the group is not running")
            if process.status == PENDING:
                raise RuntimeError(f"cannot restart {name}: not started yet")
            process.restart_waiters.append(restarted)
            self._restart_requests.append(process)
        try:
            self._block_until(restarted)
        except KeyboardInterrupt:
            self._stop_after_interrupt()
            raise
        return self.pid(name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Sends `sig` to the process (not its group), as a fault would.

        The exit it causes counts as unexpected: restarted per its spec.

        Raises:
          KeyError: Unknown name.
          ProcessLookupError: The process is not running.
        """
        process = self._processes[name]
        with self._lock:
            # Only the supervisor's thread reaps, under this lock, so the pid
            # cannot have been reused by another process.
            if process.popen is None or process.popen.returncode is not None:
                raise ProcessLookupError(f"{name} is not running")
            os.kill(process.popen.pid, sig)

    def pid(self, name: str) -> Optional[int]:
        """The process's current pid; None when it is not running."""
        with self._lock:
            popen = self._processes[name].popen
            return popen.pid if popen is not None else None

    def summary(self) -> dict[str, Any]:
        """The group's state now, JSON-serialisable.

        Returns:
          {"outcome", "reason", "error" (why startup failed, or None),
          "started_at", "ended_at", "processes": {name: {"name", "command",
          "log_path", "primary", "restart", "stop_order", "status", "pid",
          "pids", "exit_codes", "restarts", "requested_restarts",
          "started_at", "last_started_at", "ended_at"}}}. Exit codes are
          subprocess return codes: -N means killed by signal N.
        """
        with self._lock:
            return {
                "outcome": self._outcome,
                "reason": self._reason,
                "error": self._startup_error,
                "started_at": self._started_at,
                "ended_at": self._ended_at,
                "processes": {
                    name: process.summary() for name, process in self._processes.items()
                },
            }

    # Called from the caller's threads.

    def _launch(self) -> None:
        self._started_at = _now()
        # Every child is started from this one thread, which lives until all
        # of them have ended: PR_SET_PDEATHSIG fires when the *thread* that
        # forked a child ends, not the process.
        self._thread = threading.Thread(
            target=self._monitor, name="supervisor", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _block_until(event: threading.Event) -> None:
        # A timed wait keeps the main thread responsive to Ctrl-C.
        while not event.wait(0.2):
            pass

    def _request_stop(self, outcome: str, reason: str) -> None:
        with self._lock:
            self._begin_stop(outcome, reason)

    def _stop_after_interrupt(self) -> None:
        """Stops the group in order; a further Ctrl-C SIGKILLs everything."""
        if self._thread is None:
            return
        self._request_stop(INTERRUPTED, "interrupted (KeyboardInterrupt)")
        while True:
            try:
                self._block_until(self._done)
                return
            except KeyboardInterrupt:
                with self._lock:
                    self._kill_now = True

    def _raise_if_broken(self) -> None:
        if self._internal_error is not None:
            raise RuntimeError(
                f"the supervisor failed and killed every process: "
                f"{self._internal_error!r}"
            ) from self._internal_error
        if self._startup_error is not None:
            raise StartupError(self._startup_error)

    # The supervisor's thread: the only one that starts and reaps processes.

    def _monitor(self) -> None:
        try:
            while True:
                with self._lock:
                    self._tick()
                    events, self._events = self._events, []
                    finished = self._finished
                for event in events:
                    self._emit(event)
                if finished:
                    return
                time.sleep(_POLL_INTERVAL_S)
        except BaseException as error:
            self._internal_error = error
            self._kill_everything()
            self._write(f"[supervisor] internal error, killed everything: {error!r}\n")
        finally:
            with self._lock:
                for process in self._processes.values():
                    _release(process.restart_waiters)
            self._started.set()
            self._done.set()

    def _tick(self) -> None:
        now = time.monotonic()
        if self._kill_now and not self._killed_all:
            self._killed_all = True
            self._note(None, "interrupted again: killing every process now")
            for process in self._live():
                _signal_group(process.popen.pid, signal.SIGKILL)
                process.sigkilled = True
                process.stop_deadline = process.stop_deadline or now
        for process in self._restart_requests:
            self._apply_restart_request(process, now)
        self._restart_requests.clear()
        for process in self._live():
            if process.popen.poll() is not None:
                self._on_exit(process)
        for process in self._live():
            if (
                process.stop_deadline is not None
                and now >= process.stop_deadline
                and not process.sigkilled
            ):
                self._note(
                    process,
                    f"{process.spec.name} did not stop within "
                    f"{process.spec.stop_timeout_s:g} s of SIGTERM; sending SIGKILL",
                )
                _signal_group(process.popen.pid, signal.SIGKILL)
                process.sigkilled = True
        if self._stopping:
            self._advance_stop(now)
            return
        self._advance_startup(now)
        for process in self._processes.values():
            if (
                not self._stopping
                and process.status == RESTARTING
                and now >= process.restart_at
            ):
                self._spawn(process)
        if (
            not self._stopping
            and not self._has_primary
            and self._started.is_set()
            and all(p.status in _ENDED for p in self._processes.values())
        ):
            failed = any(p.status == FAILED for p in self._processes.values())
            self._begin_stop(FAILED if failed else SUCCESS, "every process has ended")

    def _live(self) -> list[_Process]:
        return [p for p in self._processes.values() if p.popen is not None]

    def _advance_startup(self, now: float) -> None:
        if self._gate is not None:
            process, deadline = self._gate
            spec = process.spec
            try:
                ready = spec.ready(spec, process.popen.pid)
            except Exception as error:  # a broken condition must not hang start
                self._startup_failed(f"{spec.name}'s ready condition raised {error!r}")
                return
            if ready:
                self._gate = None
                waited = now - process.started_monotonic
                self._note(process, f"{spec.name} is ready ({waited:.1f} s)")
                self._event("ready", process, pid=process.popen.pid)
            elif now >= deadline:
                self._startup_failed(
                    f"{spec.name} was not ready within {spec.ready_timeout_s:g} s "
                    f"(ready condition: {spec.ready}); see {spec.log_path}"
                )
                return
            else:
                return
        while self._to_start and not self._stopping:
            process = self._to_start.pop(0)
            self._spawn(process)
            if process.spec.ready is not None and process.popen is not None:
                self._gate = (process, now + process.spec.ready_timeout_s)
                return
        if not self._stopping:
            self._started.set()

    def _startup_failed(self, message: str) -> None:
        self._startup_error = message
        self._note(None, f"startup failed: {message}")
        self._begin_stop(FAILED, message)

    def _apply_restart_request(self, process: _Process, now: float) -> None:
        if self._stopping:
            return
        if process.popen is not None:
            if process.stop_deadline is None:
                self._note(process, f"restarting {process.spec.name} as requested")
                process.restart_requested = True
                self._terminate(process, now)
        elif process.status in (RESTARTING, EXITED, FAILED):
            process.requested_restarts += 1
            self._note(process, f"restarting {process.spec.name} as requested")
            self._spawn(process)

    def _spawn(self, process: _Process) -> None:
        spec = process.spec
        env = dict(os.environ)
        # Children see a pipe, not a terminal: unbuffered Python output keeps
        # lines timely and keeps the last ones when a child is killed.
        env["PYTHONUNBUFFERED"] = "1"
        env.update(spec.env or {})
        log = None
        try:
            os.makedirs(os.path.dirname(os.path.abspath(spec.log_path)), exist_ok=True)
            log = open(spec.log_path, "ab", buffering=0)
            popen = subprocess.Popen(
                spec.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,
                preexec_fn=process_utils.terminate_with_parent,
            )
        except OSError as error:
            if log is not None:
                log.close()
            process.status = FAILED
            process.ended_at = _now()
            message = f"cannot start {spec.name}: {error}"
            self._note(process, message)
            self._event("start_failed", process, error=str(error))
            _release(process.restart_waiters)
            if not self._started.is_set():
                self._startup_failed(message)
            elif spec.primary or self._stop_on_failure:
                self._begin_stop(FAILED, message)
            return
        process.popen = popen
        process.status = RUNNING
        process.pids.append(popen.pid)
        process.last_started_at = _now()
        process.started_at = process.started_at or process.last_started_at
        process.ended_at = None
        process.started_monotonic = time.monotonic()
        process.drain = threading.Thread(
            target=self._drain,
            args=(spec.name, popen.stdout, log),
            name=f"supervisor-{spec.name}",
            daemon=True,
        )
        process.drain.start()
        attempt = len(process.pids)
        self._note(
            process,
            f"started {spec.name} (pid {popen.pid})"
            + (f", incarnation {attempt}" if attempt > 1 else ""),
            log_detail=f": {' '.join(spec.command)}",
        )
        self._event("started", process, pid=popen.pid, incarnation=attempt)
        _release(process.restart_waiters)

    def _terminate(self, process: _Process, now: float) -> None:
        _signal_group(process.popen.pid, signal.SIGTERM)
        process.stop_deadline = now + process.spec.stop_timeout_s
        process.status = STOPPING

    def _on_exit(self, process: _Process) -> None:
        spec, popen = process.spec, process.popen
        code = popen.returncode
        # Whatever the leader left behind in its group goes with it.
        _signal_group(popen.pid, signal.SIGKILL)
        process.drain.join(_DRAIN_TIMEOUT_S)
        process.popen = process.drain = None
        process.exit_codes.append(code)
        process.ended_at = _now()
        requested = process.stop_deadline is not None
        process.stop_deadline = None
        process.sigkilled = False
        how = f"{spec.name} {_describe_exit(code)}"
        self._event(
            "exited", process, pid=popen.pid, exit_code=code, requested=requested
        )

        if requested:
            if process.restart_requested and not self._stopping:
                process.restart_requested = False
                process.requested_restarts += 1
                self._note(process, f"{how}; restarting as requested")
                self._spawn(process)
            else:
                process.status = STOPPED
                self._note(process, f"{how}; stopped")
            return
        if self._gate is not None and self._gate[0] is process:
            process.status = FAILED
            self._startup_failed(f"{how} before it was ready; see {spec.log_path}")
            return
        if self._stopping:
            process.status = EXITED if code == 0 else FAILED
            self._note(process, f"{how} while the group was stopping")
            return
        if spec.primary and code == 0:
            process.status = EXITED
            self._log(process, how)
            self._begin_stop(SUCCESS, how)
            return
        limit = self._max_restarts if spec.max_restarts is None else spec.max_restarts
        if spec.restart and process.restarts < limit:
            process.restarts += 1
            delay = self._backoff_s[min(process.restarts, len(self._backoff_s)) - 1]
            process.status = RESTARTING
            process.restart_at = time.monotonic() + delay
            self._note(
                process,
                f"{how}; restarting in {delay:g} s "
                f"(restart {process.restarts} of {limit})",
            )
            self._event("restarting", process, delay_s=delay, restart=process.restarts)
            return
        if spec.restart:
            process.status = FAILED
            self._note(process, f"{how}; giving up after {limit} restarts")
            self._event("gave_up", process, restarts=process.restarts)
        elif code == 0:
            process.status = EXITED
            self._note(process, how)
        else:
            process.status = FAILED
            self._note(process, f"{how}; not restarted (restart=False)")
        if process.status == FAILED and (spec.primary or self._stop_on_failure):
            self._begin_stop(FAILED, how)

    def _begin_stop(self, outcome: str, reason: str) -> None:
        if self._stopping or self._finished:
            return
        self._stopping = True
        self._outcome = outcome
        self._reason = reason
        self._gate = None
        self._to_start.clear()
        for process in self._processes.values():
            if process.status == PENDING:
                process.status = NOT_STARTED
            elif process.status == RESTARTING:
                process.status = STOPPED
            _release(process.restart_waiters)
        self._note(None, f"stopping the group ({outcome}): {reason}")
        self._event("stopping", None, outcome=outcome, reason=reason)

    def _advance_stop(self, now: float) -> None:
        live = self._live()
        if not live:
            self._finish()
            return
        first = min(p.spec.stop_order for p in live)
        batch = [
            p for p in live if p.spec.stop_order == first and p.stop_deadline is None
        ]
        if batch:
            self._note(
                None,
                f"sending SIGTERM to {', '.join(p.spec.name for p in batch)}",
            )
            for process in batch:
                self._terminate(process, now)

    def _finish(self) -> None:
        self._finished = True
        self._ended_at = _now()
        self._note(None, f"done: {self._outcome} ({self._reason})")
        self._event("done", None, outcome=self._outcome, reason=self._reason)

    def _kill_everything(self) -> None:
        with self._lock:
            for process in self._live():
                _signal_group(process.popen.pid, signal.SIGKILL)
                process.exit_codes.append(process.popen.wait())
                process.popen = None
                process.status = FAILED
            self._outcome = FAILED
            self._finished = True

    # Output and events.

    def _event(self, kind: str, process: Optional[_Process], **fields: Any) -> None:
        self._events.append(
            {
                "event": kind,
                "name": process.spec.name if process is not None else None,
                "time": _now(),
                **fields,
            }
        )

    def _emit(self, event: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception as error:  # see the module docstring
            self._write(f"[supervisor] on_event failed on {event}: {error!r}\n")

    def _note(
        self, process: Optional[_Process], message: str, log_detail: str = ""
    ) -> None:
        """Reports on the stream, and in the process's log when there is one."""
        self._write(f"[supervisor] {message}\n")
        if process is not None:
            self._log(process, message + log_detail)

    @staticmethod
    def _log(process: _Process, message: str) -> None:
        try:
            with open(process.spec.log_path, "a") as log:
                log.write(f"[supervisor] {_now()} {message}\n")
        except OSError:
            pass

    def _write(self, text: str) -> None:
        with self._output_lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                # A closed terminal must not stop the logs or the group.
                pass

    def _drain(self, name: str, pipe: IO[bytes], log: IO[bytes]) -> None:
        """Copies one child's output to its log and, prefixed, to the stream."""
        with pipe, log:
            for raw in iter(pipe.readline, b""):
                try:
                    # An unfinished last line is ended, so that what is
                    # appended next (a note, the next incarnation) starts a line.
                    log.write(raw if raw.endswith(b"\n") else raw + b"\n")
                except OSError:
                    pass  # keep draining, or the child blocks on a full pipe
                line = raw.decode("utf-8", errors="replace")
                if _ABSL_INFO.match(line):
                    continue
                if not line.endswith("\n"):
                    line += "\n"
                self._write(f"[{name}] {line}")


def _release(waiters: list[threading.Event]) -> None:
    for waiter in waiters:
        waiter.set()
    waiters.clear()


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"exited with signal {name} ({code})"
    return f"exited with code {code}"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds"
    )
