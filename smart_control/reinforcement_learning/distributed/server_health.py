"""Waiting for a Reverb server, and saying so while a process cannot progress.

Reverb's clients survive a server restart on their own: a writer keeps the
items the server has not confirmed and sends them again, and a sampling
dataset blocks until the server is back. What they do not do is tell anyone.
`wait_for_server` retries with exponential backoff and logs every retry;
`StallReporter` logs a line every `interval_s` while a loop makes no progress
(blocked on a server that is down, on a rate limiter, or on a buffer below
its minimum size), with a description of why.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Sequence

import reverb
from absl import logging

DEFAULT_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# Reverb's calls wait for a server that is down until their deadline (gRPC's
# wait-for-ready) instead of failing at once, so every attempt of
# `wait_for_server` costs this long; 1 s is the shortest deadline Reverb takes.
ATTEMPT_TIMEOUT_S = 1


class ServerUnavailableError(ConnectionError):
    """The server did not answer within the allowed time."""


def is_reachable(address: str, timeout_s: int = 5) -> bool:
    """Whether the Reverb server at `address` answers within `timeout_s` (>= 1)."""
    if timeout_s < 1:  # Reverb reads a timeout of 0 as "no deadline"
        raise ValueError(f"timeout_s must be >= 1, got {timeout_s!r}")
    try:
        reverb.Client(address).server_info(timeout=timeout_s)
        return True
    except Exception:  # noqa: BLE001  (every failure means "not now")
        return False


def wait_for_server(
    address: str,
    what: str,
    stop: Optional[threading.Event] = None,
    backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
    give_up_after_s: Optional[float] = None,
    log: Callable[[str], None] = logging.warning,
) -> int:
    """Blocks until the server answers; returns the number of failed attempts.

    Args:
      address: "host:port" of the server.
      what: Name for log lines, e.g. "replay server".
      stop: Returns early (without error) once set.
      backoff_s: Waits between attempts; the last value repeats.
      give_up_after_s: Raise `ServerUnavailableError` after this long; None
        waits forever (a collector outlives its server's restarts).
      log: Receives one line per failed attempt.
    """
    start = time.monotonic()
    failures = 0
    while not is_reachable(address, timeout_s=ATTEMPT_TIMEOUT_S):
        if stop is not None and stop.is_set():
            return failures
        waited = time.monotonic() - start
        if give_up_after_s is not None and waited >= give_up_after_s:
            raise ServerUnavailableError(
                f"the {what} at {address} did not answer for {waited:.0f} s"
            )
        delay = backoff_s[min(failures, len(backoff_s) - 1)]
        failures += 1
        log(
            f"{what} at {address} unreachable; retry {failures} in {delay:g} s "
            f"(down for {waited:.0f} s)"
        )
        if stop is not None:
            if stop.wait(delay):
                return failures
        else:
            time.sleep(delay)
    return failures


class StallReporter:
    """Logs `describe()` every `interval_s` while `progress()` is not called.

    Use as a context manager around a loop that calls `progress()` whenever it
    gets something done. A thread calls `check()` when the next report could
    be due; tests call `check()` themselves with a fake `clock` instead, so
    what is reported does not depend on how threads are scheduled.

    Args:
      describe: Given the seconds without progress, says why in one line.
      interval_s: Seconds without progress before the first report, and
        between two reports of one stall.
      log: Receives each report.
      clock: Monotonic time in seconds; the thread waits the intervals it
        computes in real time.
    """

    def __init__(
        self,
        describe: Callable[[float], str],
        interval_s: float = 30.0,
        log: Callable[[str], None] = logging.warning,
        clock: Callable[[], float] = time.monotonic,
    ):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        self._describe = describe
        self._interval_s = interval_s
        self._log = log
        self._clock = clock
        self._last_progress = clock()
        self._next_report = self._last_progress + interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="stall-reporter", daemon=True
        )
        self.stalls_reported = 0

    def progress(self) -> None:
        """Records that the loop got something done (ends a stall)."""
        self._last_progress = self._clock()

    def __enter__(self) -> StallReporter:
        self.progress()
        self._next_report = self._last_progress + self._interval_s
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check(self) -> float:
        """Logs one report if one is due; returns the seconds until the next may be.

        A report is due once `interval_s` passed without progress and
        `interval_s` passed since the previous report of the same stall.
        """
        now = self._clock()
        stalled_for = now - self._last_progress
        if stalled_for < self._interval_s:
            # Progress since the last report: a new stall starts counting.
            self._next_report = self._last_progress + self._interval_s
            return self._next_report - now
        if now < self._next_report:
            return self._next_report - now
        try:
            text = self._describe(stalled_for)
        except Exception as e:  # noqa: BLE001  (a report must never kill the loop)
            text = f"no progress for {stalled_for:.0f} s ({e})"
        self._log(text)
        self.stalls_reported += 1
        self._next_report = now + self._interval_s
        return self._interval_s

    def _watch(self) -> None:
        delay = self._next_report - self._clock()
        # The floor keeps a clock that stands still (a test's) from spinning.
        while not self._stop.wait(max(0.05, delay)):
            delay = self.check()


def describe_table(address: str, table: str, timeout_s: int = 5) -> str:
    """Why sampling or inserting into `table` may be waiting, in one phrase."""
    try:
        info = reverb.Client(address).server_info(timeout=timeout_s)[table]
    except Exception:  # noqa: BLE001
        return f"the replay server at {address} is unreachable (Reverb retries)"
    limiter = info.rate_limiter_info
    size = info.current_size
    if size < limiter.min_size_to_sample:
        return (
            f"the replay buffer holds {size:,} items; sampling starts at "
            f"{limiter.min_size_to_sample:,}"
        )
    if limiter.min_diff < -1e300 and limiter.max_diff > 1e300:
        return (
            f"the replay buffer holds {size:,} items and nothing limits the rate "
            "(the process itself is slow, e.g. tracing its first TF steps)"
        )
    return (
        f"the replay buffer holds {size:,} items; the rate limiter may hold this side "
        f"back (samples per insert {limiter.samples_per_insert:g}, "
        f"error buffer [{limiter.min_diff:g}, {limiter.max_diff:g}])"
    )


class ServerMonitor:
    """Polls a server in a thread; counts and logs its outages.

    `reachable` is the latest poll's answer (no RPC on read), so a loop can
    check it every iteration for free. The thread calls `check()` every
    `poll_interval_s`; tests call it themselves, with a fake `clock` to
    measure downtime.

    Args:
      address: "host:port" of the server.
      what: Name for log lines, e.g. "replay server".
      poll_interval_s: Seconds between two polls of the thread.
      log: Receives one line when an outage starts and one when it ends.
      clock: Monotonic time in seconds, for `downtime_s`.
    """

    def __init__(
        self,
        address: str,
        what: str,
        poll_interval_s: float = 1.0,
        log: Callable[[str], None] = logging.warning,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.address = address
        self.what = what
        self._poll_interval_s = poll_interval_s
        self._log = log
        self._clock = clock
        self.reachable = True
        self.outages = 0
        self.downtime_s = 0.0
        self._down_since: Optional[float] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name=f"monitor-{what}", daemon=True
        )

    def __enter__(self) -> ServerMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> bool:
        """Polls the server once, logs an outage's start or end; returns `reachable`."""
        up = is_reachable(
            self.address, timeout_s=max(1, int(self._poll_interval_s * 2))
        )
        now = self._clock()
        if not up and self._down_since is None:
            self._down_since = now
            self.outages += 1
            self._log(
                f"{self.what} at {self.address} unreachable (outage "
                f"{self.outages}); Reverb keeps unconfirmed items and retries"
            )
        elif up and self._down_since is not None:
            down_for = now - self._down_since
            self.downtime_s += down_for
            self._down_since = None
            self._log(f"{self.what} at {self.address} is back after {down_for:.0f} s")
        self.reachable = up
        return up

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_interval_s):
            self.check()
