"""A populate buffer directory's own record, readable without TensorFlow.

`populate.json` says what a populate wrote (see `starter_buffer.py`). The
checks here are the ones a populate makes before it touches the directory;
the binary makes them before TensorFlow loads, so a refusal is immediate,
and `populate_starter_buffer` makes them again for library callers.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

from smart_control.reinforcement_learning.utils import run_files, validation

STATE_FILE = run_files.POPULATE_STATE_FILE
# Names whose presence means the directory holds a replay buffer.
_BUFFER_NAMES = (STATE_FILE, "metadata.json", "checkpoints")


class BufferExistsError(FileExistsError):
    """The buffer directory holds a buffer and neither resume nor overwrite was asked."""


class BufferInUseError(BufferExistsError):
    """Another process (a populate, a replay server) holds the buffer directory."""


def check_settings(steps_per_run: Any, num_runs: Any, seed: Any) -> None:
    """Refuses out-of-range settings (ValueError naming the setting)."""
    validation.check_int("steps_per_run", steps_per_run, 1)
    validation.check_int("num_runs", num_runs, 1)
    validation.check_int("seed", seed, 0)


def check_sequence_length(sequence_length: int, steps_per_run: int) -> None:
    """Refuses items longer than a run: the buffer would stay empty.

    Items never span two runs (each starts from a fresh reset), so a run of
    `steps_per_run` steps holds `steps_per_run - sequence_length + 1` items.
    """
    if sequence_length > steps_per_run:
        raise ValueError(
            f"ReplayBufferManager.sequence_length = {sequence_length} is longer "
            f"than steps_per_run = {steps_per_run}: no run could fill a single item "
            "and the buffer would stay empty"
        )


def holds_a_buffer(buffer_dir: str) -> bool:
    return os.path.isdir(buffer_dir) and any(
        os.path.exists(os.path.join(buffer_dir, name)) for name in _BUFFER_NAMES
    )


def read_state(buffer_dir: str) -> Optional[Dict[str, Any]]:
    """populate.json of `buffer_dir`; None if there is none.

    Raises:
      ValueError: In one line naming the file, if it is unreadable or does
        not hold run records.
    """
    path = os.path.join(buffer_dir, STATE_FILE)
    try:
        with open(path, "rb") as f:
            state = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # UnicodeDecodeError, JSONDecodeError
        reason = (
            e.strerror
            if isinstance(e, OSError) and e.strerror
            else (str(e).splitlines()[0] if str(e) else type(e).__name__)
        )
        raise ValueError(
            f"cannot resume: {path} is unreadable ({reason}); pass --overwrite "
            "to replace the buffer"
        ) from None
    runs = state.get("runs") if isinstance(state, dict) else None
    if not (
        isinstance(runs, list)
        and isinstance(state.get("config"), dict)
        and all(
            isinstance(r, dict) and isinstance(r.get("checkpoint"), str) for r in runs
        )
    ):
        raise ValueError(
            f"cannot resume: {path} does not hold populate run records; pass "
            "--overwrite to replace the buffer"
        )
    return state


def committed_checkpoints(buffer_dir: str) -> List[str]:
    """The checkpoint populate.json on disk names (retention must keep it).

    Read at every prune, so it is what a resume after a crash would load. An
    unreadable file raises, and the manager then prunes nothing.
    """
    state = read_state(buffer_dir)
    runs = state["runs"] if state else []
    return [runs[-1]["checkpoint"]] if runs else []


def check_before_writing(
    buffer_dir: str,
    resume: bool,
    overwrite: bool,
    config: Optional[Dict[str, Any]] = None,
) -> Optional[Dict[str, Any]]:
    """The checks a populate makes before it touches `buffer_dir`.

    Args:
      buffer_dir: The buffer directory.
      resume: --resume.
      overwrite: --overwrite.
      config: {"steps_per_run": ..., "seed": ...} of this call, to compare
        with the buffer's when resuming; None if not known yet.

    Returns:
      The buffer's populate.json when resuming (None if there is none).

    Raises:
      ValueError: resume and overwrite together; an unreadable populate.json
        on resume; a resume of a buffer populated with another config.
      BufferExistsError: A buffer exists and neither resume nor overwrite.
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if not (resume or overwrite) and holds_a_buffer(buffer_dir):
        raise BufferExistsError(
            f"a replay buffer already exists in {buffer_dir}; "
            "pass --resume to continue it or --overwrite to replace it"
        )
    state = read_state(buffer_dir) if resume else None
    if state is not None and config is not None and state["config"] != config:
        raise ValueError(
            f"cannot resume {buffer_dir}: it was populated with {state['config']}, "
            f"this call asks for {config}"
        )
    return state
