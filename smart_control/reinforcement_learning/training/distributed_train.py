"""The trainer of a distributed run: learn from a remote Reverb server.

    result = train_from_server(root_dir, "host:8000", "host:8001")

Collectors (`distributed/collector.py`) fill the replay server; this loop
samples it with a TF-Agents `Learner`, pushes the collect policy's weights
to the weights table every `push_interval` train steps (the first push
after the first train steps, so collectors act with their initial policy
until learning has started), evaluates, exports policies and checkpoints the
learner. The server checkpoints the buffer on its own.

Sampling blocks, rather than failing, while the buffer is below the rate
limiter's minimum size, while a `SampleToInsertRatio` limiter waits for
inserts, and while the server is down or restarting (Reverb's dataset
reconnects); a line saying which is logged every `stall_log_interval_s`.

Run length and every interval count train steps. Resume: running again with
the same root_dir restores the newest learner checkpoint and continues; a
finished run (DONE) is left alone. The run directory has the layout of
`run_dir.py` except `replay_buffer/`, which belongs to the server
(`reverb_server.py --root_dir=<root_dir>/replay_buffer` when launched by
run_experiment), and adds the collectors' `collect/task_<k>/`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, Optional

import gin
import reverb
import tensorflow as tf
from absl import logging
from tf_agents.policies import greedy_policy, py_tf_eager_policy
from tf_agents.train import learner as learner_lib
from tf_agents.train.utils import spec_utils, train_utils

from smart_control.reinforcement_learning.agents import sac
from smart_control.reinforcement_learning.distributed import (
    remote_replay,
    server_health,
    variables,
)
from smart_control.reinforcement_learning.training import (
    environments,
    evaluation,
    policy_export,
    progress,
    run_dir,
)

# This loop saves learner checkpoints itself (at its intervals and at the
# end); the Learner's own trigger must never fire.
_NEVER = 2**62


@dataclasses.dataclass
class DistributedTrainResult:
    """What a call to `train_from_server` did.

    Attributes:
      root_dir: The run directory.
      already_done: The run had finished before (DONE existed); nothing ran.
      done: The DONE summary (the earlier one when `already_done`).
      resumed_from_train_step: Train step restored from a checkpoint, if any.
      train_step: Learner steps at the end.
      replay_buffer_frames: Items in the server's table at the end.
      items_inserted: Items the server accepted while this call trained.
      weight_pushes: Successful pushes of the policy weights.
      failed_weight_pushes: Pushes that failed (server down).
      replay_server_outages: Times the replay server became unreachable.
      last_eval: The last evaluation record (see eval/metrics.jsonl).
      wall_time_s: Seconds this call took.
      train_steps_per_s: Learner steps per second of this call's loop.
    """

    root_dir: str
    already_done: bool = False
    done: Optional[Dict[str, Any]] = None
    resumed_from_train_step: Optional[int] = None
    train_step: int = 0
    replay_buffer_frames: int = 0
    items_inserted: int = 0
    weight_pushes: int = 0
    failed_weight_pushes: int = 0
    replay_server_outages: int = 0
    last_eval: Optional[Dict[str, Any]] = None
    wall_time_s: float = 0.0
    train_steps_per_s: float = 0.0


@gin.configurable(
    denylist=[
        "root_dir",
        "replay_server_address",
        "variable_server_address",
        "on_ready",
    ]
)
def train_from_server(
    root_dir: str,
    replay_server_address: str,
    variable_server_address: Optional[str] = None,
    env_factory: environments.EnvFactory = gin.REQUIRED,
    eval_env_factory: Optional[environments.EnvFactory] = None,
    agent_factory: Callable[..., Any] = sac.create_sac_agent,
    baseline_policy_factory: Optional[Callable[..., Any]] = None,
    num_train_steps: int = 100_000,
    batch_size: int = 256,
    train_steps_per_run: int = 10,
    push_interval: int = 100,
    eval_interval: int = 10_000,
    eval_episodes: int = 10,
    checkpoint_interval: int = 10_000,
    policy_save_interval: int = 10_000,
    summary_interval: int = 1_000,
    seed: int = 0,
    eval_seed: Optional[int] = None,
    stall_log_interval_s: float = 30.0,
    connect_timeout_s: float = 600.0,
    show_progress: bool = True,
    on_ready: Optional[Callable[[], None]] = None,
) -> DistributedTrainResult:
    """Trains from the replay server until `num_train_steps`; resumes if interrupted.

    Args:
      root_dir: Run directory (layout above).
      replay_server_address: "host:port" of the replay server.
      variable_server_address: "host:port" of the policy weights table; None
        pushes no weights.
      env_factory: Builds an environment for the specs (seeded like train_eval).
      eval_env_factory: Builds evaluation environments; None uses env_factory.
      agent_factory: The agent, as in `train_eval` (same gin config as the
        collectors and the server).
      baseline_policy_factory: A PyPolicy evaluated alongside, or None.
      num_train_steps: Learner steps of the whole run.
      batch_size: Transitions per gradient step.
      train_steps_per_run: Gradient steps per `Learner.run` call (one
        tf.function call): larger is faster, smaller reacts sooner.
      push_interval: Train steps between pushes of the policy weights.
      eval_interval: Train steps between evaluations (and one at the end);
        0 for none.
      eval_episodes: Episodes per evaluation.
      checkpoint_interval: Train steps between learner checkpoints (and one
        at the end); 0 for the end only.
      policy_save_interval: Train steps between policy exports (and one at
        the end); 0 for the end only.
      summary_interval: Train steps between TensorBoard summaries; 0 for none.
      seed: Seeds TensorFlow.
      eval_seed: Seed of every evaluation environment; None for `seed + 1`.
      stall_log_interval_s: Seconds without a train step between log lines.
      connect_timeout_s: How long to wait for the replay server at start.
      show_progress: Whether to show a progress line on stderr.
      on_ready: Called once connected, before training starts.
    """
    for name, value, minimum in (
        ("num_train_steps", num_train_steps, 1),
        ("batch_size", batch_size, 1),
        ("train_steps_per_run", train_steps_per_run, 1),
        ("push_interval", push_interval, 1),
        ("eval_interval", eval_interval, 0),
        ("eval_episodes", eval_episodes, 1),
        ("checkpoint_interval", checkpoint_interval, 0),
        ("policy_save_interval", policy_save_interval, 0),
        ("summary_interval", summary_interval, 0),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"train_from_server.{name} must be an integer >= {minimum}, got {value!r}"
            )
    result = DistributedTrainResult(root_dir=os.path.abspath(root_dir))
    done = run_dir.read_done(result.root_dir)
    if done is not None:
        result.already_done, result.done = True, done
        return result
    loop = _DistributedLoop(
        result=result,
        replay_server_address=replay_server_address,
        variable_server_address=variable_server_address,
        env_factory=env_factory,
        eval_env_factory=eval_env_factory or env_factory,
        agent_factory=agent_factory,
        baseline_policy_factory=baseline_policy_factory,
        num_train_steps=num_train_steps,
        batch_size=batch_size,
        train_steps_per_run=train_steps_per_run,
        push_interval=push_interval,
        eval_interval=eval_interval,
        eval_episodes=eval_episodes,
        checkpoint_interval=checkpoint_interval,
        policy_save_interval=policy_save_interval,
        summary_interval=summary_interval,
        seed=seed,
        eval_seed=seed + 1 if eval_seed is None else eval_seed,
        stall_log_interval_s=stall_log_interval_s,
        connect_timeout_s=connect_timeout_s,
        show_progress=show_progress,
    )
    return loop.run(on_ready)


def _next_multiple(value: int, interval: int) -> float:
    return float("inf") if interval <= 0 else (value // interval + 1) * interval


class _DistributedLoop:
    def __init__(self, result: DistributedTrainResult, **settings: Any):
        for name, value in settings.items():
            setattr(self, name, value)
        self.result = result
        self.root_dir = result.root_dir
        self.progress = progress.Progress(
            self.num_train_steps, enabled=self.show_progress, counts="train"
        )
        self.manager = None

    def run(self, on_ready: Optional[Callable[[], None]]) -> DistributedTrainResult:
        start = time.monotonic()
        env = environments.make_environment(self.env_factory, self.seed, "env_factory")
        try:
            self._build(env)
            if on_ready is not None:
                on_ready()
            try:
                self._train()
            except KeyboardInterrupt:
                path = self._checkpoint()
                self.progress.message(
                    f"Interrupted: learner checkpoint {path}; run the same command "
                    "to resume."
                )
                raise
            self._finish()
        finally:
            self.progress.close()
            env.close()
            if self.manager is not None:
                self.manager.close()
        self.result.wall_time_s = time.monotonic() - start
        return self.result

    def _build(self, env) -> None:
        tf.random.set_seed(self.seed)
        _, action_spec, time_step_spec = spec_utils.get_tensor_specs(env)
        self.train_step = train_utils.create_train_step()
        self.agent = self.agent_factory(
            time_step_spec, action_spec, train_step_counter=self.train_step
        )
        self.baseline_policy = None
        if self.baseline_policy_factory is not None:
            self.baseline_policy = self.baseline_policy_factory(
                env.time_step_spec(), env.action_spec()
            )
        server_health.wait_for_server(
            self.replay_server_address,
            "replay server",
            give_up_after_s=self.connect_timeout_s,
        )
        self.manager = remote_replay.connect(self.replay_server_address, self.agent)
        self.client = reverb.Client(self.replay_server_address)
        self.publisher = None
        if self.variable_server_address:
            server_health.wait_for_server(
                self.variable_server_address,
                "weights server",
                give_up_after_s=self.connect_timeout_s,
            )
            self.publisher = variables.WeightPublisher(
                self.variable_server_address,
                variables.policy_variables(self.agent, self.train_step),
            )
        sequence_length = self.manager.sequence_length
        # Restores the newest learner checkpoint in train/checkpoints (resume).
        self.learner = learner_lib.Learner(
            self.root_dir,
            self.train_step,
            self.agent,
            experience_dataset_fn=lambda: self.manager.get_dataset(
                batch_size=self.batch_size, num_steps=sequence_length
            ),
            checkpoint_interval=_NEVER,
            summary_interval=self.summary_interval or _NEVER,
            max_checkpoints_to_keep=3,
        )
        self.checkpoint_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(agent=self.agent, train_step=self.train_step),
            directory=run_dir.path(self.root_dir, run_dir.LEARNER_CHECKPOINT_DIR),
            max_to_keep=3,
        )
        restored = int(self.train_step.numpy())
        if restored:
            self.result.resumed_from_train_step = restored
        self.policy_exporter = policy_export.PolicyExporter(
            run_dir.path(self.root_dir, run_dir.POLICIES_DIR),
            self.agent,
            self.train_step,
            env_steps=self._items_inserted_total,
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

    def _table_info(self):
        return self.client.server_info(timeout=10)[self.manager.table_name]

    def _items_inserted_total(self) -> int:
        try:
            return int(self._table_info().rate_limiter_info.insert_stats.completed)
        except Exception:  # noqa: BLE001  (server down: metadata only)
            return -1

    def _train(self) -> None:
        step = int(self.train_step.numpy())
        agent_name = type(self.agent).__name__
        text = (
            f"Resuming {agent_name} in {self.root_dir} at train step {step:,}"
            if step
            else f"Training {agent_name} in {self.root_dir}"
        )
        text += f" from the replay server at {self.replay_server_address}"
        logging.info("%s", text)
        self.progress.message(text)
        inserted_at_start = self._items_inserted_total()
        next_eval = _next_multiple(step, self.eval_interval)
        next_checkpoint = _next_multiple(step, self.checkpoint_interval)
        next_export = _next_multiple(step, self.policy_save_interval)
        next_push = step  # first push right after the first train steps
        if self.eval_interval and step == 0:
            self._evaluate()
        describe = lambda stalled_for: (  # noqa: E731
            f"trainer: no train step for {stalled_for:.0f} s; "
            + server_health.describe_table(
                self.replay_server_address, self.manager.table_name
            )
        )
        monitor = server_health.ServerMonitor(
            self.replay_server_address, "replay server"
        )
        loop_start, loop_step = time.monotonic(), step
        self.progress.start(step)
        with (
            monitor,
            server_health.StallReporter(describe, self.stall_log_interval_s) as stall,
        ):
            while step < self.num_train_steps:
                iterations = min(self.train_steps_per_run, self.num_train_steps - step)
                self.learner.run(iterations=iterations)
                stall.progress()
                step = int(self.train_step.numpy())
                if self.publisher is not None and step >= next_push:
                    self.publisher.push()
                    next_push = step + self.push_interval
                if step >= next_eval:
                    self._evaluate()
                    next_eval = _next_multiple(step, self.eval_interval)
                if step >= next_checkpoint:
                    self._checkpoint()
                    next_checkpoint = _next_multiple(step, self.checkpoint_interval)
                if step >= next_export:
                    self.policy_exporter.export()
                    next_export = _next_multiple(step, self.policy_save_interval)
                self.progress.update(step, step)
        elapsed = time.monotonic() - loop_start
        if elapsed > 0:
            self.result.train_steps_per_s = (step - loop_step) / elapsed
        inserted = self._items_inserted_total()
        if inserted >= 0 and inserted_at_start >= 0:
            self.result.items_inserted = max(0, inserted - inserted_at_start)
        self.result.replay_server_outages = monitor.outages

    def _evaluate(self) -> None:
        step = int(self.train_step.numpy())
        results = self.evaluation(self.greedy_policy, step)
        record = {"train_step": step, "time": run_dir.utc_now(), "metrics": results}
        if self.evaluation.baseline_results:
            record["baseline"] = self.evaluation.baseline_results
        run_dir.append_eval_metrics(self.root_dir, record)
        self.result.last_eval = record
        self.progress.last_eval = f"{self.evaluation.describe(results)} @ {step:,}"
        logging.info("Eval at train step %d: %s", step, results)

    def _checkpoint(self) -> str:
        path = self.checkpoint_manager.save(checkpoint_number=self.train_step)
        logging.info("Learner checkpoint %s", path)
        return path

    def _finish(self) -> None:
        step = int(self.train_step.numpy())
        result = self.result
        if self.eval_interval and (
            result.last_eval is None or result.last_eval["train_step"] != step
        ):
            self._evaluate()
        if self.checkpoint_manager.latest_checkpoint is None or not (
            self.checkpoint_manager.latest_checkpoint.endswith(f"-{step}")
        ):
            self._checkpoint()
        if self.policy_exporter.last_export_train_step != step:
            self.policy_exporter.export()
        if self.publisher is not None:
            self.publisher.push()
            result.weight_pushes = self.publisher.pushes
            result.failed_weight_pushes = self.publisher.failed_pushes
        self.eval_writer.flush()
        self.learner.train_summary_writer.flush()
        result.train_step = step
        try:
            result.replay_buffer_frames = int(self._table_info().current_size)
        except Exception:  # noqa: BLE001
            result.replay_buffer_frames = -1
        run_dir.write_done(
            self.root_dir,
            {
                "mode": "distributed",
                "train_step": step,
                "replay_buffer_frames": result.replay_buffer_frames,
                "items_inserted": result.items_inserted,
                "weight_pushes": result.weight_pushes,
                "replay_server_outages": result.replay_server_outages,
                "last_eval": result.last_eval,
                "greedy_policy": os.path.join(run_dir.POLICIES_DIR, "greedy_policy"),
            },
        )
        self.progress.update(step, step, force=True)
