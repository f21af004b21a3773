"""The embedded topology: collect and learn in turn, in one process.

    result = train_eval(root_dir)   # TrainConfig and train_eval.* from gin

One iteration collects `collect_steps_per_iteration` environment steps with a
TF-Agents `Actor` running the agent's collect policy into the run's own
Reverb replay buffer, then runs `train_steps_per_iteration` gradient steps
through the `TrainingCore` (the Learner and its triggers: commits, policy
exports, evaluations, summaries). The Actor keeps its time step between
iterations, so episodes run to their natural end.

The run ends at `TrainConfig.num_train_steps` train steps; every interval
counts train steps (see `config.py`), environment steps are reported beside.
A fresh run starts from an empty buffer filled by `initial_collect_steps` of
a uniform random policy, or from a starter buffer (`starter_buffer`, loaded
into `ReplayBufferManager.capacity`), in which case initial collection is
skipped.

Resume: running again with the same root_dir continues from the newest
commit (`run_dir.py`): the Learner restores its newest checkpoint, the
buffer is loaded from the checkpoint its record names (and verified against
the item count recorded), and counting continues at the recorded env step.
A finished run has a `DONE` file and is not trained again. Ctrl-C (and
SIGTERM in the binary) commits before exiting.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Optional

import gin
import tensorflow as tf
from absl import logging
from tf_agents.metrics import py_metrics
from tf_agents.policies import py_tf_eager_policy, random_py_policy
from tf_agents.train import actor
from tf_agents.train.utils import train_utils

from smart_control.reinforcement_learning.replay_buffer import replay_buffer
from smart_control.reinforcement_learning.training import (
    core as core_lib,
)
from smart_control.reinforcement_learning.training import (
    metrics,
    run_dir,
)
from smart_control.reinforcement_learning.training.builder import ExperimentBuilder
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils import validation

# Collect episodes averaged by the collect metrics.
_COLLECT_METRICS_EPISODES = 10


@dataclasses.dataclass
class TrainResult:
    """What a call to `train_eval` did.

    Attributes:
      root_dir: The run directory.
      already_done: The run had finished before (DONE existed); nothing ran.
      done: The DONE summary (the earlier one when `already_done`).
      resumed_from: The commit this call resumed from, if any.
      starter_buffer: The starter buffer this run started from, if any.
      train_step: Learner steps at the end.
      env_steps: Environment steps of the run at the end.
      episodes: Collect episodes finished by the run.
      initial_collect_steps: Random-policy steps this call collected.
      replay_buffer_frames_at_start: Items in the buffer once it was opened.
      replay_buffer_frames: Items in the buffer at the end.
      last_eval: The last evaluation record (see eval/metrics.jsonl).
      wall_time_s: Seconds this call took.
      env_steps_per_s: Environment steps per second of this call's loop.
      train_steps_per_s: Learner steps per second of this call's loop.
      train_steps_per_cpu_s: Learner steps per second of process CPU time
        (all threads) in this call's loop; less sensitive than wall time to
        other processes on the machine.
    """

    root_dir: str
    already_done: bool = False
    done: Optional[Dict[str, Any]] = None
    resumed_from: Optional[run_dir.Commit] = None
    starter_buffer: Optional[str] = None
    train_step: int = 0
    env_steps: int = 0
    episodes: int = 0
    initial_collect_steps: int = 0
    replay_buffer_frames_at_start: int = 0
    replay_buffer_frames: int = 0
    last_eval: Optional[Dict[str, Any]] = None
    wall_time_s: float = 0.0
    env_steps_per_s: float = 0.0
    train_steps_per_s: float = 0.0
    train_steps_per_cpu_s: float = 0.0


@gin.configurable(denylist=["root_dir", "config", "show_progress", "on_ready"])
def train_eval(
    root_dir: str,
    config: Optional[TrainConfig] = None,
    starter_buffer: Optional[str] = None,
    initial_collect_steps: int = 1_000,
    collect_steps_per_iteration: int = 1,
    train_steps_per_iteration: int = 1,
    show_progress: bool = True,
    on_ready: Optional[Callable[[], None]] = None,
) -> TrainResult:
    """Trains an agent in one process, evaluating and committing; resumes.

    Args:
      root_dir: Run directory (layout in `run_dir.py`).
      config: The learning setup; None builds `TrainConfig()` from gin.
      starter_buffer: Replay buffer directory, or one checkpoint directory,
        to start a fresh run from; its items are loaded into this run's
        capacity. Ignored when resuming.
      initial_collect_steps: Environment steps of a uniform random policy
        before learning starts; skipped when the buffer is not empty (starter
        buffer, resume). 0 for none.
      collect_steps_per_iteration: Environment steps per iteration.
      train_steps_per_iteration: Gradient steps per iteration.
      show_progress: Whether to show a progress line on stderr.
      on_ready: Called once everything is built, before collection starts
        (the binary writes the operative gin config there).

    Returns:
      A `TrainResult`.

    Raises:
      ValueError: On an invalid argument, a starter buffer whose spec does not
        fit the environment and agent (`SpecMismatchError`), a damaged run
        directory (`run_dir.RunDirError`), or a Reverb rate limiter that could
        deadlock a single-process loop.
      FileNotFoundError: If the starter buffer holds no checkpoint
        (`NoCheckpointFoundError`).
    """
    validation.check_int("train_eval.initial_collect_steps", initial_collect_steps, 0)
    validation.check_int(
        "train_eval.collect_steps_per_iteration", collect_steps_per_iteration, 1
    )
    validation.check_int(
        "train_eval.train_steps_per_iteration", train_steps_per_iteration, 1
    )
    if not root_dir:
        raise ValueError(f"root_dir must be a directory path, got {root_dir!r}")
    loop = _EmbeddedLoop(
        root_dir=os.path.abspath(root_dir),
        config=config if config is not None else TrainConfig(),
        starter_buffer=starter_buffer,
        initial_collect_steps=initial_collect_steps,
        collect_steps_per_iteration=collect_steps_per_iteration,
        train_steps_per_iteration=train_steps_per_iteration,
        show_progress=show_progress,
    )
    return loop.run(on_ready)


@dataclasses.dataclass
class _EmbeddedLoop:
    """The steps of one `train_eval` call (built and run once)."""

    root_dir: str
    config: TrainConfig
    starter_buffer: Optional[str]
    initial_collect_steps: int
    collect_steps_per_iteration: int
    train_steps_per_iteration: int
    show_progress: bool

    def run(self, on_ready: Optional[Callable[[], None]]) -> TrainResult:
        start = time.monotonic()
        self.result = TrainResult(root_dir=self.root_dir)
        done = run_dir.read_done(self.root_dir)
        if done is not None:
            self.result.already_done, self.result.done = True, done
            return self.result
        commit = run_dir.committed(self.root_dir)
        self.result.resumed_from = commit
        self.manager = self.env = self.core = None
        try:
            self._build(commit)
            if on_ready is not None:
                on_ready()
            self._announce(commit)
            try:
                self._collect_initial()
                self.core.start(fresh=commit is None)
                self._train()
            except KeyboardInterrupt:
                self.core.interrupted()
                raise
            self._finish()
        finally:
            if self.core is not None:
                self.core.close()
            if self.manager is not None:
                self.manager.close()
            if self.env is not None:
                self.env.close()
        self.result.wall_time_s = time.monotonic() - start
        return self.result

    # -- setup --------------------------------------------------------------------

    def _build(self, commit: Optional[run_dir.Commit]) -> None:
        """Builds everything; fails before writing anything on a user error."""
        config = self.config
        builder = ExperimentBuilder(config)
        tf.random.set_seed(config.seed)
        # A resumed run does not replay its first episodes.
        self.env = builder.make_environment(
            config.seed + (commit.env_steps if commit else 0)
        )
        self.manager = builder.make_replay_manager(
            self.env,
            checkpoint_dir=run_dir.path(self.root_dir, run_dir.REPLAY_BUFFER_DIR),
            # Read at every prune: retention never deletes the buffer
            # checkpoint of the newest commit on disk.
            protected_checkpoints=lambda: _committed_buffer_checkpoint(self.root_dir),
        )
        train_step = train_utils.create_train_step()
        self.agent = builder.make_agent(
            self.env, train_step, self.manager.sequence_length
        )
        if commit is not None:
            # Before the buffer is opened (its lock, its metadata) or a
            # summary is written.
            core_lib.check_learner_checkpoint(self.root_dir, self.agent, train_step)
        self._open_replay_buffer(commit)

        # Nothing above writes into root_dir (but the buffer's own directory);
        # from here on the run's files are created.
        self.counters = metrics.RunCounters(
            commit.env_steps if commit else 0, commit.episodes if commit else 0
        )
        self.collect_info = metrics.EpisodeInfoTotals(
            self.env, buffer_size=_COLLECT_METRICS_EPISODES
        )
        self.env_rate = metrics.RateMeter(self.counters.env_steps)
        self.train_rate = metrics.RateMeter(0)
        manager = self.manager
        self.core = core_lib.TrainingCore(
            self.root_dir,
            config,
            self.agent,
            train_step,
            lambda: manager.get_dataset(
                batch_size=config.batch_size, num_steps=manager.sequence_length
            ),
            checkpoints_to_keep=manager.num_checkpoints_to_keep,
            counters=lambda: (self.counters.env_steps, self.counters.episodes),
            checkpoint_buffer=self._checkpoint_buffer,
            eval_env_factory=config.env_factory,
            scalars=self._scalars,
            show_progress=self.show_progress,
        )
        restored = self.core.step
        expected = commit.train_step if commit else 0
        if restored != expected:
            raise run_dir.RunDirError(
                f"restored train step {restored} from {self.root_dir}, the commit "
                f"record says {expected}"
            )
        self.train_rate = metrics.RateMeter(restored)

    def _open_replay_buffer(self, commit: Optional[run_dir.Commit]) -> None:
        if commit is not None:
            source = run_dir.path(self.root_dir, commit.replay_buffer_checkpoint)
            # Exactly the committed checkpoint, with the item count its record
            # names: no fallback to an older buffer behind the learner's.
            self._opened = self.manager.load_replay_buffer(
                source_dir=source,
                expected_items={os.path.basename(source): commit.replay_buffer_frames},
            )
        elif self.starter_buffer:
            self._load_starter_buffer()
            self.result.starter_buffer = self.starter_buffer
        else:
            self._opened = self.manager.create_replay_buffer()
        self.observer = self._opened[1]
        table = self._opened[0].py_client.server_info()[self.manager.table_name]
        limiter = table.rate_limiter_info
        if limiter.max_diff < 1e300 or limiter.min_diff > -1e300:
            # Collection and learning take turns in this one thread: a limiter
            # that blocks inserts (or samples beyond the minimum size) would
            # wait forever for the other side.
            raise ValueError(
                "train_eval runs collection and learning in one thread and needs a "
                "replay buffer rate limiter that never blocks inserts: use "
                "ReplayBufferManager.rate_limiter_factory = @min_size_rate_limiter"
            )
        self.min_frames_to_train = max(1, int(limiter.min_size_to_sample))
        if self.min_frames_to_train > self.manager.capacity:
            raise ValueError(
                f"the rate limiter waits for {self.min_frames_to_train} items before "
                f"sampling, more than ReplayBufferManager.capacity = "
                f"{self.manager.capacity}"
            )

    def _load_starter_buffer(self) -> None:
        path = os.path.abspath(os.path.expanduser(self.starter_buffer))
        if not os.path.exists(path):
            raise replay_buffer.NoCheckpointFoundError(
                f"starter buffer not found: {path}"
            )
        try:
            self._opened = self.manager.load_replay_buffer(source_dir=path)
        except replay_buffer.SpecMismatchError as e:
            # One line naming both specs (the CLI shows first lines only).
            details = "; ".join(line.strip() for line in str(e).splitlines()[1:])
            raise replay_buffer.SpecMismatchError(
                f"starter buffer {path} does not fit this environment and agent: {details}"
            ) from None
        except replay_buffer.NoCheckpointFoundError as e:
            raise replay_buffer.NoCheckpointFoundError(f"starter buffer: {e}") from None

    def _announce(self, commit: Optional[run_dir.Commit]) -> None:
        frames = self.manager.num_frames()
        self.result.replay_buffer_frames_at_start = frames
        agent_name = type(self.agent).__name__
        if commit is not None:
            text = (
                f"Resuming {agent_name} in {self.root_dir} from train step "
                f"{commit.train_step:,} (env step {commit.env_steps:,}, "
                f"{frames:,} buffer frames)"
            )
        elif self.result.starter_buffer:
            text = (
                f"Training {agent_name} in {self.root_dir} from starter buffer "
                f"{self.result.starter_buffer} ({frames:,} frames)"
            )
        else:
            text = f"Training {agent_name} in {self.root_dir}"
        if commit is not None and self.starter_buffer:
            text += "; the starter buffer is not used when resuming"
        logging.info("%s", text)
        self.core.progress.message(text)

    # -- collection and learning ----------------------------------------------

    def _checkpoint_buffer(self):
        path = self.manager.checkpoint()
        return os.path.relpath(path, self.root_dir), self.manager.num_frames()

    def _collect_initial(self) -> None:
        """Fills an empty buffer with a uniform random policy."""
        steps = self.initial_collect_steps
        if self.manager.num_frames() > 0 or steps <= 0:
            return
        random_policy = random_py_policy.RandomPyPolicy(
            self.env.time_step_spec(), self.env.action_spec(), seed=self.config.seed
        )
        self.core.progress.message(
            f"Initial collection: {steps:,} steps of a random policy"
        )
        start = self.counters.env_steps
        initial_actor = actor.Actor(
            self.env,
            random_policy,
            self.core.train_step,
            steps_per_run=steps,
            observers=[self.observer, self.counters],
        )
        initial_actor.run()
        self.result.initial_collect_steps = self.counters.env_steps - start
        # The collect Actor starts with a reset: end the buffer's episode here
        # so that no stored transition joins the two episodes.
        self.observer.reset(write_cached_steps=False)

    def _train(self) -> None:
        """Interleaves collection and learning until the train step budget."""
        collect_policy = py_tf_eager_policy.PyTFEagerPolicy(
            self.agent.collect_policy, use_tf_function=True
        )
        summary_interval = self.config.summary_interval
        collect_actor = actor.Actor(
            self.env,
            collect_policy,
            self.core.train_step,
            steps_per_run=self.collect_steps_per_iteration,
            metrics=[
                py_metrics.AverageReturnMetric(buffer_size=_COLLECT_METRICS_EPISODES),
                py_metrics.AverageEpisodeLengthMetric(
                    buffer_size=_COLLECT_METRICS_EPISODES
                ),
            ],
            observers=[self.observer, self.counters, self.collect_info],
            summary_dir=(
                run_dir.path(self.root_dir, run_dir.TRAIN_DIR)
                if summary_interval
                else None
            ),
            summary_interval=summary_interval,
        )
        ready = self.manager.num_frames() >= self.min_frames_to_train
        cpu_start = time.process_time()
        train_start = self.core.step
        while not self.core.done_training:
            collect_actor.run()
            if not ready:
                # Sampling below the table's minimum size blocks forever, and
                # the observer sends items asynchronously: wait for them.
                ready = self.manager.num_frames() >= self.min_frames_to_train
            if ready:
                self.core.train(self.train_steps_per_iteration)
            else:
                self.core.progress.update(self.core.step, self.counters.env_steps)
        cpu = time.process_time() - cpu_start
        rates = self.core.rates()
        self.result.env_steps_per_s = rates["env_steps_per_s"]
        self.result.train_steps_per_s = rates["train_steps_per_s"]
        if cpu > 0:
            self.result.train_steps_per_cpu_s = (self.core.step - train_start) / cpu

    def _scalars(self) -> Dict[str, float]:
        scalars = {
            "Metrics/EnvironmentSteps": self.counters.env_steps,
            "Metrics/NumberOfEpisodes": self.counters.episodes,
            "ReplayBuffer/Frames": self.manager.num_frames(),
            "RunTime/env_steps_per_sec": self.env_rate.rate(self.counters.env_steps),
            "RunTime/train_steps_per_sec": self.train_rate.rate(self.core.step),
        }
        for name, value in self.collect_info.results().items():
            scalars[f"Metrics/{name}"] = value
        return scalars

    # -- the end ----------------------------------------------------------------

    def _finish(self) -> None:
        result = self.result
        result.env_steps = self.counters.env_steps
        result.episodes = self.counters.episodes
        done = self.core.finish(
            {
                "episodes": self.counters.episodes,
                "replay_buffer_frames": self.manager.num_frames(),
            }
        )
        result.train_step = done["train_step"]
        result.replay_buffer_frames = done["replay_buffer_frames"]
        result.last_eval = self.core.last_eval
        result.done = done


def _committed_buffer_checkpoint(root_dir: str) -> List[str]:
    """The buffer checkpoint the newest commit names (none for a fresh run)."""
    commit = run_dir.committed(root_dir)
    if commit is None or not commit.replay_buffer_checkpoint:
        return []
    return [commit.replay_buffer_checkpoint]
