"""Tests of the random policy and the gin-selected populate policy."""

import pathlib

import gin
import numpy as np
import pytest
from tf_agents.policies import random_py_policy
from tf_agents.specs import array_spec

from smart_control.environment import building_env
from smart_control.reinforcement_learning.policies import (
    populate_policy,
    random_policy,
    schedule_policy,
)

CONFIGS = pathlib.Path(__file__).resolve().parents[3] / "configs"


def _actions(policy, env, steps=200):
    time_step = env.reset()
    out = []
    for _ in range(steps):
        action = policy.action(time_step).action
        out.append(action)
        time_step = env.step(action)
    return np.array(out)


def test_random_policy_is_uniform_in_bounds_and_seeded():
    env = building_env.BuildingEnvironment(seed=0)
    spec, action_spec = env.time_step_spec(), env.action_spec()
    a = _actions(random_policy.create_random_policy(spec, action_spec, seed=3), env)
    b = _actions(random_policy.create_random_policy(spec, action_spec, seed=3), env)
    c = _actions(random_policy.create_random_policy(spec, action_spec, seed=4), env)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == (200, 2)
    assert a.min() >= -1.0 and a.max() <= 1.0
    assert a.min() < -0.8 and a.max() > 0.8  # spans the box
    assert abs(a.mean()) < 0.15


def test_random_policy_rejects_bad_arguments():
    env = building_env.BuildingEnvironment(seed=0)
    with pytest.raises(ValueError, match="seed"):
        random_policy.create_random_policy(
            env.time_step_spec(), env.action_spec(), seed=-2
        )
    with pytest.raises(ValueError, match="BoundedArraySpec"):
        random_policy.create_random_policy(
            env.time_step_spec(), array_spec.ArraySpec((2,), np.float32)
        )


@pytest.mark.parametrize(
    "gin_file, policy_type",
    [
        ("schedule_policy.gin", schedule_policy.SchedulePolicy),
        ("random_policy.gin", random_py_policy.RandomPyPolicy),
    ],
)
def test_populate_gin_files_choose_the_policy(gin_file, policy_type):
    gin.parse_config_files_and_bindings(
        [
            str(CONFIGS / "environment" / "office_building.gin"),
            str(CONFIGS / "populate" / gin_file),
        ],
        [],
        skip_unknown=False,
    )
    env = building_env.create_building_environment()
    policy = populate_policy.populate_policy_factory(
        env.time_step_spec(), env.action_spec()
    )
    assert isinstance(policy, policy_type)
    actions = _actions(policy, env, steps=96)
    assert actions.shape == (96, 2)


def test_schedule_gin_file_is_the_reference_schedule():
    gin.parse_config_files_and_bindings(
        [str(CONFIGS / "populate" / "schedule_policy.gin")], [], skip_unknown=False
    )
    env = building_env.BuildingEnvironment(seed=0)
    from_gin = populate_policy.populate_policy_factory(
        env.time_step_spec(), env.action_spec()
    )
    gin.clear_config()
    default = schedule_policy.SchedulePolicy(env.time_step_spec(), env.action_spec())
    np.testing.assert_array_equal(from_gin.action_table, default.action_table)


def test_populate_factory_requires_a_py_policy():
    env = building_env.BuildingEnvironment(seed=0)
    with pytest.raises(ValueError, match="not a PyPolicy"):
        populate_policy.populate_policy_factory(
            env.time_step_spec(),
            env.action_spec(),
            factory=lambda spec, action_spec: "a string",
        )
