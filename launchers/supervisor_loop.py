"""The supervisor's state machine: starts, watches, restarts and stops a group.

`GroupLoop` holds the state of one group of processes (launchers/supervisor.py
documents the behaviour). Its `tick()` is called every few milliseconds by
the supervisor's thread, the only one that starts and reaps processes, with
the supervisor's lock held; the supervisor's public methods read and change
the same state under that lock. The events of a tick are collected with
`take_events()` and reported by the supervisor once the lock is released.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any, Optional

from launchers import output_tee, process_utils
from launchers.supervisor_specs import (
    ENDED,
    EXITED,
    FAILED,
    NOT_STARTED,
    PENDING,
    RESTARTING,
    RUNNING,
    STOPPED,
    STOPPING,
    SUCCESS,
    ProcessSpec,
    ProcessState,
    now,
)

# Seconds to wait for a process's output to be drained after it exited; a
# grandchild in another session may hold its pipe open forever.
_DRAIN_TIMEOUT_S = 2.0


class GroupLoop:
    """The state of a group of processes and the steps that advance it."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        max_restarts: int,
        backoff_s: Sequence[float],
        stop_on_failure: bool,
        stream: output_tee.SharedStream,
    ):
        """Initializes the state; nothing is started yet (specs are valid)."""
        self.processes = {spec.name: ProcessState(spec) for spec in specs}
        self._max_restarts = max_restarts
        self._backoff_s = tuple(backoff_s)
        self._stop_on_failure = stop_on_failure
        self._has_primary = any(spec.primary for spec in specs)
        self.stream = stream
        # Set once every process has been started (and was ready).
        self.started = threading.Event()
        self._events: list[dict[str, Any]] = []
        self._to_start = list(self.processes.values())
        # (process, deadline) of the process being waited for to be ready.
        self._gate: Optional[tuple[ProcessState, float]] = None
        self.restart_requests: list[ProcessState] = []
        self.stopping = False
        self.kill_now = False
        self._killed_all = False
        self.finished = False
        self.outcome = RUNNING
        self.reason: Optional[str] = None
        self.startup_error: Optional[str] = None
        self.started_at: Optional[str] = None
        self.ended_at: Optional[str] = None

    def summary(self) -> dict[str, Any]:
        """See `Supervisor.summary()`."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "error": self.startup_error,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "processes": {
                name: process.summary() for name, process in self.processes.items()
            },
        }

    def take_events(self) -> list[dict[str, Any]]:
        """The events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def tick(self) -> None:
        now_s = time.monotonic()
        if self.kill_now and not self._killed_all:
            self._killed_all = True
            self.note(None, "interrupted again: killing every process now")
            for process in self._live():
                process_utils.signal_group(process.popen.pid, signal.SIGKILL)
                process.sigkilled = True
                process.stop_deadline = process.stop_deadline or now_s
        for process in self.restart_requests:
            self._apply_restart_request(process, now_s)
        self.restart_requests.clear()
        for process in self._live():
            if process.popen.poll() is not None:
                self._on_exit(process)
        for process in self._live():
            if (
                process.stop_deadline is not None
                and now_s >= process.stop_deadline
                and not process.sigkilled
            ):
                self.note(
                    process,
                    f"{process.spec.name} did not stop within "
                    f"{process.spec.stop_timeout_s:g} s of SIGTERM; sending SIGKILL",
                )
                process_utils.signal_group(process.popen.pid, signal.SIGKILL)
                process.sigkilled = True
        if self.stopping:
            self._advance_stop(now_s)
            return
        self._advance_startup(now_s)
        for process in self.processes.values():
            if (
                not self.stopping
                and process.status == RESTARTING
                and now_s >= process.restart_at
            ):
                self._spawn(process)
        if (
            not self.stopping
            and not self._has_primary
            and self.started.is_set()
            and all(p.status in ENDED for p in self.processes.values())
        ):
            failed = any(p.status == FAILED for p in self.processes.values())
            self.begin_stop(FAILED if failed else SUCCESS, "every process has ended")

    def _live(self) -> list[ProcessState]:
        return [p for p in self.processes.values() if p.popen is not None]

    def _advance_startup(self, now_s: float) -> None:
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
                waited = now_s - process.started_monotonic
                self.note(process, f"{spec.name} is ready ({waited:.1f} s)")
                self._event("ready", process, pid=process.popen.pid)
            elif now_s >= deadline:
                self._startup_failed(
                    f"{spec.name} was not ready within {spec.ready_timeout_s:g} s "
                    f"(ready condition: {spec.ready}); see {spec.log_path}"
                )
                return
            else:
                return
        while self._to_start and not self.stopping:
            process = self._to_start.pop(0)
            self._spawn(process)
            if process.spec.ready is not None and process.popen is not None:
                self._gate = (process, now_s + process.spec.ready_timeout_s)
                return
        if not self.stopping:
            self.started.set()

    def _startup_failed(self, message: str) -> None:
        self.startup_error = message
        self.note(None, f"startup failed: {message}")
        self.begin_stop(FAILED, message)

    def _apply_restart_request(self, process: ProcessState, now_s: float) -> None:
        if self.stopping:
            return
        if process.popen is not None:
            if process.stop_deadline is None:
                self.note(process, f"restarting {process.spec.name} as requested")
                process.restart_requested = True
                self._terminate(process, now_s)
        elif process.status in (RESTARTING, EXITED, FAILED):
            process.requested_restarts += 1
            self.note(process, f"restarting {process.spec.name} as requested")
            self._spawn(process)

    def _spawn(self, process: ProcessState) -> None:
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
            popen = process_utils.start_in_session(
                spec.command, subprocess.PIPE, cwd=spec.cwd, env=env
            )
        except OSError as error:
            if log is not None:
                log.close()
            process.status = FAILED
            process.ended_at = now()
            message = f"cannot start {spec.name}: {error}"
            self.note(process, message)
            self._event("start_failed", process, error=str(error))
            process.release_waiters()
            if not self.started.is_set():
                self._startup_failed(message)
            elif spec.primary or self._stop_on_failure:
                self.begin_stop(FAILED, message)
            return
        process.popen = popen
        process.status = RUNNING
        process.pids.append(popen.pid)
        process.last_started_at = now()
        process.started_at = process.started_at or process.last_started_at
        process.ended_at = None
        process.started_monotonic = time.monotonic()
        process.drain = threading.Thread(
            target=output_tee.tee,
            args=(spec.name, popen.stdout, log, self.stream),
            name=f"supervisor-{spec.name}",
            daemon=True,
        )
        process.drain.start()
        attempt = len(process.pids)
        self.note(
            process,
            f"started {spec.name} (pid {popen.pid})"
            + (f", incarnation {attempt}" if attempt > 1 else ""),
            log_detail=f": {' '.join(spec.command)}",
        )
        self._event("started", process, pid=popen.pid, incarnation=attempt)
        process.release_waiters()

    def _terminate(self, process: ProcessState, now_s: float) -> None:
        process_utils.signal_group(process.popen.pid, signal.SIGTERM)
        process.stop_deadline = now_s + process.spec.stop_timeout_s
        process.status = STOPPING

    def _on_exit(self, process: ProcessState) -> None:
        spec, popen = process.spec, process.popen
        code = popen.returncode
        # Whatever the leader left behind in its group goes with it.
        process_utils.signal_group(popen.pid, signal.SIGKILL)
        process.drain.join(_DRAIN_TIMEOUT_S)
        process.popen = process.drain = None
        process.exit_codes.append(code)
        process.ended_at = now()
        requested = process.stop_deadline is not None
        process.stop_deadline = None
        process.sigkilled = False
        how = f"{spec.name} {process_utils.describe_exit(code)}"
        self._event(
            "exited", process, pid=popen.pid, exit_code=code, requested=requested
        )

        if requested:
            if process.restart_requested and not self.stopping:
                process.restart_requested = False
                process.requested_restarts += 1
                self.note(process, f"{how}; restarting as requested")
                self._spawn(process)
            else:
                process.status = STOPPED
                self.note(process, f"{how}; stopped")
            return
        if self._gate is not None and self._gate[0] is process:
            process.status = FAILED
            self._startup_failed(f"{how} before it was ready; see {spec.log_path}")
            return
        if self.stopping:
            process.status = EXITED if code == 0 else FAILED
            self.note(process, f"{how} while the group was stopping")
            return
        if spec.primary and code == 0:
            process.status = EXITED
            _log(process, how)
            self.begin_stop(SUCCESS, how)
            return
        limit = self._max_restarts if spec.max_restarts is None else spec.max_restarts
        if spec.restart and process.restarts < limit:
            process.restarts += 1
            delay = self._backoff_s[min(process.restarts, len(self._backoff_s)) - 1]
            process.status = RESTARTING
            process.restart_at = time.monotonic() + delay
            self.note(
                process,
                f"{how}; restarting in {delay:g} s "
                f"(restart {process.restarts} of {limit})",
            )
            self._event("restarting", process, delay_s=delay, restart=process.restarts)
            return
        if spec.restart:
            process.status = FAILED
            self.note(process, f"{how}; giving up after {limit} restarts")
            self._event("gave_up", process, restarts=process.restarts)
        elif code == 0:
            process.status = EXITED
            self.note(process, how)
        else:
            process.status = FAILED
            self.note(process, f"{how}; not restarted (restart=False)")
        if process.status == FAILED and (spec.primary or self._stop_on_failure):
            self.begin_stop(FAILED, how)

    def begin_stop(self, outcome: str, reason: str) -> None:
        """Starts stopping the group in order, unless it already is."""
        if self.stopping or self.finished:
            return
        self.stopping = True
        self.outcome = outcome
        self.reason = reason
        self._gate = None
        self._to_start.clear()
        for process in self.processes.values():
            if process.status == PENDING:
                process.status = NOT_STARTED
            elif process.status == RESTARTING:
                process.status = STOPPED
            process.release_waiters()
        self.note(None, f"stopping the group ({outcome}): {reason}")
        self._event("stopping", None, outcome=outcome, reason=reason)

    def _advance_stop(self, now_s: float) -> None:
        live = self._live()
        if not live:
            self.finish()
            return
        first = min(p.spec.stop_order for p in live)
        batch = [
            p for p in live if p.spec.stop_order == first and p.stop_deadline is None
        ]
        if batch:
            self.note(
                None,
                f"sending SIGTERM to {', '.join(p.spec.name for p in batch)}",
            )
            for process in batch:
                self._terminate(process, now_s)

    def finish(self) -> None:
        """Records the end of the group (every process has ended)."""
        self.finished = True
        self.ended_at = now()
        self.note(None, f"done: {self.outcome} ({self.reason})")
        self._event("done", None, outcome=self.outcome, reason=self.reason)

    def kill_everything(self) -> None:
        """SIGKILLs every live process's group and reaps it; the group FAILED."""
        for process in self._live():
            process_utils.signal_group(process.popen.pid, signal.SIGKILL)
            process.exit_codes.append(process.popen.wait())
            process.popen = None
            process.status = FAILED
        self.outcome = FAILED
        self.finished = True

    # Output and events.

    def _event(self, kind: str, process: Optional[ProcessState], **fields: Any) -> None:
        self._events.append(
            {
                "event": kind,
                "name": process.spec.name if process is not None else None,
                "time": now(),
                **fields,
            }
        )

    def note(
        self, process: Optional[ProcessState], message: str, log_detail: str = ""
    ) -> None:
        """Reports on the stream, and in the process's log when there is one."""
        self.stream.write(f"[supervisor] {message}\n")
        if process is not None:
            _log(process, message + log_detail)


def _log(process: ProcessState, message: str) -> None:
    output_tee.append_to_log(process.spec.log_path, f"[supervisor] {now()} {message}\n")
