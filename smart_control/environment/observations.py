"""The observation layout: one float32 vector, fields roughly in [-1, 1].

| index | name                         | scaling                               |
|-------|------------------------------|---------------------------------------|
| 0-2   | zone_air_temperature_mean/min/max | (T - 295.15 K) / 10 K            |
| 3     | zone_mass_temperature_mean   | (T - 295.15 K) / 10 K                 |
| 4-5   | comfort_band_low/high        | (T - 295.15 K) / 10 K, band in force  |
| 6     | outdoor_air_temperature      | (T - 283.15 K) / 20 K                 |
| 7     | global_horizontal_irradiance | W/m2 / 1000                           |
| 8-9   | hour_of_day_sin/cos          | local wall-clock time, 2 pi per day   |
| 10-11 | day_of_week_sin/cos          | local weekday (Monday = 0), 2 pi / 7  |
| 12    | is_holiday                   | 1 on holidays of the calendar, else 0 |
| 13    | occupancy                    | people present / seats                |
| 14    | electricity_price            | price / highest tariff price          |
| 15    | grid_carbon_intensity        | kg CO2 per kWh                        |
| 16-17 | supply_water_setpoint, supply_air_heating_setpoint | last action, [-1, 1] |

Time fields describe the instant of the observation, in local time with
daylight saving. The day-of-week pair uses the integer weekday, so the
weekday and the time of day decode exactly (see `decode_local_time`).
Temperature bounds in the spec are wide (+-10 scaled units, i.e. +-100 K or
+-200 K) so that any physically possible state is inside the spec; normal
operation stays within about +-1.
"""

from __future__ import annotations

import numpy as np
from tf_agents.specs import array_spec

OBSERVATION_NAMES = (
    "zone_air_temperature_mean",
    "zone_air_temperature_min",
    "zone_air_temperature_max",
    "zone_mass_temperature_mean",
    "comfort_band_low",
    "comfort_band_high",
    "outdoor_air_temperature",
    "global_horizontal_irradiance",
    "hour_of_day_sin",
    "hour_of_day_cos",
    "day_of_week_sin",
    "day_of_week_cos",
    "is_holiday",
    "occupancy",
    "electricity_price",
    "grid_carbon_intensity",
    "supply_water_setpoint",
    "supply_air_heating_setpoint",
)
INDEX = {name: i for i, name in enumerate(OBSERVATION_NAMES)}

ZONE_TEMPERATURE_CENTER_K = 295.15
ZONE_TEMPERATURE_SCALE_K = 10.0
OUTDOOR_TEMPERATURE_CENTER_K = 283.15
OUTDOOR_TEMPERATURE_SCALE_K = 20.0
IRRADIANCE_SCALE_W_M2 = 1000.0
# Float32 sin/cos pairs decode to within about 1e-5 minute; this tolerance
# (0.06 s) keeps exact minutes from decoding to the minute before.
MINUTE_TOLERANCE = 1e-3

_BOUNDS = {
    "zone_air_temperature_mean": (-10.0, 10.0),
    "zone_air_temperature_min": (-10.0, 10.0),
    "zone_air_temperature_max": (-10.0, 10.0),
    "zone_mass_temperature_mean": (-10.0, 10.0),
    "comfort_band_low": (-10.0, 10.0),
    "comfort_band_high": (-10.0, 10.0),
    "outdoor_air_temperature": (-10.0, 10.0),
    "global_horizontal_irradiance": (0.0, 1.5),
    "hour_of_day_sin": (-1.0, 1.0),
    "hour_of_day_cos": (-1.0, 1.0),
    "day_of_week_sin": (-1.0, 1.0),
    "day_of_week_cos": (-1.0, 1.0),
    "is_holiday": (0.0, 1.0),
    "occupancy": (0.0, 1.0),
    "electricity_price": (0.0, 1.0),
    "grid_carbon_intensity": (0.0, 2.0),
    "supply_water_setpoint": (-1.0, 1.0),
    "supply_air_heating_setpoint": (-1.0, 1.0),
}


def observation_names() -> tuple[str, ...]:
    """Names of the observation fields, in vector order."""
    return OBSERVATION_NAMES


def observation_spec() -> array_spec.BoundedArraySpec:
    """The environment's observation spec."""
    low = np.array([_BOUNDS[n][0] for n in OBSERVATION_NAMES], dtype=np.float32)
    high = np.array([_BOUNDS[n][1] for n in OBSERVATION_NAMES], dtype=np.float32)
    return array_spec.BoundedArraySpec(
        (len(OBSERVATION_NAMES),), np.float32, low, high, name="observation"
    )


def scale_zone_temperature(kelvin):
    """Zone and band temperatures to observation units."""
    return (kelvin - ZONE_TEMPERATURE_CENTER_K) / ZONE_TEMPERATURE_SCALE_K


def scale_outdoor_temperature(kelvin):
    """Outdoor temperature to observation units."""
    return (kelvin - OUTDOOR_TEMPERATURE_CENTER_K) / OUTDOOR_TEMPERATURE_SCALE_K


def time_features(
    local_seconds: np.ndarray, weekday: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hour sin, hour cos, weekday sin, weekday cos) of local times."""
    day_angle = 2.0 * np.pi * np.asarray(local_seconds) / 86400.0
    week_angle = 2.0 * np.pi * np.asarray(weekday) / 7.0
    return np.sin(day_angle), np.cos(day_angle), np.sin(week_angle), np.cos(week_angle)


def decode_local_time(observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recovers (minute of day 0..1439, weekday 0..6) from observations.

    Works on (..., n) arrays. The minute is the whole minute that has begun
    (05:59:30 is minute 359); a tolerance of 0.06 s absorbs the float32 error
    of the sin/cos pair, so an observation at exactly 06:00 decodes to minute
    360, never 359. The weekday pair encodes an integer and is rounded.
    """
    observation = np.asarray(observation, dtype=np.float64)
    day_angle = np.arctan2(
        observation[..., INDEX["hour_of_day_sin"]],
        observation[..., INDEX["hour_of_day_cos"]],
    )
    week_angle = np.arctan2(
        observation[..., INDEX["day_of_week_sin"]],
        observation[..., INDEX["day_of_week_cos"]],
    )
    minutes = np.mod(day_angle / (2.0 * np.pi) * 1440.0, 1440.0)
    minute = np.mod(np.floor(minutes + MINUTE_TOLERANCE), 1440).astype(np.int64)
    weekday = np.mod(np.round(week_angle / (2.0 * np.pi) * 7.0), 7).astype(np.int64)
    return minute, weekday
