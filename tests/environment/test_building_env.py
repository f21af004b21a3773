"""Behaviour tests of the building environment."""

import datetime
import pathlib

import gin
import numpy as np
import pytest
from tf_agents.environments import utils as env_utils
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from smart_control.environment import (
    building_calendar,
    building_env,
    building_geometry,
    hvac,
    observations,
    occupancy,
    solar,
    weather,
)

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def _free_building_env(outdoor_k, ground_k, diffuse_w_m2=0.0, **kwargs):
    """HVAC off, nobody in, constant weather."""
    return building_env.BuildingEnvironment(
        seed=0,
        building=building_geometry.office_building(ground_temperature_k=ground_k),
        hvac_params=hvac.hvac_parameters(enabled=False),
        weather_source=weather.constant_weather(outdoor_k, diffuse_w_m2),
        occupancy_model=occupancy.occupancy_model(
            workday_attendance=0.0, non_workday_attendance=0.0
        ),
        time_step_s=3600,
        **kwargs,
    )


def _run(env, actions):
    """Steps through one episode; returns observations, rewards and infos."""
    time_step = env.reset()
    observations_, rewards, infos = [time_step.observation.copy()], [], []
    for action in actions:
        time_step = env.step(action)
        observations_.append(time_step.observation.copy())
        rewards.append(float(time_step.reward))
        infos.append(env.get_info())
    return np.array(observations_), np.array(rewards), infos


def test_specs_and_episode_structure():
    env = building_env.BuildingEnvironment(seed=0)
    assert env.action_spec() == array_spec.BoundedArraySpec(
        (2,), np.float32, -1.0, 1.0, name="action"
    )
    obs_spec = env.observation_spec()
    assert obs_spec.shape == (len(env.observation_names()),)
    assert obs_spec.dtype == np.float32
    assert building_env.observation_names() == env.observation_names()
    assert env.steps_per_episode == 672
    first = env.reset()
    assert first.step_type == ts.StepType.FIRST
    assert env.get_info() is None
    action = np.zeros(2, np.float32)
    for i in range(672):
        step = env.step(action)
        assert step.step_type == (ts.StepType.LAST if i == 671 else ts.StepType.MID)
        assert step.reward.dtype == np.float32 and step.discount == 1.0
    # Truncation at the time limit keeps discount 1; the next step restarts.
    assert env.step(action).step_type == ts.StepType.FIRST


def test_tf_agents_validation_utility_accepts_environment():
    env = building_env.BuildingEnvironment(seed=0, episode_days=1)
    env_utils.validate_py_environment(env, episodes=2)


def test_hvac_off_zones_relax_toward_outdoor_temperature():
    env = _free_building_env(
        273.15,
        ground_k=273.15,
        gains=occupancy.internal_gains(
            sensible_per_person_w=0.0, lighting_w_m2=0.0, equipment_w_m2=0.0
        ),
        episode_days=60,
        initial_temperature_k=295.15,
    )
    actions = np.zeros((env.steps_per_episode, 2), np.float32)
    _, _, infos = _run(env, actions)
    gaps = np.array([np.abs(i.zone_air_temperatures_k - 273.15).max() for i in infos])
    assert np.all(np.diff(gaps) <= 1e-9)  # monotone approach
    assert gaps[0] > 1.0 and gaps[-1] < 0.01
    assert all(i.electricity_kwh == 0.0 and i.gas_kwh == 0.0 for i in infos)


def test_steady_state_matches_rc_solution():
    outdoor, ground, diffuse = 268.15, 283.15, 100.0
    env = _free_building_env(outdoor, ground, diffuse, episode_days=60)
    actions = np.zeros((env.steps_per_episode, 2), np.float32)
    _, _, infos = _run(env, actions)
    # Analytic steady state of the network with the same constant inputs,
    # computed here from the building description.
    b = env.building
    vertical = 0.5 * diffuse + 0.5 * b.ground_reflectance * diffuse  # isotropic sky
    solar_w = b.window_area_m2 * b.solar_heat_gain_coefficient * vertical
    internal_w = b.floor_area_m2 * (10.76 * 0.05 + 8.07 * 0.4)  # nobody in
    heat = np.concatenate(
        [0.3 * solar_w + 0.5 * internal_w, 0.7 * solar_w + 0.5 * internal_w]
    )
    expected = b.network.steady_state(outdoor, ground, heat)
    n = b.num_zones
    rise = infos[-1].zone_air_temperatures_k - outdoor
    np.testing.assert_allclose(rise, expected[:n] - outdoor, rtol=0.01)
    mass_rise = infos[-1].zone_mass_temperatures_k - outdoor
    np.testing.assert_allclose(mass_rise, expected[n:] - outdoor, rtol=0.01)


def test_energy_balance_closes():
    env = building_env.BuildingEnvironment(seed=2, start_date="2023-03-06")
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (env.steps_per_episode, 2)).astype(np.float32)
    _, _, infos = _run(env, actions)
    scale = max(i.zone_hvac_heat_kwh for i in infos)
    heated = cooled = 0
    for i in infos:
        # Building: stored heat = HVAC + solar + internal - envelope losses.
        assert i.stored_energy_change_kwh == pytest.approx(
            i.zone_hvac_heat_kwh
            + i.solar_gain_kwh
            + i.internal_gain_kwh
            - i.envelope_loss_kwh,
            abs=1e-6 * scale,
        )
        # Air side: heat into zones = coils + reheat + outdoor air load.
        assert i.zone_hvac_heat_kwh == pytest.approx(
            i.coil_heating_kwh
            - i.coil_cooling_kwh
            + i.reheat_kwh
            + i.outdoor_air_load_kwh,
            abs=1e-6 * scale,
        )
        # Plant: boiler output = hot-water load + losses = gas x efficiency.
        assert i.boiler_output_kwh == pytest.approx(
            i.reheat_kwh + i.coil_heating_kwh + i.loop_loss_kwh
        )
        assert i.gas_kwh * i.boiler_efficiency == pytest.approx(i.boiler_output_kwh)
        assert i.electricity_kwh == pytest.approx(
            i.fan_kwh + i.cooling_electricity_kwh + i.pump_kwh
        )
        heated += i.reheat_kwh > 0
        cooled += i.coil_cooling_kwh > 0
    assert heated > 50 and cooled > 10  # both sides were exercised


@pytest.mark.slow
def test_observations_stay_in_spec_over_a_year():
    env = building_env.BuildingEnvironment(
        seed=3, start_date="2023-01-01", episode_days=365
    )
    rng = np.random.default_rng(1)
    spec = env.observation_spec()
    time_step = env.reset()
    array_spec.check_arrays_nest(time_step.observation, spec)
    observed = [time_step.observation]
    for action in rng.uniform(-1, 1, (env.steps_per_episode, 2)).astype(np.float32):
        time_step = env.step(action)
        observed.append(time_step.observation)
    observed = np.array(observed)
    assert observed.dtype == np.float32
    assert np.all(observed >= spec.minimum) and np.all(observed <= spec.maximum)
    # The year really went through seasons and all day types.
    outdoor = observed[:, observations.INDEX["outdoor_air_temperature"]]
    assert outdoor.min() < -0.8 and outdoor.max() > 0.8
    assert observed[:, observations.INDEX["is_holiday"]].max() == 1.0
    # Normal operation stays roughly in [-1, 1].
    assert np.abs(observed).max() < 1.6


def test_same_seed_same_trajectory_other_seed_other_weather():
    def episodes(seed):
        env = building_env.BuildingEnvironment(seed=seed, random_start=True)
        rng = np.random.default_rng(9)
        out = []
        for _ in range(2):
            actions = rng.uniform(-1, 1, (env.steps_per_episode, 2)).astype(np.float32)
            obs, rewards, infos = _run(env, actions)
            out.append((obs, rewards, [i.start_utc_s for i in infos]))
        return out

    first, second, other = episodes(5), episodes(5), episodes(6)
    for (o1, r1, t1), (o2, r2, t2) in zip(first, second):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        assert t1 == t2
    assert first[0][2][0] != first[1][2][0]  # random start dates differ
    assert not np.array_equal(first[0][0], other[0][0])


def test_weather_and_occupancy_do_not_depend_on_actions():
    env_a = building_env.BuildingEnvironment(seed=4)
    env_b = building_env.BuildingEnvironment(seed=4)
    steps = env_a.steps_per_episode
    obs_a, _, _ = _run(env_a, np.full((steps, 2), -1.0, np.float32))
    obs_b, _, _ = _run(env_b, np.full((steps, 2), 1.0, np.float32))
    exogenous = [
        observations.INDEX[name]
        for name in (
            "outdoor_air_temperature",
            "global_horizontal_irradiance",
            "occupancy",
            "hour_of_day_sin",
            "electricity_price",
        )
    ]
    np.testing.assert_array_equal(obs_a[:, exogenous], obs_b[:, exogenous])
    assert not np.array_equal(obs_a[:, 0], obs_b[:, 0])


def test_actions_map_to_setpoints_in_order():
    env = building_env.BuildingEnvironment(seed=0)
    env.reset()
    step = env.step(np.array([1.0, -1.0], np.float32))
    info = env.get_info()
    assert info.supply_water_setpoint_k == pytest.approx(355.0)
    assert info.supply_air_heating_setpoint_k == pytest.approx(285.0)
    index = observations.INDEX
    assert step.observation[index["supply_water_setpoint"]] == 1.0
    assert step.observation[index["supply_air_heating_setpoint"]] == -1.0
    env.step(np.array([5.0, 0.0], np.float32))  # clipped into the box
    assert env.get_info().supply_water_setpoint_k == pytest.approx(355.0)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0], np.float32))


def test_hotter_water_heats_a_cold_morning_better():
    """The water setpoint (action 0) limits reheat capacity at warm-up."""

    def violation(action):
        env = building_env.BuildingEnvironment(seed=1, start_date="2023-01-09")
        _, _, infos = _run(env, np.tile(action, (96, 1)).astype(np.float32))
        return sum(i.comfort_violation_degree_hours for i in infos)

    assert violation([1.0, 0.0]) < violation([-1.0, 0.0])


def test_observation_time_fields_in_local_time_across_dst():
    env = building_env.BuildingEnvironment(seed=0, start_date="2023-03-11")
    obs, _, infos = _run(env, np.zeros((96 * 3, 2), np.float32))
    minute, weekday = observations.decode_local_time(obs)
    # Saturday 00:00 local, 15 minutes per step; Sunday 02:00 CST -> 03:00 CDT.
    assert (minute[0], weekday[0]) == (0, 5)
    sunday_8am_cdt = 96 + 7 * 4  # 7 hours of absolute time after midnight
    assert minute[sunday_8am_cdt] == 8 * 60 and weekday[sunday_8am_cdt] == 6
    monday_6am = 96 * 2 + 6 * 4 - 4  # the Sunday had only 23 hours
    assert minute[monday_6am] == 6 * 60 and weekday[monday_6am] == 0
    assert infos[monday_6am].local_time.startswith("2023-03-13T06:00:00-05:00")
    assert infos[monday_6am].occupied_mode


def test_holiday_is_published_in_observation():
    env = building_env.BuildingEnvironment(seed=0, start_date="2023-07-03")
    obs, _, infos = _run(env, np.zeros((96 * 2, 2), np.float32))
    holiday = obs[:, observations.INDEX["is_holiday"]]
    assert holiday[:96].max() == 0.0 and holiday[96:192].min() == 1.0
    assert not any(i.occupied_mode for i in infos[96:191])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"time_step_s": 7}, "divisor of a day"),
        ({"time_step_s": 1000}, "divisor of a day"),
        ({"time_step_s": -900}, "divisor of a day"),
        ({"time_step_s": 900.5}, "whole number"),
        ({"episode_days": 0}, "episode_days"),
        ({"start_date": "2023-02-30"}, "start_date"),
        (
            {"random_start_first": "2023-06-01", "random_start_last": "2023-01-01"},
            "before",
        ),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_environment_configuration_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        building_env.BuildingEnvironment(**kwargs)


def test_bad_component_configuration_raises_through_gin():
    gin.parse_config("site.time_zone = 'America/Gotham'")
    with pytest.raises(ValueError, match="America/Gotham"):
        building_env.create_building_environment(seed=0)
    gin.clear_config()
    gin.parse_config("office_building.perimeter_depth_m = -4.57")
    with pytest.raises(ValueError, match="perimeter_depth_m"):
        building_env.create_building_environment(seed=0)


def test_gin_file_matches_code_defaults():
    """office_building.gin documents the defaults: it must not drift from them."""
    steps = np.zeros((192, 2), np.float32)
    reference = building_env.BuildingEnvironment(
        seed=7, episode_days=2, random_start=True
    )
    expected = _run(reference, steps)
    # The file's one departure from the code: random start dates.
    gin.parse_config_files_and_bindings(
        [str(CONFIGS / "environment" / "office_building.gin")],
        ["BuildingEnvironment.episode_days = 2"],
        skip_unknown=False,
    )
    env = building_env.create_building_environment(seed=7)
    assert env.steps_per_episode == 192
    observed = _run(env, steps)
    np.testing.assert_array_equal(observed[0], expected[0])
    np.testing.assert_array_equal(observed[1], expected[1])


def test_gin_epw_weather_drives_the_environment(tmp_path):
    # A tiny EPW typical year: 10 C constant, no sun.
    header = [
        "LOCATION,Chicago,IL,USA,TMY3,725300,41.98,-87.92,-6.0,201.0",
        "DESIGN CONDITIONS,0",
        "TYPICAL/EXTREME PERIODS,0",
        "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0",
        "COMMENTS 1,",
        "COMMENTS 2,",
        "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
    ]
    rows = []
    for i in range(8760):
        t = datetime.datetime(2023, 1, 1) + datetime.timedelta(hours=i)
        rows.append(
            f"1999,{t.month},{t.day},{t.hour + 1},60,x,10.0,0,50,99000,0,0,300,0,0,0"
            + ",0" * 19
        )
    path = tmp_path / "tiny.epw"
    path.write_text("\n".join(header + rows) + "\n")
    gin.parse_config_files_and_bindings(
        [
            str(CONFIGS / "environment" / "office_building.gin"),
            str(CONFIGS / "environment" / "weather_epw.gin"),
        ],
        [f"epw_weather.path = '{path}'", "BuildingEnvironment.episode_days = 1"],
        skip_unknown=False,
    )
    env = building_env.create_building_environment(seed=0)
    _, _, infos = _run(env, np.zeros((96, 2), np.float32))
    assert all(i.outdoor_temperature_k == pytest.approx(283.15) for i in infos)
    assert all(i.solar_gain_kwh == 0.0 for i in infos)


def test_solar_gains_follow_the_sun():
    env = building_env.BuildingEnvironment(seed=0, start_date="2023-06-19")
    _, _, infos = _run(env, np.zeros((96, 2), np.float32))
    gains = np.array([i.solar_gain_kwh for i in infos])
    hours = np.arange(96) / 4
    assert gains[hours < 4].max() == 0.0  # night
    assert gains[(hours >= 10) & (hours <= 15)].min() > 0.0
    # Cross-check the solar geometry: sun up at local noon in June.
    sun = solar.sun_position(np.array([infos[48].start_utc_s]), 41.98, -87.90)
    assert sun.cos_zenith[0] > 0.9


def test_time_zone_configuration_moves_local_time():
    tokyo = building_env.BuildingEnvironment(
        seed=0, site=building_calendar.site(35.68, 139.77, "Asia/Tokyo")
    )
    tokyo.reset()
    tokyo.step(np.zeros(2, np.float32))
    assert tokyo.get_info().local_time.endswith("+09:00")


def test_gin_csv_weather_drives_the_environment(tmp_path):
    lines = ["timestamp,dry_bulb_temperature_c,global_horizontal_irradiance_w_m2"]
    start = datetime.datetime(2023, 1, 8, tzinfo=datetime.timezone.utc)
    for hour in range(24 * 4):
        stamp = (start + datetime.timedelta(hours=hour)).isoformat()
        lines.append(f"{stamp},{-5.0 + hour / 10.0},0")
    path = tmp_path / "site.csv"
    path.write_text("\n".join(lines) + "\n")
    gin.parse_config_files_and_bindings(
        [
            str(CONFIGS / "environment" / "office_building.gin"),
            str(CONFIGS / "environment" / "weather_csv.gin"),
        ],
        [
            f"csv_weather.path = '{path}'",
            "BuildingEnvironment.episode_days = 1",
            "BuildingEnvironment.random_start = False",
        ],
        skip_unknown=False,
    )
    env = building_env.create_building_environment(seed=0)
    _, _, infos = _run(env, np.zeros((96, 2), np.float32))
    # 2023-01-09 00:00 Chicago is 06:00 UTC, 30 hours into the series.
    first = infos[0].outdoor_temperature_k - 273.15
    assert first == pytest.approx(-5.0 + (30 + 0.125) / 10.0)
    # A week-long episode runs past the end of the series: clear error.
    with gin.unlock_config():
        gin.bind_parameter("BuildingEnvironment.episode_days", 7)
    with pytest.raises(ValueError, match="covers"):
        building_env.create_building_environment(seed=0).reset()
