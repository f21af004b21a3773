"""Tests of the baseline schedule policy (Python and TensorFlow)."""

import datetime
import zoneinfo

import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.drivers import py_driver
from tf_agents.policies import py_tf_eager_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from smart_control.environment import action_mapping, building_env, observations
from smart_control.reinforcement_learning.policies import schedule_policy

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
MAPPING = action_mapping.action_mapping()
DAY = MAPPING.to_action(350.0, 292.0)  # [water, air]
NIGHT = MAPPING.to_action(315.0, 285.0)


def _observation(local: datetime.datetime, holiday: bool = False) -> np.ndarray:
    """An observation whose time fields say `local` (other fields zero)."""
    obs = np.zeros(len(observations.OBSERVATION_NAMES), np.float32)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    h_sin, h_cos, d_sin, d_cos = observations.time_features(seconds, local.weekday())
    index = observations.INDEX
    obs[index["hour_of_day_sin"]] = h_sin
    obs[index["hour_of_day_cos"]] = h_cos
    obs[index["day_of_week_sin"]] = d_sin
    obs[index["day_of_week_cos"]] = d_cos
    obs[index["is_holiday"]] = float(holiday)
    return obs


def _env(**kwargs):
    return building_env.BuildingEnvironment(seed=0, **kwargs)


def _policy(env=None, **kwargs):
    env = env or _env()
    return schedule_policy.create_schedule_policy(
        env.time_step_spec(), env.action_spec(), **kwargs
    )


def _act(policy, obs):
    return policy.action(ts.transition(obs, np.float32(0.0))).action


@pytest.mark.parametrize(
    "local, holiday, expected",
    [
        (datetime.datetime(2023, 1, 9, 5, 45), False, NIGHT),  # Monday
        (datetime.datetime(2023, 1, 9, 5, 59), False, NIGHT),
        (datetime.datetime(2023, 1, 9, 6, 0), False, DAY),
        (datetime.datetime(2023, 1, 9, 12, 30), False, DAY),
        (datetime.datetime(2023, 1, 9, 18, 59), False, DAY),
        (datetime.datetime(2023, 1, 9, 19, 0), False, NIGHT),
        (datetime.datetime(2023, 1, 13, 10, 0), False, DAY),  # Friday
        (datetime.datetime(2023, 1, 14, 10, 0), False, NIGHT),  # Saturday
        (datetime.datetime(2023, 1, 15, 10, 0), False, NIGHT),  # Sunday
        (datetime.datetime(2023, 7, 4, 10, 0), True, NIGHT),  # holiday Tuesday
        (datetime.datetime(2023, 1, 9, 0, 0), False, NIGHT),
    ],
)
def test_actions_at_local_times(local, holiday, expected):
    np.testing.assert_array_equal(
        _act(_policy(), _observation(local, holiday)), expected
    )


def test_action_order_is_water_then_air():
    action = _act(_policy(), _observation(datetime.datetime(2023, 1, 9, 10, 0)))
    water_k, air_k = MAPPING.to_setpoints(action)
    assert water_k == pytest.approx(350.0, abs=1e-4)
    assert air_k == pytest.approx(292.0, abs=1e-4)
    # And the environment applies them in that order.
    env = _env(start_date="2023-01-09")
    policy = _policy(env)
    time_step = env.reset()
    for _ in range(4 * 10):  # to 10:00 Monday
        time_step = env.step(policy.action(time_step).action)
    info = env.get_info()
    assert info.supply_water_setpoint_k == pytest.approx(350.0, abs=1e-4)
    assert info.supply_air_heating_setpoint_k == pytest.approx(292.0, abs=1e-4)


@pytest.mark.parametrize("start", ["2023-03-06", "2023-10-30"])
def test_schedule_follows_local_clock_across_daylight_saving(start):
    """Every step of a week containing a DST change gets the right action."""
    env = _env(start_date=start)
    policy = _policy(env)
    time_step = env.reset()
    offsets = set()
    for _ in range(env.steps_per_episode):
        action = policy.action(time_step).action
        time_step = env.step(action)
        info = env.get_info()
        local = datetime.datetime.fromtimestamp(info.start_utc_s, CHICAGO)
        offsets.add(local.utcoffset())
        working = local.weekday() < 5
        expected = DAY if working and 6 <= local.hour < 19 else NIGHT
        np.testing.assert_array_equal(action, expected, err_msg=local.isoformat())
    assert len(offsets) == 2  # the week really crossed a DST change


def test_holidays_follow_the_environment_calendar():
    gin.parse_config("building_calendar.holidays = ['2023-01-10']")
    env = _env(start_date="2023-01-09")
    policy = _policy(env)
    time_step = env.reset()
    day_actions = {}
    for _ in range(96 * 3):
        action = policy.action(time_step).action
        time_step = env.step(action)
        local = env.get_info().local_time
        if local[11:16] == "10:00":
            day_actions[local[:10]] = action
    np.testing.assert_array_equal(day_actions["2023-01-09"], DAY)
    np.testing.assert_array_equal(day_actions["2023-01-10"], NIGHT)  # holiday
    np.testing.assert_array_equal(day_actions["2023-01-11"], DAY)


def test_events_and_holiday_schedule_are_configurable_in_gin():
    gin.parse_config(
        """
        create_schedule_policy.weekday_events = [
            {'time': '07:30', 'supply_water_setpoint_k': 340.0,
             'supply_air_heating_setpoint_k': 290.0},
            {'time': '12:00', 'supply_water_setpoint_k': 330.0,
             'supply_air_heating_setpoint_k': 288.0},
            {'time': '17:00', 'supply_water_setpoint_k': 320.0,
             'supply_air_heating_setpoint_k': 286.0},
        ]
        create_schedule_policy.holiday_events = [
            {'time': '00:00', 'supply_water_setpoint_k': 310.0,
             'supply_air_heating_setpoint_k': 285.0},
        ]
        create_schedule_policy.weekend_days = [6]
        """
    )
    policy = _policy()

    def setpoints(local, holiday=False):
        return MAPPING.to_setpoints(_act(policy, _observation(local, holiday)))

    np.testing.assert_allclose(
        setpoints(datetime.datetime(2023, 1, 9, 7, 0)), [320, 286], atol=1e-4
    )
    np.testing.assert_allclose(
        setpoints(datetime.datetime(2023, 1, 9, 7, 30)), [340, 290], atol=1e-4
    )
    np.testing.assert_allclose(
        setpoints(datetime.datetime(2023, 1, 9, 13, 0)), [330, 288], atol=1e-4
    )
    # Saturday is a working day now, Sunday is not.
    np.testing.assert_allclose(
        setpoints(datetime.datetime(2023, 1, 14, 8, 0)), [340, 290], atol=1e-4
    )
    np.testing.assert_allclose(
        setpoints(datetime.datetime(2023, 1, 15, 8, 0)), [315, 285], atol=1e-4
    )
    np.testing.assert_allclose(
        setpoints(datetime.datetime(2023, 1, 9, 8, 0), holiday=True),
        [310, 285],
        atol=1e-4,
    )


def test_weekend_days_default_to_the_environment_calendar():
    gin.parse_config("building_calendar.weekend_days = (4, 5)")  # Fri, Sat off
    policy = _policy()
    friday = _act(policy, _observation(datetime.datetime(2023, 1, 13, 10, 0)))
    sunday = _act(policy, _observation(datetime.datetime(2023, 1, 15, 10, 0)))
    np.testing.assert_array_equal(friday, NIGHT)
    np.testing.assert_array_equal(sunday, DAY)


@pytest.mark.parametrize(
    "events, message",
    [
        ([], "at least one event"),
        ([{"time": "06:00", "supply_water_setpoint_k": 350.0}], "keys"),
        (
            [
                {
                    "time": "6am",
                    "supply_water_setpoint_k": 350.0,
                    "supply_air_heating_setpoint_k": 292.0,
                }
            ],
            "weekday_events",
        ),
        (
            # Values swapped: 292 K is outside the supply water range.
            [
                {
                    "time": "06:00",
                    "supply_water_setpoint_k": 292.0,
                    "supply_air_heating_setpoint_k": 350.0,
                }
            ],
            "supply_water_setpoint",
        ),
        (
            [
                {
                    "time": "06:00",
                    "supply_water_setpoint_k": 350.0,
                    "supply_air_heating_setpoint_k": 292.0,
                },
                {
                    "time": "06:00",
                    "supply_water_setpoint_k": 340.0,
                    "supply_air_heating_setpoint_k": 290.0,
                },
            ],
            "same time",
        ),
    ],
)
def test_bad_schedules_raise(events, message):
    with pytest.raises(ValueError, match=message):
        _policy(weekday_events=events)


def test_batched_observations_and_tf_policy_agree():
    env = _env(start_date="2023-03-06")  # includes the DST change
    policy = _policy(env)
    time_step = env.reset()
    observed = [time_step.observation]
    for _ in range(env.steps_per_episode):
        time_step = env.step(policy.action(time_step).action)
        observed.append(time_step.observation)
    holidays = _observation(datetime.datetime(2023, 7, 4, 10, 0), holiday=True)
    batch = np.array(observed + [holidays])
    batched = ts.transition(batch, np.zeros(len(batch), np.float32))
    py_actions = policy.action(batched).action
    assert py_actions.shape == (len(batch), 2) and py_actions.dtype == np.float32
    tf_policy = policy.as_tf_policy()
    tf_step = tf.nest.map_structure(tf.convert_to_tensor, batched)
    tf_actions = tf_policy.action(tf_step).action.numpy()
    np.testing.assert_array_equal(tf_actions, py_actions)
    distribution = tf_policy.distribution(tf_step).action
    np.testing.assert_array_equal(distribution.sample().numpy(), py_actions)
    # Same lookups one by one.
    for obs, action in zip(batch[::37], py_actions[::37]):
        np.testing.assert_array_equal(_act(policy, obs), action)


def test_policy_runs_in_a_tf_agents_driver():
    env = _env(episode_days=1)
    actions = []
    driver = py_driver.PyDriver(
        env,
        _policy(env),
        observers=[lambda traj: actions.append(traj.action)],
        max_steps=96,
    )
    driver.run(env.reset())
    assert len(actions) == 96
    for use_tf_function in (False, True):
        env_tf_policy = py_tf_eager_policy.PyTFEagerPolicy(
            _policy(env).as_tf_policy(), use_tf_function=use_tf_function
        )
        driver = py_driver.PyDriver(env, env_tf_policy, observers=[], max_steps=10)
        driver.run(env.reset())


def test_specs_must_be_the_buildings():
    env = _env()
    bad = env.time_step_spec()._replace(
        observation=array_spec.BoundedArraySpec((5,), np.float32, 0.0, 1.0)
    )
    with pytest.raises(ValueError, match="observation shape"):
        schedule_policy.create_schedule_policy(bad, env.action_spec())


def test_tf_and_py_policies_agree_on_every_minute_of_the_week():
    policy = _policy()
    start = datetime.datetime(2023, 1, 9)  # a Monday
    batch = np.array(
        [
            _observation(start + datetime.timedelta(minutes=m), holiday=m % 97 == 0)
            for m in range(7 * 1440)
        ]
    )
    step = ts.transition(batch, np.zeros(len(batch), np.float32))
    py_actions = policy.action(step).action
    tf_step = tf.nest.map_structure(tf.convert_to_tensor, step)
    tf_actions = policy.as_tf_policy().action(tf_step).action.numpy()
    np.testing.assert_array_equal(tf_actions, py_actions)
    # Monday 06:00 is the first daytime minute, 19:00 the first night one.
    np.testing.assert_array_equal(py_actions[359], NIGHT)
    np.testing.assert_array_equal(py_actions[360], DAY)
    np.testing.assert_array_equal(py_actions[19 * 60 - 1], DAY)
    np.testing.assert_array_equal(py_actions[19 * 60], NIGHT)
