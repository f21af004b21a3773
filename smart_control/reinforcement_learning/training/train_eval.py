"""The train loop: collect with the agent's collect policy, learn, evaluate.

    result = train_eval(root_dir)   # everything else from gin

One iteration collects `collect_steps_per_iteration` environment steps with a
TF-Agents `Actor` running the agent's collect policy, then runs
`train_steps_per_iteration` gradient steps with a TF-Agents `Learner` sampling
the Reverb replay buffer. The Actor keeps its time step between iterations,
so episodes run to their natural end (they are never cut at an iteration).

Run length and every interval except `summary_interval` count environment
steps (for the building, one step is 15 minutes of building time); summaries
are written every `summary_interval` train steps, like TF-Agents does.

A fresh run starts from an empty buffer filled by `initial_collect_steps` of
a uniform random policy, or from a starter buffer (`starter_buffer`, loaded
into the capacity gin gives `ReplayBufferManager.capacity`), in which case
initial collection is skipped.

Resume: the loop commits a checkpoint as learner checkpoint, then buffer
checkpoint, then `train/checkpoint_marker.json` (see `run_dir.py`). Running
again with the same root_dir reloads exactly the pair the marker names and
continues at the marker's env step, without initial collection. A finished
run has a `DONE` file and is not trained again. Ctrl-C checkpoints before
exiting.

Files written: see `run_dir.py`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, Optional

import gin
import numpy as np
import tensorflow as tf
from absl import logging
from tf_agents.agents import tf_agent
from tf_agents.metrics import py_metrics
from tf_agents.policies import (
    greedy_policy,
    py_policy,
    py_tf_eager_policy,
    random_py_policy,
)
from tf_agents.specs import array_spec
from tf_agents.train import actor
from tf_agents.train import learner as learner_lib
from tf_agents.train.utils import spec_utils, train_utils
from tf_agents.trajectories import time_step as ts

from smart_control.reinforcement_learning.agents import sac
from smart_control.reinforcement_learning.replay_buffer import replay_buffer
from smart_control.reinforcement_learning.training import (
    environments,
    evaluation,
    metrics,
    policy_export,
    progress,
    run_dir,
)

AgentFactory = Callable[..., tf_agent.TFAgent]
PolicyFactory = Callable[[ts.TimeStep, array_spec.BoundedArraySpec], py_policy.PyPolicy]

# The Learner's own checkpoint trigger must never fire: this loop checkpoints
# the learner together with the replay buffer. (-1 would disable it too, but
# makes the Learner log a misleading "checkpointing disabled" warning.)
_NEVER = 2**62
# Collect episodes averaged by the collect metrics.
_COLLECT_METRICS_EPISODES = 10


@dataclasses.dataclass
class TrainResult:
    """What a call to `train_eval` did.

    Attributes:
      root_dir: The run directory.
      already_done: The run had finished before (DONE existed); nothing ran.
      done: The DONE summary (the earlier one when `already_done`).
      resumed_from: The checkpoint marker this call resumed from, if any.
      starter_buffer: The starter buffer this run started from, if any.
      train_step: Learner steps at the end.
      env_steps: Environment steps of the run at the end.
      episodes: Collect episodes finished by the run.
      initial_collect_steps: Random-policy steps this call collected.
      replay_buffer_frames_at_start: Items in the buffer once it was opened
        (restored from the marker's checkpoint, or the starter buffer).
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
    resumed_from: Optional[run_dir.CheckpointMarker] = None
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


def _check_int(name: str, value: Any, minimum: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(
            f"train_eval.{name} must be an integer >= {minimum}, got {value!r}"
        )
    return int(value)


@gin.configurable
def train_eval(
    root_dir: str,
    env_factory: environments.EnvFactory = gin.REQUIRED,
    eval_env_factory: Optional[environments.EnvFactory] = None,
    agent_factory: AgentFactory = sac.create_sac_agent,
    baseline_policy_factory: Optional[PolicyFactory] = None,
    starter_buffer: Optional[str] = None,
    # Run length and the collect/learn ratio.
    num_env_steps: int = 100_000,
    initial_collect_steps: int = 1_000,
    collect_steps_per_iteration: int = 1,
    train_steps_per_iteration: int = 1,
    batch_size: int = 256,
    # Evaluation.
    eval_interval: int = 10_000,
    eval_episodes: int = 10,
    # Checkpoints and summaries.
    checkpoint_interval: int = 10_000,
    policy_save_interval: int = 10_000,
    summary_interval: int = 1_000,
    # Seeds.
    seed: int = 0,
    eval_seed: Optional[int] = None,
    # Terminal.
    show_progress: bool = True,
    on_ready: Optional[Callable[[], None]] = None,
) -> TrainResult:
    """Trains an agent, evaluating and checkpointing; resumes if interrupted.

    Args:
      root_dir: Run directory (layout in `run_dir.py`).
      env_factory: Builds the collect environment; called as
        `env_factory(seed=...)` if it takes a seed, else `env_factory()`.
      eval_env_factory: Builds evaluation environments, likewise; None uses
        `env_factory`.
      agent_factory: `agent_factory(time_step_spec, action_spec,
        train_step_counter=...)`, e.g. `create_sac_agent` (the default),
        `create_td3_agent`, `create_ddpg_agent`.
      baseline_policy_factory: `factory(time_step_spec, action_spec)` of a
        PyPolicy evaluated alongside (e.g. `create_schedule_policy`); None for
        no baseline.
      starter_buffer: Replay buffer directory, or one checkpoint directory,
        to start a fresh run from; its items are loaded into this run's
        capacity. Ignored when resuming.
      num_env_steps: Environment steps of the whole run, initial collection
        included (rounded up to whole iterations).
      initial_collect_steps: Environment steps of a uniform random policy
        before learning starts; skipped when the buffer is not empty (starter
        buffer, resume). 0 for none.
      collect_steps_per_iteration: Environment steps per iteration.
      train_steps_per_iteration: Gradient steps per iteration.
      batch_size: Transitions per gradient step.
      eval_interval: Environment steps between evaluations of the greedy
        policy (also one before training and one at the end); 0 for no
        evaluation at all.
      eval_episodes: Episodes per evaluation.
      checkpoint_interval: Environment steps between checkpoints of learner
        and replay buffer; 0 for a checkpoint at the end only.
      policy_save_interval: Environment steps between exports of the greedy
        and collect policies (SavedModels under policies/); 0 for one export
        at the end only.
      summary_interval: Train steps between TensorBoard summaries; 0 for none.
      seed: Seeds TensorFlow, the random initial policy and the collect
        environment (plus the restored env step count when resuming, so a
        resumed run does not replay its first episodes).
      eval_seed: Seed of every evaluation environment; None for `seed + 1`.
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
    _check_int("num_env_steps", num_env_steps, 1)
    _check_int("initial_collect_steps", initial_collect_steps, 0)
    _check_int("collect_steps_per_iteration", collect_steps_per_iteration, 1)
    _check_int("train_steps_per_iteration", train_steps_per_iteration, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("eval_interval", eval_interval, 0)
    _check_int("eval_episodes", eval_episodes, 1)
    _check_int("checkpoint_interval", checkpoint_interval, 0)
    _check_int("policy_save_interval", policy_save_interval, 0)
    _check_int("summary_interval", summary_interval, 0)
    _check_int("seed", seed, 0)
    if eval_seed is not None:
        _check_int("eval_seed", eval_seed, 0)
    if not root_dir:
        raise ValueError(f"root_dir must be a directory path, got {root_dir!r}")
    if env_factory is None:
        raise ValueError("train_eval.env_factory must be set (e.g. in gin)")

    loop = _TrainLoop(
        root_dir=os.path.abspath(root_dir),
        env_factory=env_factory,
        eval_env_factory=eval_env_factory or env_factory,
        agent_factory=agent_factory,
        baseline_policy_factory=baseline_policy_factory,
        starter_buffer=starter_buffer,
        num_env_steps=num_env_steps,
        initial_collect_steps=initial_collect_steps,
        collect_steps_per_iteration=collect_steps_per_iteration,
        train_steps_per_iteration=train_steps_per_iteration,
        batch_size=batch_size,
        eval_interval=eval_interval,
        eval_episodes=eval_episodes,
        checkpoint_interval=checkpoint_interval,
        policy_save_interval=policy_save_interval,
        summary_interval=summary_interval,
        seed=seed,
        eval_seed=seed + 1 if eval_seed is None else eval_seed,
        show_progress=show_progress,
    )
    return loop.run(on_ready)


class _TrainLoop:
    """The steps of one `train_eval` call (built and run once)."""

    def __init__(self, **settings: Any):
        for name, value in settings.items():
            setattr(self, name, value)
        self.result = TrainResult(root_dir=self.root_dir)
        self.start_time = time.monotonic()
        self.progress = progress.Progress(
            self.num_env_steps, enabled=self.show_progress
        )
        self.train_steps = 0
        self.last_eval: Optional[Dict[str, Any]] = None
        self.last_checkpoint_env_steps: Optional[int] = None
        self.ready_to_train = False

    # -- the whole run ----------------------------------------------------------

    def run(self, on_ready: Optional[Callable[[], None]]) -> TrainResult:
        start = self.start_time
        done = run_dir.read_done(self.root_dir)
        if done is not None:
            self.result.already_done = True
            self.result.done = done
            return self.result
        marker = run_dir.read_marker(self.root_dir)
        self.result.resumed_from = marker
        self.manager = None
        self.env = None
        try:
            self._build(marker)
            if on_ready is not None:
                on_ready()
            self._announce(marker)
            try:
                self._collect_initial()
                self._train()
            except KeyboardInterrupt:
                if self.counters.env_steps > (self.last_checkpoint_env_steps or 0):
                    self.progress.message("Interrupted: checkpointing before exit ...")
                    self._checkpoint()
                    self.progress.message(
                        f"Checkpointed at env step {self.counters.env_steps:,}; "
                        "run the same command to resume."
                    )
                raise
            self._finish()
        finally:
            self.progress.close()
            if self.manager is not None:
                self.manager.close()
            if self.env is not None:
                self.env.close()
        self.result.wall_time_s = time.monotonic() - start
        return self.result

    # -- setup --------------------------------------------------------------------

    def _build(self, marker: Optional[run_dir.CheckpointMarker]) -> None:
        """Builds everything; fails before writing anything on a user error."""
        resumed_env_steps = marker.env_steps if marker else 0
        tf.random.set_seed(self.seed)
        self.env = environments.make_environment(
            self.env_factory, self.seed + resumed_env_steps, "env_factory"
        )
        _, action_spec, time_step_spec = spec_utils.get_tensor_specs(self.env)
        self.train_step = train_utils.create_train_step()
        self.agent = self.agent_factory(
            time_step_spec, action_spec, train_step_counter=self.train_step
        )
        self.baseline_policy = None
        if self.baseline_policy_factory is not None:
            # Built now so that a baseline unfit for the environment fails
            # before anything is written.
            self.baseline_policy = self.baseline_policy_factory(
                self.env.time_step_spec(), self.env.action_spec()
            )
        self._open_replay_buffer(marker)
        if marker is None:
            run_dir.remove_uncommitted_learner_checkpoints(self.root_dir)

        # Nothing above writes into root_dir (but the buffer's own directory);
        # from here on the run's files are created.
        self.counters = metrics.RunCounters(
            marker.env_steps if marker else 0, marker.episodes if marker else 0
        )
        keep = _buffer_checkpoints_kept(self.manager)
        sequence_length = self.manager.sequence_length
        self.learner = learner_lib.Learner(
            self.root_dir,
            self.train_step,
            self.agent,
            experience_dataset_fn=lambda: self.manager.get_dataset(
                batch_size=self.batch_size, num_steps=sequence_length
            ),
            checkpoint_interval=_NEVER,
            summary_interval=self.summary_interval,
            max_checkpoints_to_keep=keep,
        )
        # The Learner restored the newest learner checkpoint on construction;
        # a process killed before committing may have left a newer one than
        # the marker's, so restore exactly the committed one.
        self.checkpoint = tf.train.Checkpoint(
            agent=self.agent, train_step=self.train_step
        )
        self.checkpoint_manager = tf.train.CheckpointManager(
            self.checkpoint,
            directory=run_dir.path(self.root_dir, run_dir.LEARNER_CHECKPOINT_DIR),
            max_to_keep=keep,
        )
        if marker is not None:
            learner_checkpoint = run_dir.path(self.root_dir, marker.learner_checkpoint)
            try:
                status = self.checkpoint.restore(learner_checkpoint)
                status.assert_existing_objects_matched()
            except (AssertionError, ValueError, tf.errors.OpError) as e:
                first_line = str(e).strip().split("\n")[0]
                raise ValueError(
                    f"learner checkpoint {learner_checkpoint} does not fit this agent "
                    f"(was the agent's gin config changed?): {first_line}"
                ) from None
            if int(self.train_step.numpy()) != marker.train_step:
                raise RuntimeError(
                    f"restored train step {int(self.train_step.numpy())} from "
                    f"{learner_checkpoint}, the marker says {marker.train_step}"
                )
            self.last_checkpoint_env_steps = marker.env_steps
        self.train_steps = int(self.train_step.numpy())

        self.policy_exporter = policy_export.PolicyExporter(
            run_dir.path(self.root_dir, run_dir.POLICIES_DIR),
            self.agent,
            self.train_step,
            env_steps=lambda: self.counters.env_steps,
        )
        self.collect_policy = py_tf_eager_policy.PyTFEagerPolicy(
            self.agent.collect_policy, use_tf_function=True
        )
        self.greedy_policy = py_tf_eager_policy.PyTFEagerPolicy(
            greedy_policy.GreedyPolicy(self.agent.policy), use_tf_function=True
        )
        self.eval_writer = tf.summary.create_file_writer(
            run_dir.path(self.root_dir, run_dir.EVAL_DIR), flush_millis=10_000
        )
        self.evaluation = evaluation.PeriodicEvaluation(
            self.eval_env_factory,
            self.eval_seed,
            self.eval_episodes,
            self.train_step,
            self.eval_writer,
            self.baseline_policy,
        )
        self.collect_info = metrics.EpisodeInfoTotals(
            self.env, buffer_size=_COLLECT_METRICS_EPISODES
        )

    def _open_replay_buffer(self, marker: Optional[run_dir.CheckpointMarker]) -> None:
        try:
            self.manager = replay_buffer.ReplayBufferManager(
                data_spec=self.agent.collect_data_spec,
                checkpoint_dir=run_dir.path(self.root_dir, run_dir.REPLAY_BUFFER_DIR),
                sequence_length=self.agent.train_sequence_length or 2,
            )
        except TypeError as e:
            if "capacity" not in str(e):
                raise
            raise ValueError(
                "the replay buffer capacity is not set: bind ReplayBufferManager.capacity "
                "in gin (e.g. --gin_bindings='ReplayBufferManager.capacity = 100000')"
            ) from None
        if marker is not None:
            source = run_dir.path(self.root_dir, marker.replay_buffer_checkpoint)
            self.replay_buffer, self.observer = self.manager.load_replay_buffer(
                source_dir=source
            )
        elif self.starter_buffer:
            self.replay_buffer, self.observer = self._load_starter_buffer()
            self.result.starter_buffer = self.starter_buffer
        else:
            self.replay_buffer, self.observer = self.manager.create_replay_buffer()
        info = self.replay_buffer.py_client.server_info()[self.manager.table_name]
        limiter = info.rate_limiter_info
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

    def _load_starter_buffer(self):
        path = os.path.abspath(os.path.expanduser(self.starter_buffer))
        if not os.path.exists(path):
            raise replay_buffer.NoCheckpointFoundError(
                f"starter buffer not found: {path}"
            )
        try:
            return self.manager.load_replay_buffer(source_dir=path)
        except replay_buffer.SpecMismatchError as e:
            # One line naming both specs (the CLI shows first lines only).
            details = "; ".join(line.strip() for line in str(e).splitlines()[1:])
            raise replay_buffer.SpecMismatchError(
                f"starter buffer {path} does not fit this environment and agent: {details}"
            ) from None
        except replay_buffer.NoCheckpointFoundError as e:
            raise replay_buffer.NoCheckpointFoundError(f"starter buffer: {e}") from None

    def _announce(self, marker: Optional[run_dir.CheckpointMarker]) -> None:
        frames = self.manager.num_frames()
        self.result.replay_buffer_frames_at_start = frames
        agent_name = type(self.agent).__name__
        if marker is not None:
            text = (
                f"Resuming {agent_name} in {self.root_dir} from env step "
                f"{marker.env_steps:,} (train step {marker.train_step:,}, "
                f"{frames:,} buffer frames)"
            )
        elif self.result.starter_buffer:
            text = (
                f"Training {agent_name} in {self.root_dir} from starter buffer "
                f"{self.result.starter_buffer} ({frames:,} frames)"
            )
        else:
            text = f"Training {agent_name} in {self.root_dir}"
        if marker is not None and self.starter_buffer:
            text += "; the starter buffer is not used when resuming"
        logging.info("%s", text)
        self.progress.message(text)

    # -- collection and learning ----------------------------------------------

    def _collect_initial(self) -> None:
        """Fills an empty buffer with a uniform random policy."""
        self.ready_to_train = self.manager.num_frames() >= self.min_frames_to_train
        steps = min(
            self.initial_collect_steps, self.num_env_steps - self.counters.env_steps
        )
        if self.manager.num_frames() > 0 or steps <= 0:
            return
        random_policy = random_py_policy.RandomPyPolicy(
            self.env.time_step_spec(), self.env.action_spec(), seed=self.seed
        )
        self.progress.message(f"Initial collection: {steps:,} steps of a random policy")
        start = self.counters.env_steps
        # One step per run() call, so that progress shows; a random policy
        # step costs microseconds, the call overhead too.
        initial_actor = actor.Actor(
            self.env,
            random_policy,
            self.train_step,
            steps_per_run=1,
            observers=[self.observer, self.counters],
        )
        for _ in range(steps):
            initial_actor.run()
            self.progress.update(self.counters.env_steps, self.train_steps)
        self.result.initial_collect_steps = self.counters.env_steps - start
        # The collect Actor starts with a reset: end the buffer's episode here
        # so that no stored transition joins the two episodes.
        self.observer.reset(write_cached_steps=False)

    def _train(self) -> None:
        """Interleaves collection and learning until the env step budget."""
        collect_metrics = [
            py_metrics.AverageReturnMetric(buffer_size=_COLLECT_METRICS_EPISODES),
            py_metrics.AverageEpisodeLengthMetric(
                buffer_size=_COLLECT_METRICS_EPISODES
            ),
        ]
        collect_actor = actor.Actor(
            self.env,
            self.collect_policy,
            self.train_step,
            steps_per_run=self.collect_steps_per_iteration,
            metrics=collect_metrics,
            observers=[self.observer, self.counters, self.collect_info],
            summary_dir=(
                run_dir.path(self.root_dir, run_dir.TRAIN_DIR)
                if self.summary_interval
                else None
            ),
            summary_interval=self.summary_interval,
        )
        counters = self.counters
        next_eval = self._next_multiple(counters.env_steps, self.eval_interval)
        next_checkpoint = self._next_multiple(
            counters.env_steps, self.checkpoint_interval
        )
        next_summary = self._next_multiple(self.train_steps, self.summary_interval)
        next_policy_export = self._next_multiple(
            counters.env_steps, self.policy_save_interval
        )
        if self.eval_interval and self.result.resumed_from is None:
            self._evaluate()  # The untrained policy, and the baseline.
        self.env_rate = metrics.RateMeter(counters.env_steps)
        self.train_rate = metrics.RateMeter(self.train_steps)
        self.loop_start = (time.monotonic(), counters.env_steps, self.train_steps)
        loop_cpu_start = time.process_time()
        self.progress.start(counters.env_steps)

        while counters.env_steps < self.num_env_steps:
            collect_actor.run()
            if not self.ready_to_train:
                # Sampling below the table's minimum size blocks forever, and
                # the observer sends items asynchronously: wait for them.
                self.ready_to_train = (
                    self.manager.num_frames() >= self.min_frames_to_train
                )
            if self.ready_to_train:
                self.learner.run(iterations=self.train_steps_per_iteration)
                self.train_steps += self.train_steps_per_iteration
            env_steps = counters.env_steps
            if env_steps >= next_eval:
                self._evaluate()
                next_eval = self._next_multiple(env_steps, self.eval_interval)
            if env_steps >= next_checkpoint:
                self._checkpoint()
                next_checkpoint = self._next_multiple(
                    env_steps, self.checkpoint_interval
                )
            if env_steps >= next_policy_export:
                self.policy_exporter.export()
                next_policy_export = self._next_multiple(
                    env_steps, self.policy_save_interval
                )
            if self.train_steps >= next_summary:
                self._write_summaries()
                next_summary = self._next_multiple(
                    self.train_steps, self.summary_interval
                )
            self.progress.update(env_steps, self.train_steps)

        elapsed = time.monotonic() - self.loop_start[0]
        cpu_elapsed = time.process_time() - loop_cpu_start
        train_steps = self.train_steps - self.loop_start[2]
        if elapsed > 0:
            self.result.env_steps_per_s = (
                counters.env_steps - self.loop_start[1]
            ) / elapsed
            self.result.train_steps_per_s = train_steps / elapsed
        if cpu_elapsed > 0:
            self.result.train_steps_per_cpu_s = train_steps / cpu_elapsed

    @staticmethod
    def _next_multiple(value: int, interval: int) -> float:
        """The next multiple of `interval` above `value` (inf when 0)."""
        if interval <= 0:
            return float("inf")
        return (value // interval + 1) * interval

    # -- periodic work ----------------------------------------------------------

    def _evaluate(self) -> None:
        env_steps, train_step = self.counters.env_steps, self.train_steps
        results = self.evaluation(self.greedy_policy, train_step)
        evaluation.write_summaries(
            self.eval_writer,
            "MetricsByEnvSteps",
            {evaluation.AVERAGE_RETURN: results[evaluation.AVERAGE_RETURN]},
            env_steps,
        )
        self.eval_writer.flush()
        record = {
            "env_steps": env_steps,
            "train_step": train_step,
            "time": run_dir.utc_now(),
            # Seconds since this call of train_eval started (a resumed run
            # restarts the clock).
            "elapsed_s": round(time.monotonic() - self.start_time, 2),
            "metrics": results,
        }
        if self.evaluation.baseline_results:
            record["baseline"] = self.evaluation.baseline_results
        run_dir.append_eval_metrics(self.root_dir, record)
        self.last_eval = record
        self.result.last_eval = record
        self.progress.last_eval = f"{self.evaluation.describe(results)} @ {env_steps:,}"
        logging.info(
            "Eval at env step %d, train step %d: %s", env_steps, train_step, results
        )

    def _checkpoint(self) -> None:
        """Commits learner + buffer checkpoints: both first, the marker last."""
        learner_path = self.checkpoint_manager.save(checkpoint_number=self.train_step)
        buffer_path = self.manager.checkpoint()
        frames = self.manager.num_frames()
        run_dir.write_marker(
            self.root_dir,
            run_dir.CheckpointMarker(
                train_step=int(self.train_step.numpy()),
                env_steps=self.counters.env_steps,
                episodes=self.counters.episodes,
                learner_checkpoint=os.path.relpath(learner_path, self.root_dir),
                replay_buffer_checkpoint=os.path.relpath(buffer_path, self.root_dir),
                replay_buffer_frames=frames,
            ),
        )
        self.last_checkpoint_env_steps = self.counters.env_steps
        logging.info(
            "Checkpoint at env step %d: %s + %s (%d frames)",
            self.counters.env_steps,
            learner_path,
            buffer_path,
            frames,
        )

    def _write_summaries(self) -> None:
        scalars = {
            "Metrics/EnvironmentSteps": self.counters.env_steps,
            "Metrics/NumberOfEpisodes": self.counters.episodes,
            "ReplayBuffer/Frames": self.manager.num_frames(),
            "RunTime/env_steps_per_sec": self.env_rate.rate(self.counters.env_steps),
            "RunTime/train_steps_per_sec": self.train_rate.rate(self.train_steps),
        }
        for name, value in self.collect_info.results().items():
            scalars[f"Metrics/{name}"] = value
        writer = self.learner.train_summary_writer
        with writer.as_default(), tf.summary.record_if(True):
            for name, value in scalars.items():
                tf.summary.scalar(name, value, step=self.train_steps)

    # -- the end ----------------------------------------------------------------

    def _finish(self) -> None:
        env_steps = self.counters.env_steps
        if self.eval_interval and (
            self.last_eval is None or self.last_eval["env_steps"] != env_steps
        ):
            self._evaluate()
        if self.last_checkpoint_env_steps != env_steps:
            self._checkpoint()
        if self.policy_exporter.last_export_train_step != int(self.train_step.numpy()):
            self.policy_exporter.export()
        self.eval_writer.flush()
        self.learner.train_summary_writer.flush()
        result = self.result
        result.train_step = int(self.train_step.numpy())
        result.env_steps = env_steps
        result.episodes = self.counters.episodes
        result.replay_buffer_frames = self.manager.num_frames()
        policy_checkpoint = run_dir.latest_policy_checkpoint(self.root_dir)
        run_dir.write_done(
            self.root_dir,
            {
                "train_step": result.train_step,
                "env_steps": result.env_steps,
                "episodes": result.episodes,
                "replay_buffer_frames": result.replay_buffer_frames,
                "last_eval": result.last_eval,
                "greedy_policy": os.path.join(run_dir.POLICIES_DIR, "greedy_policy"),
                "policy_checkpoint": (
                    os.path.relpath(policy_checkpoint, self.root_dir)
                    if policy_checkpoint
                    else None
                ),
            },
        )
        self.progress.update(env_steps, self.train_steps, force=True)


def _buffer_checkpoints_kept(manager: replay_buffer.ReplayBufferManager) -> int:
    """How many checkpoints the buffer keeps; the learner keeps as many."""
    kept = getattr(manager, "num_checkpoints_to_keep", None)
    if kept is None:
        # ReplayBufferManager has no public accessor for it yet.
        kept = manager.num_checkpoints_to_keep
    return int(kept)
