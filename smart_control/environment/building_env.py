"""TF-Agents environment of a multi-zone office building and its HVAC.

`BuildingEnvironment` assembles the parts of this package: the RC thermal
network of the building (`building_geometry`, `thermal_model`), the VAV/boiler
system (`hvac`), weather (`weather`, `solar`), occupants and internal gains
(`occupancy`), the local calendar (`building_calendar`), prices, carbon and
reward (`reward`), and the action and observation layouts (`action_mapping`,
`observations`). Every part comes from a gin-configurable factory, so a gin
file such as configs/environment/office_building.gin sets every parameter.

Time: one step is `time_step_s` seconds (default 900 s) of absolute time and
an episode is `episode_days` days (default 7: 672 steps), starting at local
midnight of `start_date` or of a random date. An episode ends with a LAST
step whose discount is 1.0: the time limit truncates an ongoing process, so
learners should bootstrap from the last observation (TF-Agents'
`ts.truncation` convention).

Speed: everything that does not depend on actions (weather, solar and
internal gains, occupancy, prices, time features, the network's response to
them) is computed for the whole episode at reset; a step then costs two small
matrix-vector products and the thermostat/plant arithmetic.

Usage from a binary:

    env = create_building_environment(seed=0)   # gin-configured
    time_step = env.reset()
    time_step = env.step(np.array([0.78, -0.07], np.float32))
    env.get_info().electricity_kwh
"""

from __future__ import annotations

import datetime
import typing

import gin
import numpy as np
from absl import logging
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from smart_control.environment import (
    action_mapping as action_mapping_lib,
)
from smart_control.environment import (
    building_calendar,
    building_geometry,
    constants,
    hvac,
    observations,
    occupancy,
    reward,
    solar,
    thermal_model,
    weather,
)

# Re-exported: the environment's public API in one import.
ACTION_NAMES = action_mapping_lib.ACTION_NAMES
ActionMapping = action_mapping_lib.ActionMapping
observation_names = observations.observation_names

_AIR_MEAN = observations.INDEX["zone_air_temperature_mean"]
_AIR_MIN = observations.INDEX["zone_air_temperature_min"]
_AIR_MAX = observations.INDEX["zone_air_temperature_max"]
_MASS_MEAN = observations.INDEX["zone_mass_temperature_mean"]
_WATER = observations.INDEX["supply_water_setpoint"]
_AIR_HEATING = observations.INDEX["supply_air_heating_setpoint"]
_ONE = np.asarray(1.0, dtype=np.float32)
_ZERO = np.asarray(0.0, dtype=np.float32)


class StepInfo(typing.NamedTuple):
    """What happened during the last step (energy in kWh, temperatures in K).

    Energies are per step. `comfort_violation_degree_hours` sums, over zones,
    how far the end-of-step air temperature lies outside the band in force,
    times the step length in hours. The energy-balance fields satisfy
    `stored_energy_change_kwh == zone_hvac_heat_kwh + solar_gain_kwh +
    internal_gain_kwh - envelope_loss_kwh` and `zone_hvac_heat_kwh ==
    coil_heating_kwh - coil_cooling_kwh + reheat_kwh + outdoor_air_load_kwh`.
    """

    step_index: int
    start_utc_s: int
    local_time: str
    reward: float
    electricity_kwh: float
    gas_kwh: float
    cost: float
    carbon_kg: float
    comfort_violation_degree_hours: float
    fan_kwh: float
    cooling_electricity_kwh: float
    pump_kwh: float
    zone_air_temperatures_k: np.ndarray
    zone_mass_temperatures_k: np.ndarray
    comfort_low_k: float
    comfort_high_k: float
    occupied_mode: bool
    occupants: float
    supply_water_setpoint_k: float
    supply_air_heating_setpoint_k: float
    supply_air_temperature_k: float
    outdoor_air_fraction: float
    airflow_m3_s: float
    outdoor_temperature_k: float
    electricity_price: float
    grid_carbon_kg_per_kwh: float
    zone_hvac_heat_kwh: float
    reheat_kwh: float
    coil_heating_kwh: float
    coil_cooling_kwh: float
    outdoor_air_load_kwh: float
    boiler_output_kwh: float
    loop_loss_kwh: float
    boiler_efficiency: float
    solar_gain_kwh: float
    internal_gain_kwh: float
    envelope_loss_kwh: float
    stored_energy_change_kwh: float


@gin.configurable
class BuildingEnvironment(py_environment.PyEnvironment):
    """An office building's HVAC as a TF-Agents `PyEnvironment`.

    Actions: float32 (2,) in [-1, 1], `ACTION_NAMES` order, mapped by
    `ActionMapping` to supply water and supply air heating setpoints.
    Observations: float32 vector, fields `observation_names()`.
    Reward: float32 scalar, see `reward.py`; components via `get_info()`.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        building: building_geometry.BuildingSpec | None = None,
        hvac_params: hvac.HvacParameters | None = None,
        bands: hvac.ComfortBands | None = None,
        site: building_calendar.Site | None = None,
        calendar: building_calendar.BuildingCalendar | None = None,
        weather_source: weather.WeatherSource | None = None,
        occupancy_model: occupancy.OccupancyModel | None = None,
        gains: occupancy.InternalGains | None = None,
        tariff: reward.EnergyTariff | None = None,
        reward_fn: reward.RewardFunction | None = None,
        mapping: action_mapping_lib.ActionMapping | None = None,
        time_step_s: int = 900,
        episode_days: int = 7,
        start_date: str = "2023-01-09",
        random_start: bool = False,
        random_start_first: str = "2023-01-01",
        random_start_last: str = "2023-12-24",
        initial_temperature_k: float = 294.15,
        initial_supply_water_k: float = 315.0,
        initial_supply_air_heating_k: float = 285.0,
    ):
        """Builds the environment.

        Components left as None are built by their gin-configurable factory
        (`office_building()`, `hvac_parameters()`, `comfort_bands()`, `site()`,
        `building_calendar()`, `synthetic_weather()`, `occupancy_model()`,
        `internal_gains()`, `energy_tariff()`, `reward_function()`,
        `action_mapping()`).

        Args:
          seed: Seeds weather, occupancy and random start dates. The same seed
            gives the same sequence of episodes whatever the actions.
          building: Geometry and RC network.
          hvac_params: HVAC design and plant parameters.
          bands: Thermostat comfort and setback bands.
          site: Location and time zone.
          calendar: Working days, holidays, occupied hours.
          weather_source: Synthetic, constant, EPW or CSV weather.
          occupancy_model: Arrivals and departures.
          gains: Internal gains from people, lights, equipment.
          tariff: Electricity and gas prices, carbon factors.
          reward_fn: Reward weights and normalisers.
          mapping: Action to setpoint mapping.
          time_step_s: Step length in seconds; must divide a day.
          episode_days: Episode length in days.
          start_date: Local start date "YYYY-MM-DD" when not random.
          random_start: Whether each episode starts on a random date.
          random_start_first: First possible random start date.
          random_start_last: Last possible random start date.
          initial_temperature_k: Temperature of every node at reset, K.
          initial_supply_water_k: Setpoint shown before the first action, K.
          initial_supply_air_heating_k: Setpoint shown before the first
            action, K.

        Raises:
          ValueError: naming the parameter, on a time step that does not
            divide a day, a non-positive episode length, malformed dates, an
            empty random range, or invalid components.
        """
        super().__init__(handle_auto_reset=False)
        if isinstance(time_step_s, bool) or int(time_step_s) != time_step_s:
            raise ValueError(f"time_step_s={time_step_s} must be a whole number")
        time_step_s = int(time_step_s)
        if time_step_s <= 0 or constants.SECONDS_PER_DAY % time_step_s:
            raise ValueError(
                f"time_step_s={time_step_s} must be a positive divisor of a day "
                f"({constants.SECONDS_PER_DAY} s), e.g. 300, 900 or 3600"
            )
        if int(episode_days) != episode_days or episode_days < 1:
            raise ValueError(f"episode_days={episode_days} must be an integer >= 1")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed={seed} must be a non-negative integer")
        self._building = (
            building if building is not None else building_geometry.office_building()
        )
        self._hvac_params = (
            hvac_params if hvac_params is not None else hvac.hvac_parameters()
        )
        self._bands = bands if bands is not None else hvac.comfort_bands()
        self._site = site if site is not None else building_calendar.site()
        self._calendar = (
            calendar if calendar is not None else building_calendar.building_calendar()
        )
        self._weather = (
            weather_source
            if weather_source is not None
            else weather.synthetic_weather()
        )
        self._occupancy = (
            occupancy_model
            if occupancy_model is not None
            else occupancy.occupancy_model()
        )
        self._gains = gains if gains is not None else occupancy.internal_gains()
        self._tariff = tariff if tariff is not None else reward.energy_tariff()
        self._reward_fn = (
            reward_fn if reward_fn is not None else reward.reward_function()
        )
        self._mapping = (
            mapping if mapping is not None else action_mapping_lib.action_mapping()
        )
        water, air = (
            self._mapping.supply_water_range_k,
            self._mapping.supply_air_heating_range_k,
        )
        self._setpoint_affine = (water[0], water[1] - water[0], air[0], air[1] - air[0])
        self._gas_price = self._tariff.gas_per_kwh
        self._gas_carbon = self._tariff.gas_carbon_kg_per_kwh

        self._dt = time_step_s
        self._steps = int(episode_days) * constants.SECONDS_PER_DAY // time_step_s
        self._start_date = building_calendar.parse_date(start_date, "start_date")
        self._random_start = bool(random_start)
        self._random_first = building_calendar.parse_date(
            random_start_first, "random_start_first"
        )
        self._random_last = building_calendar.parse_date(
            random_start_last, "random_start_last"
        )
        if self._random_last < self._random_first:
            raise ValueError(
                f"random_start_last={random_start_last} is before "
                f"random_start_first={random_start_first}"
            )
        self._zone = self._site.zone
        location = (
            getattr(self._weather, "latitude_deg", None),
            getattr(self._weather, "longitude_deg", None),
        )
        if None not in location and (
            abs(location[0] - self._site.latitude_deg) > 1.0
            or abs(location[1] - self._site.longitude_deg) > 1.0
        ):
            # Solar geometry uses the site; a far-away weather file means sun
            # angles and measured irradiance disagree.
            logging.warning(
                "weather file location %s differs from the site (%s, %s); "
                "bind site.latitude_deg / site.longitude_deg to match",
                location,
                self._site.latitude_deg,
                self._site.longitude_deg,
            )
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        self._initial_temperature_k = float(initial_temperature_k)
        self._initial_action = self._mapping.to_action(
            initial_supply_water_k, initial_supply_air_heating_k
        )

        b = self._building
        n = b.num_zones
        self._n = n
        self._model = thermal_model.DiscreteThermalModel.build(b.network, time_step_s)
        self._phi = self._model.phi
        self._gamma = self._model.gamma
        # Response of all nodes to heat on the air nodes (HVAC delivers there).
        self._gamma_air = np.ascontiguousarray(self._model.gamma[:, :n])
        self._hvac = hvac.HvacSystem(
            self._hvac_params,
            b.floor_area_m2,
            b.is_perimeter,
            np.diag(self._model.gamma[:n, :n]).copy(),
        )
        self._seats = self._occupancy.design_occupants(b.floor_area_m2)
        self._step_hours = time_step_s / constants.SECONDS_PER_HOUR
        self._kwh_per_w_step = time_step_s / constants.JOULES_PER_KWH
        self._reward_coefficients = self._reward_fn.coefficients(
            n, b.total_floor_area_m2, self._step_hours
        )
        self._observation_spec = observations.observation_spec()
        self._action_spec = array_spec.BoundedArraySpec(
            (len(ACTION_NAMES),), np.float32, -1.0, 1.0, name="action"
        )
        self._episode_ended = True
        self._k = 0
        self._last = None

    # ----------------------------------------------------------------- specs
    def observation_spec(self) -> array_spec.BoundedArraySpec:
        return self._observation_spec

    def action_spec(self) -> array_spec.BoundedArraySpec:
        return self._action_spec

    # ------------------------------------------------------------ accessors
    @property
    def action_mapping(self) -> action_mapping_lib.ActionMapping:
        """The action <-> setpoint mapping in use."""
        return self._mapping

    @property
    def zone_names(self) -> tuple[str, ...]:
        return self._building.zone_names

    @property
    def building(self) -> building_geometry.BuildingSpec:
        return self._building

    @property
    def discrete_model(self) -> thermal_model.DiscreteThermalModel:
        """The exactly discretised thermal network (Phi, Gamma)."""
        return self._model

    @property
    def steps_per_episode(self) -> int:
        return self._steps

    @property
    def time_step_s(self) -> int:
        return self._dt

    @staticmethod
    def observation_names() -> tuple[str, ...]:
        return observations.observation_names()

    # ---------------------------------------------------------------- reset
    def _episode_start_utc(self) -> int:
        if self._random_start:
            span = (self._random_last - self._random_first).days
            day = self._random_first + datetime.timedelta(
                days=int(self._rng.integers(0, span + 1))
            )
        else:
            day = self._start_date
        midnight = datetime.datetime(day.year, day.month, day.day, tzinfo=self._zone)
        return int(midnight.timestamp())

    def _reset(self) -> ts.TimeStep:
        b, n, dt, steps = self._building, self._n, self._dt, self._steps
        times = self._episode_start_utc() + dt * np.arange(steps + 1, dtype=np.int64)
        timeline = self._calendar.timeline(times, self._zone)
        lat, lon = self._site.latitude_deg, self._site.longitude_deg
        wx = self._weather.sample(times, self._rng, lat, lon)
        people = self._occupancy.sample(timeline, b.floor_area_m2, self._rng)

        # Step inputs: averages of the two ends of each step.
        outdoor = 0.5 * (wx.temperature_k[:-1] + wx.temperature_k[1:])
        sun = solar.sun_position(times, lat, lon)
        surface = solar.vertical_irradiance(
            b.window_azimuth_deg,
            sun,
            wx.dni_w_m2,
            wx.dhi_w_m2,
            wx.ghi_w_m2,
            b.ground_reflectance,
        )
        surface = 0.5 * (surface[:-1] + surface[1:])
        solar_w = surface * (b.window_area_m2 * b.solar_heat_gain_coefficient)
        internal_w = self._gains.heat(people[:-1], self._seats, b.floor_area_m2)
        fs, fi = b.solar_to_mass_fraction, self._gains.to_mass_fraction
        heat = np.concatenate(
            [
                (1 - fs) * solar_w + (1 - fi) * internal_w,
                fs * solar_w + fi * internal_w,
            ],
            axis=1,
        )
        u = b.network.boundary_input(outdoor, b.ground_temperature_k, heat)
        self._inputs = u
        self._solar_w = solar_w.sum(axis=1)
        self._internal_w = internal_w.sum(axis=1)
        self._drive = u @ self._gamma.T

        bands = self._bands
        occupied = timeline.is_occupied_mode
        low = np.where(occupied, bands.occupied_low_k, bands.setback_low_k)
        high = np.where(occupied, bands.occupied_high_k, bands.setback_high_k)
        price = self._tariff.electricity_price(timeline)
        carbon = self._tariff.grid_carbon(timeline)
        self._timeline = timeline
        self._occupied = occupied.tolist()
        self._low = low.tolist()
        self._high = high.tolist()
        self._outdoor = outdoor.tolist()
        self._price = price.tolist()
        self._carbon = carbon.tolist()
        self._people = people.sum(axis=1)

        # Observations: every action-independent field filled now.
        obs = np.zeros((steps + 1, len(observations.OBSERVATION_NAMES)), np.float32)
        index = observations.INDEX
        hour_sin, hour_cos, day_sin, day_cos = observations.time_features(
            timeline.local_seconds, timeline.weekday
        )
        obs[:, index["comfort_band_low"]] = observations.scale_zone_temperature(low)
        obs[:, index["comfort_band_high"]] = observations.scale_zone_temperature(high)
        obs[:, index["outdoor_air_temperature"]] = (
            observations.scale_outdoor_temperature(wx.temperature_k)
        )
        obs[:, index["global_horizontal_irradiance"]] = (
            wx.ghi_w_m2 / observations.IRRADIANCE_SCALE_W_M2
        )
        obs[:, index["hour_of_day_sin"]] = hour_sin
        obs[:, index["hour_of_day_cos"]] = hour_cos
        obs[:, index["day_of_week_sin"]] = day_sin
        obs[:, index["day_of_week_cos"]] = day_cos
        obs[:, index["is_holiday"]] = timeline.is_holiday
        seats = max(float(self._seats.sum()), 1.0)
        obs[:, index["occupancy"]] = self._people / seats
        obs[:, index["electricity_price"]] = price / max(
            self._tariff.max_electricity_price, 1e-12
        )
        obs[:, index["grid_carbon_intensity"]] = carbon
        self._obs = obs

        self._x = np.full(2 * n, self._initial_temperature_k)
        self._k = 0
        self._episode_ended = False
        self._last = None
        self._write_state_fields(0, self._x.tolist(), self._initial_action)
        return ts.TimeStep(ts.StepType.FIRST, _ZERO, _ONE, obs[0])

    def _write_state_fields(self, k: int, state: list, action) -> None:
        """Fills the zone and setpoint fields of observation row k."""
        n = self._n
        air = state[:n]
        self._air = air
        mean = sum(air) / n
        self._zone_mean = mean
        row = self._obs[k]
        c, s = (
            observations.ZONE_TEMPERATURE_CENTER_K,
            observations.ZONE_TEMPERATURE_SCALE_K,
        )
        row[_AIR_MEAN] = (mean - c) / s
        row[_AIR_MIN] = (min(air) - c) / s
        row[_AIR_MAX] = (max(air) - c) / s
        row[_MASS_MEAN] = (sum(state[n:]) / n - c) / s
        row[_WATER] = action[0]
        row[_AIR_HEATING] = action[1]

    # ----------------------------------------------------------------- step
    def _step(self, action) -> ts.TimeStep:
        if self._episode_ended:
            return self.reset()
        k = self._k
        a_water, a_air = float(action[0]), float(action[1])
        if a_water != a_water or a_air != a_air:
            raise ValueError(f"action {action} contains NaN")
        a_water = -1.0 if a_water < -1.0 else (1.0 if a_water > 1.0 else a_water)
        a_air = -1.0 if a_air < -1.0 else (1.0 if a_air > 1.0 else a_air)
        water_low, water_span, air_low, air_span = self._setpoint_affine
        water_k = water_low + 0.5 * (a_water + 1.0) * water_span
        air_k = air_low + 0.5 * (a_air + 1.0) * air_span

        # Thermal network: free response, then the HVAC's heat on air nodes.
        n = self._n
        x = self._x
        free = self._phi @ x
        free += self._drive[k]
        low, high = self._low[k], self._high[k]
        result = self._hvac.step(
            self._air,
            free[:n].tolist(),
            self._zone_mean,
            self._occupied[k],
            low,
            high,
            self._outdoor[k],
            water_k,
            air_k,
        )
        q = result.zone_heat_w
        if q is not None:
            free += self._gamma_air @ q
        self._x = free
        state = free.tolist()
        self._write_state_fields(k + 1, state, (a_water, a_air))

        violation = 0.0
        for t in self._air:
            if t < low:
                violation += low - t
            elif t > high:
                violation += t - high
        violation *= self._step_hours
        to_kwh = self._kwh_per_w_step
        electricity_kwh = (
            result.fan_w + result.cooling_electric_w + result.pump_w
        ) * to_kwh
        gas_kwh = result.gas_w * to_kwh
        cost = electricity_kwh * self._price[k] + gas_kwh * self._gas_price
        carbon = electricity_kwh * self._carbon[k] + gas_kwh * self._gas_carbon
        kc, ke, kg = self._reward_coefficients
        r = -(kc * violation + ke * cost + kg * carbon)
        self._last = (k, x, result, water_k, air_k, violation, electricity_kwh,
                      gas_kwh, cost, carbon, r)  # fmt: skip

        self._k = k = k + 1
        reward_value = np.asarray(r, dtype=np.float32)
        if k == self._steps:
            self._episode_ended = True
            return ts.TimeStep(ts.StepType.LAST, reward_value, _ONE, self._obs[k])
        return ts.TimeStep(ts.StepType.MID, reward_value, _ONE, self._obs[k])

    # ----------------------------------------------------------------- info
    def get_info(self) -> StepInfo | None:
        """Components of the last step, or None before the first step."""
        if self._last is None:
            return None
        (k, x_old, result, water_k, air_k, violation, electricity_kwh, gas_kwh,
         cost, carbon, r) = self._last  # fmt: skip
        n, to_kwh, dt = self._n, self._kwh_per_w_step, self._dt
        x_new = self._x
        network = self._building.network
        q = result.zone_heat_w
        q_air = np.zeros(n) if q is None else q
        u = self._inputs[k] + np.concatenate([q_air, np.zeros(n)])
        integral = self._model.integrate(x_old, u)
        boundary_k = network.boundary_input(
            self._outdoor[k], self._building.ground_temperature_k, np.zeros(2 * n)
        )
        # Heat leaving through the envelope: sum h (x - T_boundary) over time.
        total_h = network.outdoor_w_k + network.ground_w_k
        envelope_j = float(total_h @ integral - boundary_k.sum() * dt)
        stored_j = float(network.capacitance_j_k @ (x_new - x_old))
        start = int(self._timeline.utc_s[k])
        local = datetime.datetime.fromtimestamp(start, self._zone).isoformat()
        return StepInfo(
            step_index=k,
            start_utc_s=start,
            local_time=local,
            reward=r,
            electricity_kwh=electricity_kwh,
            gas_kwh=gas_kwh,
            cost=cost,
            carbon_kg=carbon,
            comfort_violation_degree_hours=violation,
            fan_kwh=result.fan_w * to_kwh,
            cooling_electricity_kwh=result.cooling_electric_w * to_kwh,
            pump_kwh=result.pump_w * to_kwh,
            zone_air_temperatures_k=x_new[:n].copy(),
            zone_mass_temperatures_k=x_new[n:].copy(),
            comfort_low_k=self._low[k],
            comfort_high_k=self._high[k],
            occupied_mode=self._occupied[k],
            occupants=float(self._people[k]),
            supply_water_setpoint_k=water_k,
            supply_air_heating_setpoint_k=air_k,
            supply_air_temperature_k=result.supply_air_k,
            outdoor_air_fraction=result.outdoor_air_fraction,
            airflow_m3_s=result.airflow_m3_s,
            outdoor_temperature_k=self._outdoor[k],
            electricity_price=self._price[k],
            grid_carbon_kg_per_kwh=self._carbon[k],
            zone_hvac_heat_kwh=float(q_air.sum()) * to_kwh,
            reheat_kwh=result.reheat_w * to_kwh,
            coil_heating_kwh=result.coil_heating_w * to_kwh,
            coil_cooling_kwh=result.coil_cooling_w * to_kwh,
            outdoor_air_load_kwh=result.outdoor_air_load_w * to_kwh,
            boiler_output_kwh=result.boiler_output_w * to_kwh,
            loop_loss_kwh=result.loop_loss_w * to_kwh,
            boiler_efficiency=result.boiler_efficiency,
            solar_gain_kwh=float(self._solar_w[k]) * to_kwh,
            internal_gain_kwh=float(self._internal_w[k]) * to_kwh,
            envelope_loss_kwh=envelope_j / constants.JOULES_PER_KWH,
            stored_energy_change_kwh=stored_j / constants.JOULES_PER_KWH,
        )


@gin.configurable
def create_building_environment(seed: int = 0, **overrides) -> BuildingEnvironment:
    """Gin-bindable factory: `train.env_factory = @create_building_environment`.

    Args:
      seed: Environment seed (weather, occupancy, random start dates).
      **overrides: Keyword arguments of `BuildingEnvironment` that take
        precedence over gin bindings.
    """
    return BuildingEnvironment(seed=seed, **overrides)
