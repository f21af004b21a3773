"""Deterministic fault injection: a process kills itself at a named point.

Crash-safety tests need a process to die at an exact place (say, after the
second buffer checkpoint is adopted but before the caller records it), which a
test that polls and then sends SIGKILL can only hit by luck. Instead, code
calls `reached("<point>")` where a crash matters, and a test runs the process
with

    SMART_CONTROL_FAULT=<point>:<k>[,<point>:<k>...]

so that the process sends itself SIGKILL the k-th time (k >= 1, counted per
process) it reaches that point. Without the variable `reached` only looks up a
cached empty dict, so the points cost nothing in normal runs. Importing this
module has no side effects and needs neither TensorFlow nor Reverb.

Points defined so far (add new ones here, with where they sit):

  buffer.checkpoint.adopted   `ReplayBufferManager.checkpoint()`: the new
                              Reverb checkpoint has been moved into
                              `checkpoints/ckpt-N`; retention has not pruned
                              yet, metadata.json does not record it yet, and
                              the caller has not recorded it in its state.
  buffer.checkpoint.pruned    `ReplayBufferManager.checkpoint()`: retention
                              has pruned old checkpoints; metadata.json is not
                              yet rewritten and the call has not returned
                              (so the caller's state still names an older
                              checkpoint).
  populate.run.recorded       `populate_starter_buffer`: populate.json has
                              just recorded a finished run and its checkpoint.
  train.commit.buffer         `TrainingCore.commit()`: the replay buffer
                              checkpoint is written; no record names it yet.
  train.commit.record         `TrainingCore.commit()`: its commit record is
                              written; the learner checkpoint is not (so the
                              record is not a commit yet).
  train.commit.done           `TrainingCore.commit()`: the learner checkpoint
                              (the commit point) is written.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Dict, Optional

ENV_VAR = "SMART_CONTROL_FAULT"

BUFFER_CHECKPOINT_ADOPTED = "buffer.checkpoint.adopted"
BUFFER_CHECKPOINT_PRUNED = "buffer.checkpoint.pruned"
POPULATE_RUN_RECORDED = "populate.run.recorded"
TRAIN_COMMIT_BUFFER = "train.commit.buffer"
TRAIN_COMMIT_RECORD = "train.commit.record"
TRAIN_COMMIT_DONE = "train.commit.done"
KNOWN_POINTS = (
    BUFFER_CHECKPOINT_ADOPTED,
    BUFFER_CHECKPOINT_PRUNED,
    POPULATE_RUN_RECORDED,
    TRAIN_COMMIT_BUFFER,
    TRAIN_COMMIT_RECORD,
    TRAIN_COMMIT_DONE,
)

# (value of the variable the plan was parsed from, {point: k}); parsed on first
# use, re-parsed if the variable changes (tests set it in-process).
_plan: Optional[tuple] = None
_counts: Dict[str, int] = {}


def parse(value: str) -> Dict[str, int]:
    """The {point: k} plan of a SMART_CONTROL_FAULT value.

    Raises:
      ValueError: If an entry is not `<known point>:<k>` with k >= 1.
    """
    plan: Dict[str, int] = {}
    for entry in filter(None, (e.strip() for e in value.split(","))):
        point, _, k = entry.rpartition(":")
        if point not in KNOWN_POINTS or not k.isdigit() or int(k) < 1:
            raise ValueError(
                f"{ENV_VAR} entries must be <point>:<k> with k >= 1 and a point "
                f"among {', '.join(KNOWN_POINTS)}; got {entry!r}"
            )
        plan[point] = int(k)
    return plan


def _current_plan() -> Dict[str, int]:
    global _plan
    value = os.environ.get(ENV_VAR, "")
    if _plan is None or _plan[0] != value:
        _plan = (value, parse(value))
        _counts.clear()
    return _plan[1]


def reached(point: str) -> None:
    """Marks one occurrence of `point`; kills this process if the plan says so.

    Args:
      point: One of `KNOWN_POINTS`.

    Raises:
      ValueError: If `point` is unknown (a typo would silently never fire),
        or SMART_CONTROL_FAULT is malformed.
    """
    if point not in KNOWN_POINTS:
        raise ValueError(f"unknown fault point {point!r}")
    plan = _current_plan()
    if point not in plan:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == plan[point]:
        # Straight to the fd: Python's stderr may be buffered or redirected,
        # and nothing after SIGKILL is flushed.
        message = f"fault injection: SIGKILL at {point} (occurrence {plan[point]})\n"
        try:
            os.write(sys.__stderr__.fileno(), message.encode())
        except (OSError, AttributeError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGKILL)
