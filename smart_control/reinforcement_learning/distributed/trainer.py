"""The trainer of a distributed run: learn from a remote Reverb server.

    result = train_from_server(root_dir, "host:8000", "host:8001")

Collectors (`collector.py`) fill the replay server (`server.py`); this loop
samples it through the same `TrainingCore` as the embedded loop (Learner,
commits, exports, evaluations, summaries) and adds one trigger: it pushes
the collect policy's weights to the weights table every `push_interval`
train steps (the first push after the first train steps, so collectors act
with their initial policy until learning has started).

Sampling blocks, rather than failing, while the buffer is below the rate
limiter's minimum size, while a `SampleToInsertRatio` limiter waits for
inserts, and while the server is down or restarting (Reverb's dataset
reconnects); a line saying which is logged every `stall_log_interval_s`.

The run length and every interval count train steps (`TrainConfig`), as in
the embedded loop; "env steps" are the items the server accepted. The
buffer is checkpointed by the server, on its interval and when it stops;
commits here record the buffer's item count. Resume and DONE work as in the
embedded loop. The run directory has the layout of `training/run_dir.py`
except `replay_buffer/`, which belongs to the server, and adds the
collectors' `collect/task_<k>/`.
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
from tf_agents.train.utils import train_utils

from smart_control.reinforcement_learning.distributed import (
    remote_replay,
    server_health,
    variables,
)
from smart_control.reinforcement_learning.training import core as core_lib
from smart_control.reinforcement_learning.training import run_dir
from smart_control.reinforcement_learning.training.builder import ExperimentBuilder
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils import validation


@dataclasses.dataclass
class DistributedTrainResult:
    """What a call to `train_from_server` did.

    Attributes:
      root_dir: The run directory.
      already_done: The run had finished before (DONE existed); nothing ran.
      done: The DONE summary (the earlier one when `already_done`).
      resumed_from_train_step: Train step restored from a commit, if any.
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
        "config",
        "show_progress",
        "on_ready",
    ]
)
def train_from_server(
    root_dir: str,
    replay_server_address: str,
    variable_server_address: Optional[str] = None,
    config: Optional[TrainConfig] = None,
    train_steps_per_run: int = 10,
    push_interval: int = 100,
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
      config: The learning setup; None builds `TrainConfig()` from gin (the
        same config the collectors and the server parse).
      train_steps_per_run: Gradient steps per `Learner.run` call (one
        tf.function call): larger is faster, smaller reacts sooner.
      push_interval: Train steps between pushes of the policy weights.
      stall_log_interval_s: Seconds without a train step between log lines.
      connect_timeout_s: How long to wait for the replay server at start.
      show_progress: Whether to show a progress line on stderr.
      on_ready: Called once connected, before training starts.
    """
    validation.check_int(
        "train_from_server.train_steps_per_run", train_steps_per_run, 1
    )
    validation.check_int("train_from_server.push_interval", push_interval, 1)
    validation.check_number(
        "train_from_server.stall_log_interval_s", stall_log_interval_s, 0.001
    )
    result = DistributedTrainResult(root_dir=os.path.abspath(root_dir))
    done = run_dir.read_done(result.root_dir)
    if done is not None:
        result.already_done, result.done = True, done
        return result
    loop = _DistributedLoop(
        result=result,
        config=config if config is not None else TrainConfig(),
        replay_server_address=replay_server_address,
        variable_server_address=variable_server_address,
        train_steps_per_run=train_steps_per_run,
        push_interval=push_interval,
        stall_log_interval_s=stall_log_interval_s,
        connect_timeout_s=connect_timeout_s,
        show_progress=show_progress,
    )
    return loop.run(on_ready)


@dataclasses.dataclass
class _DistributedLoop:
    result: DistributedTrainResult
    config: TrainConfig
    replay_server_address: str
    variable_server_address: Optional[str]
    train_steps_per_run: int
    push_interval: int
    stall_log_interval_s: float
    connect_timeout_s: float
    show_progress: bool

    def run(self, on_ready: Optional[Callable[[], None]]) -> DistributedTrainResult:
        start = time.monotonic()
        self.root_dir = self.result.root_dir
        commit = run_dir.committed(self.root_dir)
        builder = ExperimentBuilder(self.config)
        env = builder.make_environment(self.config.seed)
        self.manager = self.core = None
        try:
            self._build(builder, env, commit)
            if on_ready is not None:
                on_ready()
            try:
                self._train(commit)
            except KeyboardInterrupt:
                self.core.interrupted()
                raise
            self._finish()
        finally:
            if self.core is not None:
                self.core.close()
            env.close()
            if self.manager is not None:
                self.manager.close()
        self.result.wall_time_s = time.monotonic() - start
        return self.result

    def _build(self, builder: ExperimentBuilder, env, commit) -> None:
        tf.random.set_seed(self.config.seed)
        train_step = train_utils.create_train_step()
        server_health.wait_for_server(
            self.replay_server_address,
            "replay server",
            give_up_after_s=self.connect_timeout_s,
        )
        self.manager = remote_replay.connect(
            self.replay_server_address, builder.data_spec(env)
        )
        agent = builder.make_agent(env, train_step, self.manager.sequence_length)
        if commit is not None:
            core_lib.check_learner_checkpoint(self.root_dir, agent, train_step)
        self.client = reverb.Client(self.replay_server_address)
        self.publisher = None
        triggers = []
        if self.variable_server_address:
            server_health.wait_for_server(
                self.variable_server_address,
                "weights server",
                give_up_after_s=self.connect_timeout_s,
            )
            self.publisher = variables.WeightPublisher(
                self.variable_server_address,
                variables.policy_variables(agent, train_step),
            )
            triggers.append(_FirstThenEvery(self.push_interval, self.publisher.push))
        self.inserted_at_start = self._items_inserted_total()
        self.core = core_lib.TrainingCore(
            self.root_dir,
            self.config,
            agent,
            train_step,
            lambda: self.manager.get_dataset(
                batch_size=self.config.batch_size,
                num_steps=self.manager.sequence_length,
            ),
            checkpoints_to_keep=3,
            counters=lambda: (max(0, self._items_inserted_total()), 0),
            checkpoint_buffer=lambda: (None, self._frames()),
            eval_env_factory=self.config.env_factory,
            scalars=self._scalars,
            extra_triggers=triggers,
            show_progress=self.show_progress,
        )
        restored = self.core.step
        if restored != (commit.train_step if commit else 0):
            raise run_dir.RunDirError(
                f"restored train step {restored} from {self.root_dir}, the commit "
                f"record says {commit.train_step if commit else 0}"
            )
        if restored:
            self.result.resumed_from_train_step = restored

    def _table_info(self):
        return self.client.server_info(timeout=10)[self.manager.table_name]

    def _items_inserted_total(self) -> int:
        try:
            return int(self._table_info().rate_limiter_info.insert_stats.completed)
        except Exception:  # noqa: BLE001  (server down: metadata only)
            return -1

    def _frames(self) -> int:
        try:
            return int(self._table_info().current_size)
        except Exception:  # noqa: BLE001
            return -1

    def _scalars(self) -> Dict[str, float]:
        scalars = {
            "ReplayBuffer/Frames": self._frames(),
            "ReplayBuffer/ItemsInserted": self._items_inserted_total(),
            "RunTime/train_steps_per_sec": self.core.rates()["train_steps_per_s"],
        }
        if self.publisher is not None:
            scalars["Distributed/WeightPushes"] = self.publisher.pushes
        return scalars

    def _train(self, commit) -> None:
        core = self.core
        text = (
            f"Resuming {type(core.agent).__name__} in {self.root_dir} at train step "
            f"{core.step:,}"
            if commit
            else f"Training {type(core.agent).__name__} in {self.root_dir}"
        )
        text += f" from the replay server at {self.replay_server_address}"
        logging.info("%s", text)
        core.progress.message(text)
        core.start(fresh=commit is None)
        describe = lambda stalled_for: (  # noqa: E731
            f"trainer: no train step for {stalled_for:.0f} s; "
            + server_health.describe_table(
                self.replay_server_address, self.manager.table_name
            )
        )
        monitor = server_health.ServerMonitor(
            self.replay_server_address, "replay server"
        )
        with (
            monitor,
            server_health.StallReporter(describe, self.stall_log_interval_s) as stall,
        ):
            while not core.done_training:
                core.train(self.train_steps_per_run)
                stall.progress()
        self.result.train_steps_per_s = core.rates()["train_steps_per_s"]
        inserted = self._items_inserted_total()
        if inserted >= 0 and self.inserted_at_start >= 0:
            self.result.items_inserted = max(0, inserted - self.inserted_at_start)
        self.result.replay_server_outages = monitor.outages

    def _finish(self) -> None:
        result = self.result
        if self.publisher is not None:
            self.publisher.push()
            result.weight_pushes = self.publisher.pushes
            result.failed_weight_pushes = self.publisher.failed_pushes
        result.replay_buffer_frames = self._frames()
        done = self.core.finish(
            {
                "mode": "distributed",
                "replay_buffer_frames": result.replay_buffer_frames,
                "items_inserted": result.items_inserted,
                "weight_pushes": result.weight_pushes,
                "replay_server_outages": result.replay_server_outages,
            }
        )
        result.train_step = done["train_step"]
        result.last_eval = self.core.last_eval
        result.done = done


class _FirstThenEvery:
    """A trigger firing after the first train steps, then every `interval`.

    (The Learner restarts interval triggers at the restored step, which would
    hold back the first push of a resumed run by a whole interval.)
    """

    def __init__(self, interval: int, fn: Callable[[], Any]):
        self._interval = interval
        self._fn = fn
        self._next: Optional[int] = None

    def __call__(self, step: int, force_trigger: bool = False) -> None:
        if self._next is None or step >= self._next or force_trigger:
            self._fn()
            self._next = int(step) + self._interval
