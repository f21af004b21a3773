"""Tests of the observation layout and the local-time encoding."""

import numpy as np

from smart_control.environment import observations


def _encoded(minutes, weekdays):
    obs = np.zeros((len(minutes), len(observations.OBSERVATION_NAMES)), np.float32)
    features = observations.time_features(minutes * 60.0, weekdays)
    for name, values in zip(
        ("hour_of_day_sin", "hour_of_day_cos", "day_of_week_sin", "day_of_week_cos"),
        features,
    ):
        obs[:, observations.INDEX[name]] = values
    return obs


def test_every_minute_and_weekday_decodes_exactly_from_float32():
    minutes = np.tile(np.arange(1440), 7)
    weekdays = np.repeat(np.arange(7), 1440)
    minute, weekday = observations.decode_local_time(_encoded(minutes, weekdays))
    np.testing.assert_array_equal(minute, minutes)
    np.testing.assert_array_equal(weekday, weekdays)


def test_seconds_into_a_minute_decode_to_that_minute():
    obs = _encoded(np.array([359.5, 359.99, 360.5]), np.zeros(3))
    minute, _ = observations.decode_local_time(obs)
    np.testing.assert_array_equal(minute, [359, 359, 360])


def test_names_and_spec_agree():
    spec = observations.observation_spec()
    names = observations.observation_names()
    assert spec.shape == (len(names),) == (18,)
    assert len(set(names)) == len(names)
    assert np.all(spec.minimum < spec.maximum)
    assert observations.INDEX["supply_water_setpoint"] == 16
    assert observations.INDEX["supply_air_heating_setpoint"] == 17
