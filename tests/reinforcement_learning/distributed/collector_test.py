"""collector.collect() in-process, against real replay and weights servers."""

import dataclasses
import json
import os

import pytest
from tf_agents.policies import py_policy

from smart_control.reinforcement_learning.distributed import collector, variables
from smart_control.reinforcement_learning.policies import random_policy
from tests.reinforcement_learning.distributed import distributed_testing as dt


@pytest.fixture
def servers(tmp_path):
    """(replay address, replay table, weights address) of two fresh servers."""
    dt.parse_gin()
    manager = dt.replay_manager(tmp_path / "buffer")
    weights = dt.variable_server(tmp_path / "variables")
    yield manager.server_address, manager.table_name, f"localhost:{weights.port}"
    weights.stop()
    manager.close()


class _CountingPolicy(py_policy.PyPolicy):
    """A random policy that counts its actions and calls `hook` at action `at`."""

    def __init__(self, time_step_spec, action_spec, at=None, hook=None):
        super().__init__(time_step_spec, action_spec)
        self._inner = random_policy.create_random_policy(time_step_spec, action_spec)
        self._at, self._hook = at, hook
        self.actions = 0

    def _action(self, time_step, policy_state):
        self.actions += 1
        if self.actions == self._at:
            self._hook()
        return self._inner.action(time_step, policy_state)


def _read_stats(root, task):
    with open(os.path.join(root, "collect", f"task_{task}", "stats.json")) as f:
        return json.load(f)


@pytest.mark.slow
def test_items_written_stats_and_a_restart(servers, tmp_path):
    replay_address, table, variable_address = servers
    root = str(tmp_path / "run")
    seeds = []

    def env_factory(seed):
        seeds.append(seed)
        return dt.env_factory(seed)

    run = dict(
        config=dt.train_config(env_factory=env_factory),
        steps_per_run=50,
        summary_interval=100,
    )
    stats = collector.collect(
        root, replay_address, variable_address, task=3, max_env_steps=150, **run
    )
    assert (stats.task, stats.env_steps, stats.episodes, stats.starts) == (3, 150, 1, 1)
    # Every item the collector counted reached the server, and no other.
    assert stats.items_written > 0
    assert stats.items_written == dt.table_size(replay_address, table)
    # No weights were pushed: the agent's untrained policy acted throughout.
    assert stats.policy_version is None and stats.weight_updates == 0
    assert _read_stats(root, 3) == dataclasses.asdict(stats)
    task_dir = collector.task_dir(root, 3)
    assert task_dir == os.path.join(root, "collect", "task_3")
    assert any(name.startswith("events.out") for name in os.listdir(task_dir))

    # A second start of the same task continues its count, with another seed.
    stats = collector.collect(
        root, replay_address, variable_address, task=3, max_env_steps=250, **run
    )
    assert (stats.env_steps, stats.episodes, stats.starts) == (250, 2, 2)
    assert stats.items_written == dt.table_size(replay_address, table)
    assert _read_stats(root, 3) == dataclasses.asdict(stats)
    assert seeds == [collector._seed(0, 3, 0), collector._seed(0, 3, 150)]
    assert seeds[0] != seeds[1]


@pytest.mark.slow
def test_initial_policy_acts_until_weights_are_pushed(servers, tmp_path):
    replay_address, _, variable_address = servers
    trainer, train_step = dt.make_agent()
    publisher = variables.WeightPublisher(
        variable_address, variables.policy_variables(trainer, train_step)
    )
    train_step.assign(7)
    initial = []

    def initial_policy_factory(time_step_spec, action_spec):
        # The trainer pushes while the collector acts its 50th step.
        initial.append(
            _CountingPolicy(time_step_spec, action_spec, at=50, hook=publisher.push)
        )
        return initial[0]

    stats = collector.collect(
        str(tmp_path / "run"),
        replay_address,
        variable_address,
        task=0,
        config=dt.train_config(),
        initial_policy_factory=initial_policy_factory,
        max_env_steps=150,
        steps_per_run=25,
        weight_update_interval=25,
    )
    assert publisher.pushes == 1
    # Weights are checked every 25 env steps: the check after step 50 finds
    # them, and the agent's policy acts from step 51 on.
    assert initial[0].actions == 50
    assert stats.env_steps == 150
    assert stats.policy_version == 7 and stats.weight_updates == 1
    assert _read_stats(str(tmp_path / "run"), 0)["policy_version"] == 7


@pytest.mark.slow
def test_weights_pushed_before_the_start_are_used_at_once(servers, tmp_path):
    replay_address, _, variable_address = servers
    trainer, train_step = dt.make_agent()
    train_step.assign(12)
    assert variables.WeightPublisher(
        variable_address, variables.policy_variables(trainer, train_step)
    ).push()
    initial = []

    def initial_policy_factory(time_step_spec, action_spec):
        initial.append(_CountingPolicy(time_step_spec, action_spec))
        return initial[0]

    stats = collector.collect(
        str(tmp_path / "run"),
        replay_address,
        variable_address,
        config=dt.train_config(),
        initial_policy_factory=initial_policy_factory,
        max_env_steps=20,
        steps_per_run=10,
    )
    assert initial[0].actions == 0
    assert stats.policy_version == 12 and stats.weight_updates == 1


@pytest.mark.slow
def test_max_env_steps_is_not_overshot(servers, tmp_path):
    replay_address, table, _ = servers
    stats = collector.collect(
        str(tmp_path / "run"),
        replay_address,
        None,
        config=dt.train_config(),
        max_env_steps=30,
        steps_per_run=20,  # runs of 20 and 10 steps
    )
    assert stats.env_steps == 30
    assert stats.items_written == 29 == dt.table_size(replay_address, table)


@pytest.mark.parametrize(
    "name, value",
    [
        ("task", -1),
        ("steps_per_run", 0),
        ("max_env_steps", -1),
        ("weight_update_interval", 0),
        ("summary_interval", 0),
    ],
)
def test_bad_arguments_raise(name, value, tmp_path):
    arguments = dict(task=0, steps_per_run=10)
    arguments[name] = value
    with pytest.raises(ValueError, match=f"collect.{name} must be an integer"):
        collector.collect(
            str(tmp_path / "run"),
            "localhost:1",
            None,
            config=dt.train_config(),
            **arguments,
        )
    assert not os.path.exists(tmp_path / "run")
