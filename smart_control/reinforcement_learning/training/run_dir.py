"""Layout of a training run directory, and the commit records that make resume safe.

    <root_dir>/
      operative_config.gin        gin parameters of the run (the binary writes it)
      DONE                        JSON summary, written last when training ends;
                                  a root_dir holding it is never trained again
      train/
        checkpoints/ckpt-<step>*  learner checkpoints (agent + train step), the
                                  TF-Agents Learner's own
        checkpoints/checkpoint    TensorFlow's state file naming the newest
                                  learner checkpoint: the commit point
        checkpoints/commit-<step>.json
                                  what goes with learner checkpoint <step>: env
                                  steps, episodes, the replay buffer checkpoint
                                  and its item count
        events.out.tfevents.*     learner and collect summaries
      eval/
        metrics.jsonl             one JSON line per evaluation
        events.out.tfevents.*     evaluation summaries
      policies/                   see policy_export.py
      replay_buffer/              the ReplayBufferManager's directory
      logs/train.log, native.log  Python and C++ logs (the binary sends them there)

A commit writes the replay buffer checkpoint, then `commit-<step>.json`, then
the learner checkpoint; TensorFlow updates its state file last, atomically.
The newest learner checkpoint is therefore always committed, and the record
beside it names a complete buffer checkpoint (the buffer never prunes the
checkpoint the newest commit names). A process killed before the learner
checkpoint leaves a record no checkpoint matches; it is ignored and later
overwritten. The TF-Agents Learner restores the newest learner checkpoint
when it is built, which is exactly the committed one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Dict, Optional

from smart_control.reinforcement_learning.utils import clock, json_files, run_files

TRAIN_DIR = "train"
EVAL_DIR = "eval"
POLICIES_DIR = "policies"
REPLAY_BUFFER_DIR = run_files.REPLAY_BUFFER_DIR
# Same names as tf_agents.train.learner's constants (TRAIN_DIR,
# POLICY_CHECKPOINT_DIR): the Learner writes and restores checkpoints here.
LEARNER_CHECKPOINT_DIR = os.path.join(TRAIN_DIR, "checkpoints")
EVAL_METRICS_FILE = os.path.join(EVAL_DIR, "metrics.jsonl")
DONE_FILE = run_files.DONE_FILE

_COMMIT_RE = re.compile(r"^commit-(\d+)\.json$")
_STATE_RE = re.compile(r'^model_checkpoint_path:\s*"([^"]+)"', re.MULTILINE)
_COMMIT_FORMAT = 2


class RunDirError(ValueError):
    """A run directory's records are unreadable or name missing files."""


@dataclasses.dataclass(frozen=True)
class Commit:
    """What a committed learner checkpoint goes with.

    Attributes:
      train_step: Learner (gradient) steps at the checkpoint.
      env_steps: Environment steps collected by the run at the checkpoint.
      episodes: Collect episodes finished at the checkpoint.
      replay_buffer_checkpoint: The buffer checkpoint written with it:
        relative to root_dir for the run's own buffer, absolute for a
        remote server's; None when the buffer is checkpointed elsewhere.
      replay_buffer_frames: Items the buffer held at the checkpoint.
      written_at: UTC time the record was written (ISO 8601).
    """

    train_step: int
    env_steps: int
    episodes: int
    replay_buffer_checkpoint: Optional[str]
    replay_buffer_frames: int
    written_at: str = ""


def path(root_dir: str, relative: str) -> str:
    """`relative` under `root_dir` (records store paths relative to it)."""
    return os.path.join(root_dir, relative)


def commit_record_path(root_dir: str, train_step: int) -> str:
    return path(
        root_dir, os.path.join(LEARNER_CHECKPOINT_DIR, f"commit-{train_step}.json")
    )


def write_commit_record(root_dir: str, commit: Commit) -> None:
    """Writes the record of the learner checkpoint about to be saved."""
    content = dataclasses.asdict(commit)
    content["format"] = _COMMIT_FORMAT
    content["written_at"] = commit.written_at or clock.utc_now()
    json_files.write_json_atomic(
        commit_record_path(root_dir, commit.train_step), content
    )


def newest_learner_checkpoint(root_dir: str) -> Optional[int]:
    """The train step of the newest learner checkpoint, from TensorFlow's state file."""
    state_file = path(root_dir, os.path.join(LEARNER_CHECKPOINT_DIR, "checkpoint"))
    try:
        with open(state_file) as f:
            match = _STATE_RE.search(f.read())
    except FileNotFoundError:
        return None
    except OSError as e:
        raise RunDirError(f"cannot read {state_file}: {e}") from None
    if not match:
        raise RunDirError(f"{state_file} names no learner checkpoint")
    name = os.path.basename(match.group(1))
    step = name.rpartition("-")[2]
    if not step.isdigit():
        raise RunDirError(f"{state_file} names {name!r}, not ckpt-<step>")
    return int(step)


def committed(root_dir: str) -> Optional[Commit]:
    """The run's newest commit, or None for a fresh run.

    Raises:
      RunDirError: If the newest learner checkpoint has no readable record or
        its record names a buffer checkpoint that is not there (the run
        directory was modified by hand).
    """
    step = newest_learner_checkpoint(root_dir)
    if step is None:
        return None
    record_path = commit_record_path(root_dir, step)
    content = _read_json(record_path)
    if content is None:
        raise RunDirError(
            f"learner checkpoint ckpt-{step} in {path(root_dir, LEARNER_CHECKPOINT_DIR)} "
            f"has no commit record ({os.path.basename(record_path)}); start a new "
            "--root_dir"
        )
    content.pop("format", None)
    try:
        commit = Commit(**content)
    except TypeError as e:
        raise RunDirError(f"{record_path} is not a commit record: {e}") from None
    buffer_checkpoint = commit.replay_buffer_checkpoint
    if buffer_checkpoint and not os.path.isabs(buffer_checkpoint):
        done = os.path.join(path(root_dir, buffer_checkpoint), run_files.DONE_FILE)
        if not os.path.exists(done):
            raise RunDirError(
                f"{record_path} names a replay buffer checkpoint that is missing "
                f"({os.path.dirname(done)}); start a new --root_dir"
            )
    return commit


def prune_commit_records(root_dir: str, keep_steps) -> None:
    """Removes records of learner checkpoints that no longer exist."""
    directory = path(root_dir, LEARNER_CHECKPOINT_DIR)
    keep = {int(s) for s in keep_steps}
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        match = _COMMIT_RE.match(name)
        if match and int(match.group(1)) not in keep:
            os.remove(os.path.join(directory, name))


def read_done(root_dir: str) -> Optional[Dict[str, Any]]:
    """The DONE summary of a finished run, or None if the run is not finished."""
    return _read_json(path(root_dir, DONE_FILE))


def write_done(root_dir: str, summary: Dict[str, Any]) -> None:
    """Marks the run finished; written last, after the final commit."""
    content = dict(summary)
    content.setdefault("finished_at", clock.utc_now())
    json_files.write_json_atomic(path(root_dir, DONE_FILE), content)


def append_eval_metrics(root_dir: str, record: Dict[str, Any]) -> None:
    """Appends one evaluation's metrics to eval/metrics.jsonl."""
    file_path = path(root_dir, EVAL_METRICS_FILE)
    os.makedirs(os.path.dirname(file_path), exist_ok=True)
    with open(file_path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def latest_policy_checkpoint(root_dir: str) -> Optional[str]:
    """The newest policies/checkpoints/policy_checkpoint_* directory, or None."""
    checkpoints = path(root_dir, os.path.join(POLICIES_DIR, "checkpoints"))
    if not os.path.isdir(checkpoints):
        return None
    names = sorted(
        n for n in os.listdir(checkpoints) if n.startswith("policy_checkpoint_")
    )
    return os.path.join(checkpoints, names[-1]) if names else None


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
