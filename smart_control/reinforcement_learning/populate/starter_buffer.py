"""Fills a starter replay buffer with experience of the populate policy.

One *run* is `steps_per_run` environment steps from a fresh `reset()` of an
environment seeded for that run, so run `i` always produces the same
experience for the same config and seed, wherever and whenever it runs. After
every run the buffer is checkpointed and the run is recorded in
`populate.json`; a resumed populate loads the checkpoint of the last recorded
run and continues with the next run, so no run is repeated or lost.

Crash safety: the buffer's retention never deletes the checkpoint the
populate.json on disk names (`protected_checkpoints`), and a resume checks the
loaded checkpoint's item count against the run records; if the newest
checkpoint is damaged, it resumes from the newest older run that verifies and
collects the later runs again (runs are deterministic, so the content hash is
the same). `--overwrite` takes the buffer's lock and starts the new server
before it deletes anything of the old buffer; a directory in use by another
process is refused.

Files in the buffer directory (besides the manager's own, see
`replay_buffer/checkpoint_store.py`):

    populate.json          config, status, and per run: seed, steps, episodes,
                           reward, content hash, checkpoint name, wall time
    operative_config.gin   written by the binary when it finishes
    logs/native.log        TensorFlow/Reverb C++ logs of the binary
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import gin
import numpy as np
from absl import logging
from tf_agents.drivers import py_driver
from tf_agents.policies import py_policy, py_tf_eager_policy, tf_policy
from tf_agents.specs import tensor_spec

from smart_control.reinforcement_learning.observers.collection_observers import (
    ContentHashObserver,
    EpisodeStatsObserver,
)
from smart_control.reinforcement_learning.populate import state as state_lib
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    BufferDirLockedError,
    ReplayBufferManager,
)
from smart_control.reinforcement_learning.utils import (
    faults,
    json_files,
    run_files,
    specs,
)

STATE_FILE = state_lib.STATE_FILE
# What a populate writes besides the manager's files; --overwrite removes them
# (after the new buffer is up), and nothing else of the directory.
_OWN_OUTPUTS = (STATE_FILE, run_files.OPERATIVE_CONFIG_FILE, run_files.LOGS_DIR)
BufferExistsError = state_lib.BufferExistsError
BufferInUseError = state_lib.BufferInUseError


@dataclasses.dataclass
class PopulateSummary:
    buffer_dir: str
    frames: int
    runs: List[Dict[str, Any]]
    runs_this_call: int
    wall_time_s: float
    content_hash: str

    @property
    def episodes(self) -> int:
        return sum(run["episodes"] for run in self.runs)


def run_seed(seed: int, run: int) -> int:
    """A seed for run `run` that does not depend on how many runs came before."""
    return int(np.random.SeedSequence([seed, run]).generate_state(1)[0])


def _call_with_optional_seed(factory: Callable, seed: int, *args) -> Any:
    try:
        accepts_seed = "seed" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts_seed = False
    return factory(*args, seed=seed) if accepts_seed else factory(*args)


def _as_py_policy(policy: Any) -> py_policy.PyPolicy:
    if isinstance(policy, py_policy.PyPolicy):
        return policy
    if isinstance(policy, tf_policy.TFPolicy):
        return py_tf_eager_policy.PyTFEagerPolicy(policy, use_tf_function=True)
    raise ValueError(
        f"the populate policy factory returned {type(policy).__name__}, not a policy"
    )


def _write_state(buffer_dir: str, state: Dict[str, Any]) -> None:
    json_files.write_json_atomic(os.path.join(buffer_dir, STATE_FILE), state)


def combined_hash(runs: List[Dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for run in runs:
        digest.update(run["content_hash"].encode())
    return digest.hexdigest()


class _Progress:
    """A tqdm bar over all steps of this call, or nothing when disabled."""

    def __init__(self, enabled: bool, total: int, initial: int):
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.2,
            )

    def __call__(self, traj: Any) -> None:
        if self._bar is not None and not traj.is_boundary():
            self._bar.update(1)

    def describe(self, run: int, num_runs: int, frames: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(
                f"run {run}/{num_runs}, {frames} frames", refresh=False
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@gin.configurable(
    denylist=[
        "buffer_dir",
        "resume",
        "overwrite",
        "show_progress",
        "on_buffer_dir_ready",
        "dry_run",
    ]
)
def populate_starter_buffer(
    buffer_dir: str,
    steps_per_run: int = 672,
    num_runs: int = 10,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    env_factory: Callable[..., Any] = gin.REQUIRED,
    policy_factory: Callable[..., Any] = gin.REQUIRED,
    show_progress: bool = True,
    on_buffer_dir_ready: Optional[Callable[[str], Any]] = None,
    dry_run: bool = False,
) -> Optional[PopulateSummary]:
    """Runs the populate policy in the environment and checkpoints each run.

    Args:
      buffer_dir: The buffer directory to write.
      steps_per_run: Environment steps per run (672 = one week of 15 minutes).
      num_runs: Runs in the finished buffer (a resume continues up to it).
      seed: Base seed; run `i` uses `run_seed(seed, i)` for env and policy.
      resume: Continue a buffer whose populate was interrupted.
      overwrite: Delete an existing buffer in `buffer_dir` first.
      env_factory: Returns a PyEnvironment; called with `seed=` if it takes one.
      policy_factory: `(time_step_spec, action_spec)` -> policy; called with
        `seed=` too if it takes one.
      show_progress: Draw a progress bar on stderr.
      on_buffer_dir_ready: Called with `buffer_dir` once every check has
        passed and the buffer's server is up (with `overwrite`, once the old
        buffer is gone).
      dry_run: Build the environment, the policy and the manager as a run
        would (so gin's operative config then says what a populate with this
        config runs: launchers derive a starter buffer's identity from it),
        check the arguments, and return None without touching `buffer_dir`.

    Returns:
      A summary of the whole buffer (all runs, including earlier calls), or
      None for a dry run.

    Raises:
      BufferExistsError: If `buffer_dir` holds a buffer and neither `resume`
        nor `overwrite` is set.
      BufferInUseError: If another process holds `buffer_dir`.
      ValueError: If an argument is out of range, or resume finds a populate
        of another config or an unreadable populate.json.
      CheckpointVerificationError: If resume finds no run checkpoint that
        verifies.
    """
    state_lib.check_settings(steps_per_run, num_runs, seed)
    buffer_dir = os.path.abspath(buffer_dir)
    started = time.time()
    config = {"steps_per_run": steps_per_run, "seed": seed}
    state = (
        None
        if dry_run
        else state_lib.check_before_writing(buffer_dir, resume, overwrite, config)
    )

    # Everything that can refuse the call runs before the directory is touched.
    probe_env = _call_with_optional_seed(env_factory, run_seed(seed, 0))
    probe_policy = _as_py_policy(
        _call_with_optional_seed(
            policy_factory,
            run_seed(seed, 0),
            probe_env.time_step_spec(),
            probe_env.action_spec(),
        )
    )
    # The one derivation of the table's data spec every stage uses; a policy
    # that writes something else (e.g. policy info) cannot fill this buffer.
    data_spec = specs.collect_data_spec(probe_env)
    policy_spec = tensor_spec.from_spec(probe_policy.trajectory_spec)
    if not specs.same_specs(policy_spec, data_spec):
        raise ValueError(
            f"the populate policy writes {policy_spec}, the replay table stores "
            f"{data_spec} (policy info is not stored)"
        )
    probe_env.close()
    manager = ReplayBufferManager(
        data_spec=data_spec,
        checkpoint_dir=buffer_dir,
        protected_checkpoints=lambda: state_lib.committed_checkpoints(buffer_dir),
    )
    state_lib.check_sequence_length(manager.sequence_length, steps_per_run)
    if dry_run:
        return None
    if resume and state is None:
        logging.info("Nothing to resume in %s; starting a new buffer.", buffer_dir)
    done_runs: List[Dict[str, Any]] = list(state["runs"]) if state else []

    progress = None
    try:
        try:
            if done_runs:
                observer = _load_last_run(manager, done_runs)
            else:
                _, observer = manager.create_replay_buffer()
                if overwrite:
                    # The lock is ours and the new server is up: only now
                    # may the old buffer go.
                    manager.discard_stored_checkpoints()
                    _remove_own_outputs(buffer_dir)
        except BufferDirLockedError as e:
            raise BufferInUseError(f"{e}; not touching it") from None
        if on_buffer_dir_ready is not None:
            on_buffer_dir_ready(buffer_dir)
        progress = _Progress(
            show_progress and len(done_runs) < num_runs,
            total=num_runs * steps_per_run,
            initial=len(done_runs) * steps_per_run,
        )
        state = {
            "config": config,
            "capacity": manager.capacity,
            "sequence_length": manager.sequence_length,
            "num_runs": num_runs,
            "status": "running",
            "runs": done_runs,
        }
        _write_state(buffer_dir, state)
        runs_this_call = 0
        for run in range(len(done_runs), num_runs):
            progress.describe(run + 1, num_runs, manager.num_frames())
            record = _collect_run(
                env_factory,
                policy_factory,
                seed,
                run,
                steps_per_run,
                observer,
                progress,
            )
            path = manager.checkpoint()
            record.update(
                checkpoint=os.path.basename(path), frames_after=manager.num_frames()
            )
            done_runs.append(record)
            runs_this_call += 1
            # Written after the checkpoint is complete: a run is recorded only
            # once its data is on disk.
            _write_state(buffer_dir, state)
            faults.reached(faults.POPULATE_RUN_RECORDED)
            logging.info(
                "Run %d/%d: %d steps, mean reward %.4f, %d frames in the buffer.",
                run + 1,
                num_runs,
                record["steps"],
                record["mean_reward"],
                record["frames_after"],
            )
        frames = manager.num_frames()
        state["status"] = "complete"
        state["frames"] = frames
        state["content_hash"] = combined_hash(done_runs)
        _write_state(buffer_dir, state)
    finally:
        if progress is not None:
            progress.close()
        manager.close()
    return PopulateSummary(
        buffer_dir=buffer_dir,
        frames=frames,
        runs=done_runs,
        runs_this_call=runs_this_call,
        wall_time_s=time.time() - started,
        content_hash=combined_hash(done_runs),
    )


def _load_last_run(manager: ReplayBufferManager, done_runs: List[Dict[str, Any]]):
    """Loads the last recorded run's checkpoint, verified against the run records.

    If it does not verify, the manager falls back to the newest older run
    checkpoint that does; the runs after it are dropped from `done_runs` (in
    place) to be collected again.

    Returns:
      The observer.
    """
    expected = {
        run["checkpoint"]: (
            run["frames_after"] if isinstance(run.get("frames_after"), int) else None
        )
        for run in done_runs
    }
    last = os.path.join(
        manager.checkpoint_dir, "checkpoints", done_runs[-1]["checkpoint"]
    )
    _, observer = manager.load_replay_buffer(source_dir=last, expected_items=expected)
    loaded = os.path.basename(manager.loaded_checkpoint)
    keep = max(i for i, run in enumerate(done_runs) if run["checkpoint"] == loaded) + 1
    if keep < len(done_runs):
        logging.warning(
            "Resuming after run %d (checkpoint %s): runs %d-%d are collected again.",
            keep,
            loaded,
            keep + 1,
            len(done_runs),
        )
        del done_runs[keep:]
    return observer


def _remove_own_outputs(buffer_dir: str) -> None:
    for name in _OWN_OUTPUTS:
        path = os.path.join(buffer_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def _collect_run(
    env_factory: Callable[..., Any],
    policy_factory: Callable[..., Any],
    seed: int,
    run: int,
    steps: int,
    observer: Any,
    progress: _Progress,
) -> Dict[str, Any]:
    started = time.time()
    this_seed = run_seed(seed, run)
    env = _call_with_optional_seed(env_factory, this_seed)
    policy = _as_py_policy(
        _call_with_optional_seed(
            policy_factory, this_seed, env.time_step_spec(), env.action_spec()
        )
    )
    stats = EpisodeStatsObserver()
    content = ContentHashObserver()
    driver = py_driver.PyDriver(
        env, policy, observers=[observer, stats, content, progress], max_steps=steps
    )
    driver.run(env.reset())
    # A run ends where the next one's reset begins: no item may span the two.
    observer.reset(write_cached_steps=False)
    env.close()
    return {
        "run": run,
        "seed": this_seed,
        "steps": stats.steps,
        "episodes": stats.episodes,
        "total_reward": stats.total_reward,
        "mean_reward": stats.mean_reward,
        "content_hash": content.hexdigest(),
        "wall_time_s": round(time.time() - started, 3),
    }
