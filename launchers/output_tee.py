"""Children's output copied to their logs and, line by line, to the terminal.

The launchers show what their children print on one stream, each line
prefixed with "[<name>] ", whole lines only, absl INFO lines ("I0101 ...")
left in the logs:

  * `tee` copies a child's output pipe to its log and to a `SharedStream`
    (launchers/supervisor.py, one thread per child);
  * `LogFollower` copies lines appended to the logs of a directory (Slurm
    steps write their logs themselves: launchers/slurm_job.py);
  * `append_to_log` adds a launcher's own line to a child's log.
"""

from __future__ import annotations

import os
import re
import threading
from typing import IO, TextIO

ABSL_INFO = re.compile(r"^I\d{4} ")


class SharedStream:
    """A text stream written by several threads, one whole write at a time.

    A closed or broken stream is ignored: losing the terminal must not stop
    the logs or the processes.
    """

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                pass


def tee(name: str, pipe: IO[bytes], log: IO[bytes], stream: SharedStream) -> None:
    """Copies one child's output to its log and, prefixed, to `stream`.

    Returns (closing `pipe` and `log`) once the pipe is closed, i.e. when the
    child and every process that inherited its stdout have ended.
    """
    with pipe, log:
        for raw in iter(pipe.readline, b""):
            try:
                # An unfinished last line is ended, so that what is
                # appended next (a note, the next incarnation) starts a line.
                log.write(raw if raw.endswith(b"\n") else raw + b"\n")
            except OSError:
                pass  # keep draining, or the child blocks on a full pipe
            line = raw.decode("utf-8", errors="replace")
            if ABSL_INFO.match(line):
                continue
            if not line.endswith("\n"):
                line += "\n"
            stream.write(f"[{name}] {line}")


def append_to_log(path: str, text: str) -> None:
    """Appends `text` to a log; a log that cannot be written is skipped."""
    try:
        with open(path, "a") as log:
            log.write(text)
    except OSError:
        pass


class LogFollower:
    """Copies new complete lines of every *.log in a directory to a stream."""

    def __init__(self, logs_dir: str, stream: TextIO):
        self._logs_dir = logs_dir
        self._stream = stream
        self._offsets: dict[str, int] = {}

    def poll(self) -> None:
        try:
            names = sorted(os.listdir(self._logs_dir))
        except FileNotFoundError:
            return
        for name in names:
            if not name.endswith(".log"):
                continue
            path = os.path.join(self._logs_dir, name)
            offset = self._offsets.get(name, 0)
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            if not end:
                continue
            self._offsets[name] = offset + end
            prefix = f"[{name[:-4]}] "
            for line in data[:end].decode(errors="replace").splitlines():
                self._stream.write(prefix + line + "\n")
        self._stream.flush()
