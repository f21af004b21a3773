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

The parts: launchers/supervisor_specs.py (ProcessSpec, PidInJsonFile, the
per-process record), launchers/supervisor_loop.py (the state machine this
module's thread drives), launchers/output_tee.py (output to logs and the
stream) and launchers/process_utils.py (sessions, process-group signals).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, Optional, TextIO

from launchers import output_tee, supervisor_loop, supervisor_specs

# The names below are part of this module's API.
from launchers.supervisor_specs import (  # noqa: F401
    EXITED,
    FAILED,
    INTERRUPTED,
    NOT_STARTED,
    PENDING,
    RESTARTING,
    RUNNING,
    STOPPED,
    STOPPING,
    SUCCESS,
    PidInJsonFile,
    ProcessSpec,
    StartupError,
)

# Seconds between two checks of the processes: the longest delay before an
# exit, a stop timeout or a readiness is noticed.
_POLL_INTERVAL_S = 0.05


class Supervisor:
    """Runs a group of processes; see the module docstring.

    The state machine is launchers/supervisor_loop.py; this class owns the
    thread that drives it, the lock that guards it, and the public API.
    """

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
        supervisor_specs.validate(specs, max_restarts, backoff_s)
        self._stream = output_tee.SharedStream(
            stream if stream is not None else sys.stdout
        )
        self._loop = supervisor_loop.GroupLoop(
            specs, max_restarts, backoff_s, stop_on_failure, self._stream
        )
        self._processes = self._loop.processes
        self._started = self._loop.started
        self._on_event = on_event
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._done = threading.Event()
        self._internal_error: Optional[BaseException] = None

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
                self._loop.begin_stop(INTERRUPTED, "stopped before it started")
                self._loop.finish()
                events = self._loop.take_events()
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
            if self._thread is None or self._loop.stopping:
                raise RuntimeError(f"cannot restart {name}: the group is not running")
            if process.status == PENDING:
                raise RuntimeError(f"cannot restart {name}: not started yet")
            process.restart_waiters.append(restarted)
            self._loop.restart_requests.append(process)
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
            return self._loop.summary()

    # Called from the caller's threads.

    def _launch(self) -> None:
        self._loop.started_at = supervisor_specs.now()
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
            self._loop.begin_stop(outcome, reason)

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
                    self._loop.kill_now = True

    def _raise_if_broken(self) -> None:
        if self._internal_error is not None:
            raise RuntimeError(
                f"the supervisor failed and killed every process: "
                f"{self._internal_error!r}"
            ) from self._internal_error
        if self._loop.startup_error is not None:
            raise StartupError(self._loop.startup_error)

    # The supervisor's thread: the only one that starts and reaps processes.

    def _monitor(self) -> None:
        try:
            while True:
                with self._lock:
                    self._loop.tick()
                    events = self._loop.take_events()
                    finished = self._loop.finished
                for event in events:
                    self._emit(event)
                if finished:
                    return
                time.sleep(_POLL_INTERVAL_S)
        except BaseException as error:
            self._internal_error = error
            with self._lock:
                self._loop.kill_everything()
            self._stream.write(
                f"[supervisor] internal error, killed everything: {error!r}\n"
            )
        finally:
            with self._lock:
                for process in self._processes.values():
                    process.release_waiters()
            self._started.set()
            self._done.set()

    def _emit(self, event: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception as error:  # see the module docstring
            self._stream.write(f"[supervisor] on_event failed on {event}: {error!r}\n")
