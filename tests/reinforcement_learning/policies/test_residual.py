"""ResidualActionWrapper: zero correction is the schedule; corrections are bounded."""

import pathlib

import gin
import numpy as np
import pytest
from tf_agents.environments import utils as env_utils

from smart_control.environment import building_env
from smart_control.reinforcement_learning.policies import residual as residual_action
from smart_control.reinforcement_learning.policies.schedule_policy import (
    create_schedule_policy,
)

CONFIGS = pathlib.Path(__file__).resolve().parents[3] / "configs"
ONE_DAY = {"episode_days": 1, "start_date": "2023-01-09"}  # a Monday


def _run(env, actions):
    """Rewards and infos of one episode; `actions(time_step, k)` chooses."""
    time_step, k, rewards, infos = env.reset(), 0, [], []
    while not time_step.is_last():
        time_step = env.step(actions(time_step, k))
        rewards.append(float(time_step.reward))
        infos.append(env.get_info())
        k += 1
    return rewards, infos


def test_zero_correction_reproduces_the_schedule_exactly():
    raw = building_env.create_building_environment(seed=3, **ONE_DAY)
    schedule = create_schedule_policy(raw.time_step_spec(), raw.action_spec())
    expected_rewards, expected_infos = _run(
        raw, lambda time_step, k: schedule.action(time_step).action
    )
    wrapped = residual_action.create_residual_building_environment(seed=3, **ONE_DAY)
    zero = np.zeros(2, np.float32)
    rewards, infos = _run(wrapped, lambda time_step, k: zero)
    assert rewards == expected_rewards
    for ours, theirs in zip(infos, expected_infos):
        assert ours.supply_water_setpoint_k == theirs.supply_water_setpoint_k
        assert (
            ours.supply_air_heating_setpoint_k == theirs.supply_air_heating_setpoint_k
        )
        np.testing.assert_array_equal(
            ours.zone_air_temperatures_k, theirs.zone_air_temperatures_k
        )
    # The schedule changes setpoints during the day: not a constant action.
    assert len({i.supply_water_setpoint_k for i in infos}) > 1


def test_corrections_are_bounded_by_max_correction():
    env = residual_action.create_residual_building_environment(
        seed=0, max_correction=0.25, **ONE_DAY
    )
    spec = env.action_spec()
    assert spec.name == residual_action.RESIDUAL_ACTION_NAME
    assert (spec.minimum, spec.maximum, spec.shape) == (-1.0, 1.0, (2,))
    rng = np.random.default_rng(0)
    time_step = env.reset()
    offsets = []
    while not time_step.is_last():
        # Beyond the spec too: the wrapper clips the correction first.
        correction = rng.uniform(-3.0, 3.0, 2).astype(np.float32)
        base = env.baseline_action(time_step)
        time_step = env.step(correction)
        applied = env.last_env_action
        assert np.all(np.abs(applied - base) <= 0.25 + 1e-6)
        assert np.all(applied >= -1.0) and np.all(applied <= 1.0)
        offsets.append(applied - base)
    offsets = np.array(offsets)
    assert offsets.max() > 0.2 and offsets.min() < -0.2  # the whole range is used
    # Full positive correction: the schedule's action + 0.25, clipped to 1.
    env.reset()
    time_step = env.reset()
    base = env.baseline_action(time_step)
    env.step(np.ones(2, np.float32))
    np.testing.assert_allclose(env.last_env_action, np.minimum(base + 0.25, 1.0))


def test_wrapper_is_a_valid_environment_and_unwraps():
    env = residual_action.create_residual_building_environment(seed=0, **ONE_DAY)
    env_utils.validate_py_environment(env, episodes=1)
    raw = residual_action.unwrap_residual(env)
    assert isinstance(raw, building_env.BuildingEnvironment)
    assert residual_action.is_residual(env) and not residual_action.is_residual(raw)
    assert residual_action.unwrap_residual(raw) is raw
    assert env.steps_per_episode == 96  # attributes pass through
    # A step after the end resets, as the building environment does.
    time_step = env.step(np.zeros(2, np.float32))
    assert time_step.is_first()


def test_bad_arguments_name_the_parameter():
    raw = building_env.create_building_environment(seed=0)
    with pytest.raises(ValueError, match="max_correction"):
        residual_action.ResidualActionWrapper(raw, create_schedule_policy, 0.0)


def test_one_gin_switch():
    gin.add_config_file_search_path(str(CONFIGS))
    gin.parse_config_files_and_bindings(
        [str(CONFIGS / "eval" / "residual.gin")],
        ["create_residual_building_environment.max_correction = 0.3"],
        skip_unknown=False,
    )
    # Every stage's ENV is the wrapped building.
    assert (
        gin.query_parameter("%ENV").selector == "create_residual_building_environment"
    )
    env = residual_action.create_residual_building_environment(seed=0)
    assert residual_action.is_residual(env) and env.max_correction == 0.3
