"""Layout of a training run directory, and the markers that make resume safe.

    <root_dir>/
      operative_config.gin        gin parameters of the run (the binary writes it)
      DONE                        JSON summary, written last when training ends;
                                  a root_dir holding it is never trained again
      train/
        checkpoint_marker.json    the newest committed checkpoint: learner step,
                                  env steps, learner and buffer checkpoint paths
                                  (relative to root_dir); replaced atomically,
                                  last, after both checkpoints are complete
        checkpoints/ckpt-<step>*  learner checkpoints (agent + train step)
        events.out.tfevents.*     learner and collect summaries
      eval/
        metrics.jsonl             one JSON line per evaluation
        events.out.tfevents.*     evaluation summaries
      policies/                   see policy_export.py
        greedy_policy/ collect_policy/
                                  SavedModels with the weights of the latest
                                  export (every policy_save_interval, and at
                                  the end): load and act
        checkpoints/policy_checkpoint_<train step>/
                                  the policy variables at every export
      replay_buffer/              the ReplayBufferManager's directory
      logs/train.log, native.log  Python and C++ logs (the binary sends them there)

A checkpoint is committed in three steps: learner checkpoint, buffer
checkpoint, then `checkpoint_marker.json`. A process killed in between leaves
checkpoints that no marker names; they are never resumed from (like Dopamine's
sentinel files). Both the learner and the buffer keep their newest N
checkpoints, so the pair the marker names always exists.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
from typing import Any, Dict, Optional

from absl import logging

TRAIN_DIR = "train"
EVAL_DIR = "eval"
POLICIES_DIR = "policies"
REPLAY_BUFFER_DIR = "replay_buffer"
# Same names as tf_agents.train.learner's constants (TRAIN_DIR,
# POLICY_CHECKPOINT_DIR), so the Learner finds the checkpoints this loop writes.
LEARNER_CHECKPOINT_DIR = os.path.join(TRAIN_DIR, "checkpoints")
CHECKPOINT_MARKER_FILE = os.path.join(TRAIN_DIR, "checkpoint_marker.json")
EVAL_METRICS_FILE = os.path.join(EVAL_DIR, "metrics.jsonl")
DONE_FILE = "DONE"

_MARKER_FORMAT = 1


class RunDirError(ValueError):
    """A run directory's marker files are unreadable or name missing files."""


@dataclasses.dataclass(frozen=True)
class CheckpointMarker:
    """The newest committed checkpoint of a run.

    Attributes:
      train_step: Learner (gradient) steps at the checkpoint.
      env_steps: Environment steps collected by the run at the checkpoint.
      episodes: Collect episodes finished at the checkpoint.
      learner_checkpoint: Learner checkpoint prefix, relative to root_dir.
      replay_buffer_checkpoint: Buffer checkpoint directory, relative to
        root_dir.
      replay_buffer_frames: Items the buffer held at the checkpoint.
      written_at: UTC time the marker was written (ISO 8601).
    """

    train_step: int
    env_steps: int
    episodes: int
    learner_checkpoint: str
    replay_buffer_checkpoint: str
    replay_buffer_frames: int
    written_at: str = ""


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def path(root_dir: str, relative: str) -> str:
    """`relative` under `root_dir` (markers store paths relative to it)."""
    return os.path.join(root_dir, relative)


def _write_json_atomically(file_path: str, content: Dict[str, Any]) -> None:
    # Write, fsync, rename: a reader sees the old file or the new one, never
    # a torn one, even if the machine dies.
    os.makedirs(os.path.dirname(file_path), exist_ok=True)
    tmp = f"{file_path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(content, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file_path)
    directory = os.open(os.path.dirname(file_path), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_json(file_path: str) -> Optional[Dict[str, Any]]:
    if not os.path.exists(file_path):
        return None
    try:
        with open(file_path) as f:
            content = json.load(f)
    except (OSError, ValueError) as e:
        raise RunDirError(f"cannot read {file_path}: {e}") from None
    if not isinstance(content, dict):
        raise RunDirError(f"{file_path} does not hold a JSON object")
    return content


def write_marker(root_dir: str, marker: CheckpointMarker) -> None:
    """Commits a checkpoint pair; call after both checkpoints are complete."""
    content = dataclasses.asdict(marker)
    content["format"] = _MARKER_FORMAT
    content["written_at"] = marker.written_at or utc_now()
    _write_json_atomically(path(root_dir, CHECKPOINT_MARKER_FILE), content)


def read_marker(root_dir: str) -> Optional[CheckpointMarker]:
    """The run's newest committed checkpoint, or None for a fresh run.

    Raises:
      RunDirError: If the marker is unreadable or names checkpoints that are
        not there (the run directory was damaged by hand).
    """
    file_path = path(root_dir, CHECKPOINT_MARKER_FILE)
    content = _read_json(file_path)
    if content is None:
        return None
    content.pop("format", None)
    try:
        marker = CheckpointMarker(**content)
    except TypeError as e:
        raise RunDirError(f"{file_path} is not a checkpoint marker: {e}") from None
    learner_index = path(root_dir, marker.learner_checkpoint) + ".index"
    buffer_done = os.path.join(path(root_dir, marker.replay_buffer_checkpoint), "DONE")
    for needed in (learner_index, buffer_done):
        if not os.path.exists(needed):
            raise RunDirError(
                f"{file_path} names a checkpoint that is missing ({needed}); "
                "the run directory was modified; start a new --root_dir"
            )
    return marker


def read_done(root_dir: str) -> Optional[Dict[str, Any]]:
    """The DONE summary of a finished run, or None if the run is not finished."""
    return _read_json(path(root_dir, DONE_FILE))


def write_done(root_dir: str, summary: Dict[str, Any]) -> None:
    """Marks the run finished; written last, after the final checkpoint."""
    content = dict(summary)
    content.setdefault("finished_at", utc_now())
    _write_json_atomically(path(root_dir, DONE_FILE), content)


def append_eval_metrics(root_dir: str, record: Dict[str, Any]) -> None:
    """Appends one evaluation's metrics to eval/metrics.jsonl."""
    file_path = path(root_dir, EVAL_METRICS_FILE)
    os.makedirs(os.path.dirname(file_path), exist_ok=True)
    with open(file_path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def remove_uncommitted_learner_checkpoints(root_dir: str) -> None:
    """Deletes learner checkpoints of a run that never committed one.

    Without a marker nothing was committed, yet a process killed between its
    first learner checkpoint and the marker leaves a checkpoint that the
    TF-Agents Learner would restore on construction: a fresh start must not
    begin from it.
    """
    checkpoint_dir = path(root_dir, LEARNER_CHECKPOINT_DIR)
    if os.path.isdir(checkpoint_dir) and os.listdir(checkpoint_dir):
        logging.warning(
            "Removing uncommitted learner checkpoints in %s (no checkpoint marker).",
            checkpoint_dir,
        )
        shutil.rmtree(checkpoint_dir)


def latest_policy_checkpoint(root_dir: str) -> Optional[str]:
    """The newest policies/checkpoints/policy_checkpoint_* directory, or None."""
    checkpoints = path(root_dir, os.path.join(POLICIES_DIR, "checkpoints"))
    if not os.path.isdir(checkpoints):
        return None
    names = sorted(
        n for n in os.listdir(checkpoints) if n.startswith("policy_checkpoint_")
    )
    return os.path.join(checkpoints, names[-1]) if names else None
