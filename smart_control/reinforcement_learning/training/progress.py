"""A one-line progress display for training, and duration formatting.

On a terminal the line is redrawn in place at most every `tty_interval_s`;
otherwise (a log file, a test's pipe) a full line is written every
`log_interval_s`, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def format_duration(seconds: float) -> str:
    """12.3 -> '12s', 754 -> '12m34s', 7300 -> '2h01m'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Shows train steps against the total, env steps, rate, last eval and ETA."""

    def __init__(
        self,
        total_train_steps: int,
        stream: Optional[TextIO] = None,
        enabled: bool = True,
        tty_interval_s: float = 0.5,
        log_interval_s: float = 30.0,
        label: str = "",
    ):
        self._total = total_train_steps
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._label = label
        self._tty = (
            enabled and hasattr(self._stream, "isatty") and self._stream.isatty()
        )
        self._interval = tty_interval_s if self._tty else log_interval_s
        self._next_time = 0.0
        self._start_time = time.monotonic()
        self._start_steps: Optional[int] = None
        self._line_open = False
        self.last_eval: Optional[str] = None

    def start(self, train_steps: int) -> None:
        """Starts the clock at `train_steps` (a resumed run starts above zero)."""
        self._start_time = time.monotonic()
        self._start_steps = train_steps

    def update(
        self, train_steps: int, env_steps: Optional[int] = None, force: bool = False
    ) -> None:
        """Redraws the line if enough time has passed (cheap otherwise)."""
        now = time.monotonic()
        if not self._enabled or (now < self._next_time and not force):
            return
        self._next_time = now + self._interval
        if self._start_steps is None:
            self.start(train_steps)
        elapsed = now - self._start_time
        rate = (train_steps - self._start_steps) / elapsed if elapsed > 0 else 0.0
        parts = [
            f"{self._label}train {train_steps:,}/{self._total:,} "
            f"({100.0 * train_steps / self._total:.0f}%)"
        ]
        if env_steps is not None:
            parts.append(f"env {env_steps:,}")
        parts.append(f"{rate:.1f} train steps/s")
        if self.last_eval:
            parts.append(self.last_eval)
        if rate > 0 and train_steps < self._total:
            parts.append(f"ETA {format_duration((self._total - train_steps) / rate)}")
        self._write(" | ".join(parts))

    def message(self, text: str) -> None:
        """Writes a line of its own (the progress line continues below it)."""
        if not self._enabled:
            return
        self._end_line()
        self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._end_line()

    def _write(self, line: str) -> None:
        if self._tty:
            # Carriage return and erase-line: redraw in place.
            self._stream.write("\r\033[K" + line)
            self._line_open = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def _end_line(self) -> None:
        if self._line_open:
            self._stream.write("\n")
            self._stream.flush()
            self._line_open = False
