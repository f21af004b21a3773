"""Energy prices, carbon intensities and the reward.

The reward of a step is the negative weighted sum of three regrets, each
normalised so that a bad but plausible step scores about 1:

    r = -(w_comfort * mean zone band violation / comfort_normaliser_k
          + w_cost * cost / (cost_normaliser_per_m2_h * floor area * hours)
          + w_carbon * CO2 / (carbon_normaliser_kg_per_m2_h * floor area * hours))

Weights default to 0.2 / 0.4 / 0.4, the reference system's. The terms are not
clipped: the reward is roughly in [-1, 0] and the raw components (kWh, cost,
kg CO2, degree-hours) are reported alongside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import gin
import numpy as np

from smart_control.environment import building_calendar


@dataclasses.dataclass(frozen=True)
class EnergyTariff:
    """Prices and emission factors; see `energy_tariff` for the fields."""

    electricity_off_peak_per_kwh: float
    electricity_peak_per_kwh: float
    peak_start_s: int
    peak_end_s: int
    gas_per_kwh: float
    grid_carbon_kg_per_kwh: tuple[float, ...]
    gas_carbon_kg_per_kwh: float

    @property
    def max_electricity_price(self) -> float:
        return max(self.electricity_off_peak_per_kwh, self.electricity_peak_per_kwh)

    def electricity_price(self, timeline: building_calendar.Timeline) -> np.ndarray:
        """Price per kWh at each instant (peak on working days only)."""
        peak = (
            timeline.is_workday
            & (timeline.local_seconds >= self.peak_start_s)
            & (timeline.local_seconds < self.peak_end_s)
        )
        return np.where(
            peak, self.electricity_peak_per_kwh, self.electricity_off_peak_per_kwh
        )

    def grid_carbon(self, timeline: building_calendar.Timeline) -> np.ndarray:
        """Grid emission factor (kg CO2 per kWh) at each instant."""
        profile = np.asarray(self.grid_carbon_kg_per_kwh)
        if len(profile) == 1:
            return np.full(len(timeline.utc_s), profile[0])
        hour = (timeline.local_seconds // 3600).astype(np.int64) % 24
        return profile[hour]


@gin.configurable
def energy_tariff(
    electricity_off_peak_per_kwh: float = 0.10,
    electricity_peak_per_kwh: float = 0.25,
    peak_start: str = "12:00",
    peak_end: str = "18:00",
    gas_per_kwh: float = 0.037,
    grid_carbon_kg_per_kwh: Sequence[float] = (0.387,),
    gas_carbon_kg_per_kwh: float = 0.181,
) -> EnergyTariff:
    """Builds the tariff.

    Defaults: a two-period commercial time-of-use tariff, 0.10 / 0.25 $/kWh
    with a 12:00-18:00 working-day peak, of the order of US commercial TOU
    rates (EIA 2023 average commercial price 0.128 $/kWh); natural gas 0.037
    $/kWh (EIA 2023 commercial average about 11.5 $/Mcf, 1 Mcf = 304 kWh);
    grid 0.387 kg CO2/kWh (EPA eGRID2021 US average, 852 lb/MWh); natural gas
    0.181 kg CO2/kWh (EPA GHG Emission Factors Hub, 53.06 kg/MMBtu).

    Args:
      electricity_off_peak_per_kwh: Off-peak electricity price, currency/kWh.
      electricity_peak_per_kwh: Peak electricity price, currency/kWh.
      peak_start: Local "HH:MM" start of the peak period on working days.
      peak_end: Local "HH:MM" end of the peak period.
      gas_per_kwh: Natural gas price per kWh of fuel, currency/kWh.
      grid_carbon_kg_per_kwh: One value, or 24 values by local hour.
      gas_carbon_kg_per_kwh: Emission factor of natural gas, kg/kWh.

    Raises:
      ValueError: on negative prices or factors, a profile that is neither 1
        nor 24 values, or an empty peak period.
    """
    profile = tuple(float(v) for v in grid_carbon_kg_per_kwh)
    if len(profile) not in (1, 24):
        raise ValueError(
            f"grid_carbon_kg_per_kwh has {len(profile)} values; give 1 or 24"
        )
    for name, value in (
        ("electricity_off_peak_per_kwh", electricity_off_peak_per_kwh),
        ("electricity_peak_per_kwh", electricity_peak_per_kwh),
        ("gas_per_kwh", gas_per_kwh),
        ("gas_carbon_kg_per_kwh", gas_carbon_kg_per_kwh),
        ("grid_carbon_kg_per_kwh", min(profile)),
    ):
        if value < 0:
            raise ValueError(f"{name}={value} must be >= 0")
    if max(profile) > 2.0:
        raise ValueError("grid_carbon_kg_per_kwh above 2 kg/kWh is implausible")
    start = building_calendar.parse_time_of_day(peak_start, "peak_start")
    end = building_calendar.parse_time_of_day(peak_end, "peak_end")
    if end <= start:
        raise ValueError(
            f"peak_end={peak_end!r} must be after peak_start={peak_start!r}"
        )
    return EnergyTariff(
        float(electricity_off_peak_per_kwh),
        float(electricity_peak_per_kwh),
        start,
        end,
        float(gas_per_kwh),
        profile,
        float(gas_carbon_kg_per_kwh),
    )


@dataclasses.dataclass(frozen=True)
class RewardFunction:
    """Weights and normalisers; see `reward_function` for the fields."""

    comfort_weight: float
    energy_cost_weight: float
    carbon_weight: float
    comfort_normaliser_k: float
    cost_normaliser_per_m2_h: float
    carbon_normaliser_kg_per_m2_h: float

    def coefficients(
        self, num_zones: int, floor_area_m2: float, step_hours: float
    ) -> tuple[float, float, float]:
        """Multipliers of (degree-hours, cost, kg CO2) in a step's regret."""
        return (
            self.comfort_weight / (self.comfort_normaliser_k * num_zones * step_hours),
            self.energy_cost_weight
            / (self.cost_normaliser_per_m2_h * floor_area_m2 * step_hours),
            self.carbon_weight
            / (self.carbon_normaliser_kg_per_m2_h * floor_area_m2 * step_hours),
        )


@gin.configurable
def reward_function(
    comfort_weight: float = 0.2,
    energy_cost_weight: float = 0.4,
    carbon_weight: float = 0.4,
    comfort_normaliser_k: float = 2.0,
    cost_normaliser_per_m2_h: float = 0.005,
    carbon_normaliser_kg_per_m2_h: float = 0.015,
) -> RewardFunction:
    """Builds the reward.

    The weights are the reference system's (0.2 comfort, 0.4 energy cost,
    0.4 carbon). The normalisers are the values that score 1: a 2 K mean band
    violation; 0.005 currency per m2 of floor per hour, about the peak hourly
    HVAC cost of the default office (a hot afternoon at the peak price); and
    0.015 kg CO2 per m2 per hour, about its peak emissions (a cold-morning
    warm-up on gas). Over a simulated year rewards then stay within about
    [-1.3, 0], 99 % of them within [-0.85, 0].

    Raises:
      ValueError: on negative weights or non-positive normalisers.
    """
    for name, value in (
        ("comfort_weight", comfort_weight),
        ("energy_cost_weight", energy_cost_weight),
        ("carbon_weight", carbon_weight),
    ):
        if value < 0:
            raise ValueError(f"{name}={value} must be >= 0")
    for name, value in (
        ("comfort_normaliser_k", comfort_normaliser_k),
        ("cost_normaliser_per_m2_h", cost_normaliser_per_m2_h),
        ("carbon_normaliser_kg_per_m2_h", carbon_normaliser_kg_per_m2_h),
    ):
        if value <= 0:
            raise ValueError(f"{name}={value} must be > 0")
    return RewardFunction(
        float(comfort_weight),
        float(energy_cost_weight),
        float(carbon_weight),
        float(comfort_normaliser_k),
        float(cost_normaliser_per_m2_h),
        float(carbon_normaliser_kg_per_m2_h),
    )
