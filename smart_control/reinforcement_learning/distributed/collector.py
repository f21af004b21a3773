"""One collector of a distributed run: act in an environment, write to Reverb.

    result = collect(root_dir, replay_address, variable_address, task=k, stop=event)

A collector runs its own environment instance with the agent's collect
policy and writes trajectories to the replay server. Its policy weights come
from the trainer through the weights table (`variables.WeightSubscriber`),
checked every `weight_update_interval` env steps; until the first weights
arrive it acts with `initial_policy_factory` (in the configs, the populate
policy: the schedule). It runs until `stop` is set or `max_env_steps`.

Faults: when the replay server goes away, Reverb's writer keeps the items
the server has not confirmed and sends them again once it is back; this loop
stops stepping, retries with backoff (one log line per retry) and resumes.
A stall of any cause (server down, inserts held back by a
`SampleToInsertRatio` rate limiter) is logged every `stall_log_interval_s`.

Files, under `<root_dir>/collect/task_<task>/`: TensorBoard summaries (by
env step: return, episode length, the building's totals, items written,
weight version) and `stats.json`, which also lets a restarted collector
continue its step count (and so its environment seeds) where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any, Callable, Dict, Optional

import gin
import numpy as np
import tensorflow as tf
from absl import logging
from tf_agents.drivers import py_driver
from tf_agents.metrics import py_metrics
from tf_agents.policies import py_tf_eager_policy
from tf_agents.train import interval_trigger
from tf_agents.train.utils import train_utils
from tf_agents.trajectories import trajectory as trajectory_lib

from smart_control.reinforcement_learning.distributed import (
    remote_replay,
    server_health,
    variables,
)
from smart_control.reinforcement_learning.training import metrics
from smart_control.reinforcement_learning.training.builder import ExperimentBuilder
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils import json_files, run_files, validation

STATS_FILE = run_files.COLLECTOR_STATS_FILE
task_dir = run_files.collector_dir


@dataclasses.dataclass
class CollectStats:
    """What a collector has done, over all its restarts (stats.json).

    Attributes:
      task: The collector's task index.
      env_steps: Environment steps taken.
      episodes: Episodes finished.
      items_written: Items (sequences) handed to the replay server.
      weight_updates: Policy weights received from the trainer.
      policy_version: Train step of the weights in use; None while acting
        with the initial policy.
      replay_server_outages: Times the replay server became unreachable.
      starts: Times this task was started (1 + restarts).
      wall_time_s: Seconds of collection, over all starts.
    """

    task: int
    env_steps: int = 0
    episodes: int = 0
    items_written: int = 0
    weight_updates: int = 0
    policy_version: Optional[int] = None
    replay_server_outages: int = 0
    starts: int = 0
    wall_time_s: float = 0.0


class _ItemCounter:
    """Counts the items the replay observer creates (same windowing rule)."""

    def __init__(self, sequence_length: int, stride_length: int):
        self._sequence_length = sequence_length
        self._stride_length = stride_length
        self._cached = 0
        self.items = 0

    def __call__(self, trajectory: trajectory_lib.Trajectory) -> None:
        self._cached += 1
        excess = self._cached - self._sequence_length
        if excess >= 0 and excess % self._stride_length == 0:
            self.items += 1
        if trajectory.is_boundary():
            self._cached = 0


def _seed(seed: int, task: int, env_steps: int) -> int:
    """Distinct, reproducible seeds per task and per restart point."""
    return int(np.random.SeedSequence([seed, task, env_steps]).generate_state(1)[0])


@gin.configurable(
    denylist=[
        "root_dir",
        "replay_server_address",
        "variable_server_address",
        "task",
        "stop",
        "config",
        "on_ready",
    ]
)
def collect(
    root_dir: str,
    replay_server_address: str,
    variable_server_address: Optional[str],
    task: int = 0,
    stop: Optional[threading.Event] = None,
    config: Optional[TrainConfig] = None,
    initial_policy_factory: Optional[Callable[..., Any]] = None,
    max_env_steps: int = 0,
    steps_per_run: int = 50,
    weight_update_interval: int = 200,
    summary_interval: int = 1000,
    stall_log_interval_s: float = 30.0,
    connect_timeout_s: float = 600.0,
    on_ready: Optional[Callable[[], None]] = None,
) -> CollectStats:
    """Collects experience into the replay server until stopped.

    Args:
      root_dir: Run directory; this task writes under `collect/task_<task>/`.
      replay_server_address: "host:port" of the replay server.
      variable_server_address: "host:port" of the policy weights table; None
        collects with the initial policy only.
      task: Index of this collector: its seeds and summary directory.
      stop: Set it (SIGTERM) to flush and return.
      config: The learning setup (environment, agent, seed); None builds
        `TrainConfig()` from gin, as the trainer and the server do.
      initial_policy_factory: `factory(time_step_spec, action_spec)` of a
        PyPolicy acting until the first weights arrive; None uses the agent's
        untrained collect policy.
      max_env_steps: Stop after this many env steps of this task (over
        restarts); 0 runs until stopped.
      steps_per_run: Env steps between checks of the stop flag and the server.
      weight_update_interval: Env steps between checks for new weights.
      summary_interval: Env steps between summaries and stats.json updates.
      stall_log_interval_s: Seconds without progress between log lines.
      connect_timeout_s: How long to wait for the servers at start.
      on_ready: Called once connected, before the first step.
    """
    for name, value, minimum in (
        ("task", task, 0),
        ("max_env_steps", max_env_steps, 0),
        ("steps_per_run", steps_per_run, 1),
        ("weight_update_interval", weight_update_interval, 1),
        ("summary_interval", summary_interval, 1),
    ):
        validation.check_int(f"collect.{name}", value, minimum)
    config = config if config is not None else TrainConfig()
    builder = ExperimentBuilder(config)
    stop = stop or threading.Event()
    out_dir = task_dir(root_dir, task)
    stats_path = os.path.join(out_dir, STATS_FILE)
    stats = CollectStats(**(json_files.read_json(stats_path) or {"task": task}))
    stats.task = task
    stats.starts += 1
    run_seed = _seed(config.seed, task, stats.env_steps)
    tf.random.set_seed(run_seed % 2**31)

    env = builder.make_environment(run_seed)
    manager = None
    try:
        train_step = train_utils.create_train_step()
        agent = builder.make_agent(env, train_step)
        policies = {
            "agent": py_tf_eager_policy.PyTFEagerPolicy(
                agent.collect_policy, use_tf_function=True
            )
        }
        if initial_policy_factory is not None:
            policies["initial"] = initial_policy_factory(
                env.time_step_spec(), env.action_spec()
            )

        server_health.wait_for_server(
            replay_server_address,
            "replay server",
            stop,
            give_up_after_s=connect_timeout_s,
        )
        manager = remote_replay.connect(replay_server_address, builder.data_spec(env))
        observer = manager.get_replay_buffer_and_observer()[1]
        subscriber = None
        if variable_server_address:
            server_health.wait_for_server(
                variable_server_address,
                "weights server",
                stop,
                give_up_after_s=connect_timeout_s,
            )
            subscriber = variables.WeightSubscriber(
                variable_server_address, variables.policy_variables(agent, train_step)
            )
        if on_ready is not None:
            on_ready()
        return _CollectLoop(
            env=env,
            observer=observer,
            manager=manager,
            policies=policies,
            subscriber=subscriber,
            stats=stats,
            stats_path=stats_path,
            out_dir=out_dir,
            train_step=train_step,
            replay_server_address=replay_server_address,
            max_env_steps=max_env_steps,
            steps_per_run=steps_per_run,
            weight_update_interval=weight_update_interval,
            summary_interval=summary_interval,
            stall_log_interval_s=stall_log_interval_s,
        ).run(stop)
    finally:
        if manager is not None:
            manager.close()
        env.close()


@dataclasses.dataclass
class _CollectLoop:
    env: Any
    observer: Any
    manager: Any
    policies: Dict[str, Any]
    subscriber: Optional[variables.WeightSubscriber]
    stats: CollectStats
    stats_path: str
    out_dir: str
    train_step: tf.Variable
    replay_server_address: str
    max_env_steps: int
    steps_per_run: int
    weight_update_interval: int
    summary_interval: int
    stall_log_interval_s: float

    def __post_init__(self):
        self.counters = metrics.RunCounters(self.stats.env_steps, self.stats.episodes)
        self.items = _ItemCounter(
            self.manager.sequence_length, self.manager.stride_length
        )
        self.items.items = self.stats.items_written
        self.weight_updates_at_start = self.stats.weight_updates
        self.returns = py_metrics.AverageReturnMetric(buffer_size=10)
        self.lengths = py_metrics.AverageEpisodeLengthMetric(buffer_size=10)
        self.building = metrics.EpisodeInfoTotals(self.env, buffer_size=10)
        self.observers = [
            self.observer,
            self.counters,
            self.items,
            self.returns,
            self.lengths,
            self.building,
        ]
        self.writer = tf.summary.create_file_writer(self.out_dir, flush_millis=10_000)

    def run(self, stop: threading.Event) -> CollectStats:
        stats = self.stats
        start = time.monotonic()
        start_wall = stats.wall_time_s
        self.policy = self._initial_policy_name()
        logging.info(
            "Collector %d: starting at env step %d with the %s policy.",
            stats.task,
            stats.env_steps,
            self.policy,
        )
        at = self.counters.env_steps
        # A no-op trigger without a subscriber: the interval <= 0 case.
        weights = interval_trigger.IntervalTrigger(
            self.weight_update_interval if self.subscriber else 0,
            self._update_weights,
            start=at,
        )
        summaries = interval_trigger.IntervalTrigger(
            self.summary_interval, self._write_summaries, start=at
        )
        time_step = self.env.reset()
        monitor = server_health.ServerMonitor(
            self.replay_server_address, "replay server"
        )
        describe = lambda stalled_for: (  # noqa: E731
            f"collector {stats.task}: no env step for {stalled_for:.0f} s; "
            + server_health.describe_table(
                self.replay_server_address, self.manager.table_name
            )
        )
        outages_at_start = stats.replay_server_outages
        with (
            monitor,
            server_health.StallReporter(describe, self.stall_log_interval_s) as stall,
        ):
            while not stop.is_set() and not self._budget_reached():
                if not monitor.reachable:
                    server_health.wait_for_server(
                        self.replay_server_address, "replay server", stop
                    )
                    stall.progress()
                    continue
                time_step, _ = self._driver(self.policy).run(time_step)
                stall.progress()
                weights(self.counters.env_steps)
                self._update_stats(start, start_wall, outages_at_start, monitor)
                summaries(self.counters.env_steps)
            if monitor.reachable:
                self.observer.flush()
        self._update_stats(start, start_wall, outages_at_start, monitor)
        self._write_summaries()
        self.writer.flush()
        return stats

    def _update_weights(self) -> None:
        if self.subscriber.update():
            if self.policy != "agent":
                logging.info(
                    "Collector %d: weights of train step %d arrived; "
                    "collecting with the agent's policy.",
                    self.stats.task,
                    self.subscriber.version,
                )
            self.policy = "agent"

    def _initial_policy_name(self) -> str:
        if self.subscriber is not None and self.subscriber.update():
            return "agent"
        return "initial" if "initial" in self.policies else "agent"

    def _driver(self, policy: str) -> py_driver.PyDriver:
        """A driver for the next run: `steps_per_run` steps, or what the
        budget leaves (the driver counts env steps as `RunCounters` does)."""
        steps = self.steps_per_run
        if self.max_env_steps:
            steps = min(steps, self.max_env_steps - self.counters.env_steps)
        return py_driver.PyDriver(
            self.env, self.policies[policy], self.observers, max_steps=steps
        )

    def _budget_reached(self) -> bool:
        return (
            bool(self.max_env_steps) and self.counters.env_steps >= self.max_env_steps
        )

    def _update_stats(self, start, start_wall, outages_at_start, monitor) -> None:
        stats = self.stats
        stats.env_steps = self.counters.env_steps
        stats.episodes = self.counters.episodes
        stats.items_written = self.items.items
        if self.subscriber is not None:
            stats.weight_updates = (
                self.weight_updates_at_start + self.subscriber.updates
            )
            stats.policy_version = self.subscriber.version
        stats.replay_server_outages = outages_at_start + monitor.outages
        stats.wall_time_s = round(start_wall + time.monotonic() - start, 2)

    def _write_summaries(self) -> None:
        stats = self.stats
        json_files.write_json_atomic(self.stats_path, dataclasses.asdict(stats))
        scalars: Dict[str, float] = {
            "Collect/AverageReturn": self.returns.result(),
            "Collect/AverageEpisodeLength": self.lengths.result(),
            "Collect/NumberOfEpisodes": stats.episodes,
            "Collect/ItemsWritten": stats.items_written,
            "Collect/PolicyVersion": (
                -1 if stats.policy_version is None else stats.policy_version
            ),
        }
        for name, value in self.building.results().items():
            scalars[f"Collect/{name}"] = value
        with self.writer.as_default(), tf.summary.record_if(True):
            for name, value in scalars.items():
                tf.summary.scalar(name, value, step=stats.env_steps)
