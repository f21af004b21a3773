"""Occupants and the internal heat gains they drive.

Each zone has a design population (floor area / area per person). On a
working day every occupant comes in with some probability, arrives and leaves
at normally distributed local clock times and is present in between; on
weekends and holidays (from the `BuildingCalendar`) a smaller probability
applies. The random draws are a fixed number per day and per design occupant,
so a seed fixes the whole occupancy trajectory whatever the policy does.

Internal gains follow occupancy: people's sensible heat, and lighting and
plug loads scaled between an unoccupied base fraction and full power.
"""

from __future__ import annotations

import dataclasses

import gin
import numpy as np

from smart_control.environment import building_calendar


@dataclasses.dataclass(frozen=True)
class OccupancyModel:
    """Stochastic arrivals and departures; see `occupancy_model` for fields."""

    area_per_person_m2: float
    workday_attendance: float
    non_workday_attendance: float
    arrival_mean_h: float
    arrival_std_h: float
    departure_mean_h: float
    departure_std_h: float
    min_stay_h: float
    earliest_arrival_h: float
    latest_departure_h: float

    def design_occupants(self, floor_areas_m2: np.ndarray) -> np.ndarray:
        """Number of seats per zone (integer-valued floats)."""
        return np.round(np.asarray(floor_areas_m2) / self.area_per_person_m2)

    def sample(
        self,
        timeline: building_calendar.Timeline,
        floor_areas_m2: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """People present in each zone at each instant of `timeline`.

        Args:
          timeline: Local-time facts of the instants.
          floor_areas_m2: (n,) zone floor areas.
          rng: The episode's random generator.

        Returns:
          (T, n) head counts.
        """
        seats = self.design_occupants(floor_areas_m2).astype(np.int64)
        zone_of_person = np.repeat(np.arange(len(seats)), seats)
        one_hot = np.zeros((len(zone_of_person), len(seats)))
        one_hot[np.arange(len(zone_of_person)), zone_of_person] = 1.0
        people = np.zeros((len(timeline.utc_s), len(seats)))
        clock_h = timeline.local_seconds / 3600.0
        for ordinal in np.unique(timeline.local_ordinal).tolist():
            steps = np.flatnonzero(timeline.local_ordinal == ordinal)
            workday = bool(timeline.is_workday[steps[0]])
            n = len(zone_of_person)
            # Always draw the same amount so later days do not depend on
            # which earlier days were working days.
            attend_draw = rng.random(n)
            arrival_draw = rng.standard_normal(n)
            departure_draw = rng.standard_normal(n)
            probability = (
                self.workday_attendance if workday else self.non_workday_attendance
            )
            if probability <= 0.0 or n == 0:
                continue
            arrival = np.clip(
                self.arrival_mean_h + self.arrival_std_h * arrival_draw,
                self.earliest_arrival_h,
                self.latest_departure_h - self.min_stay_h,
            )
            departure = np.clip(
                self.departure_mean_h + self.departure_std_h * departure_draw,
                arrival + self.min_stay_h,
                self.latest_departure_h,
            )
            attends = attend_draw < probability
            clock = clock_h[steps][:, None]
            present = (clock >= arrival) & (clock < departure) & attends
            people[steps] = present.astype(np.float64) @ one_hot
        return people


@gin.configurable
def occupancy_model(
    area_per_person_m2: float = 18.58,
    workday_attendance: float = 0.9,
    non_workday_attendance: float = 0.0,
    arrival_mean_h: float = 8.0,
    arrival_std_h: float = 0.75,
    departure_mean_h: float = 17.0,
    departure_std_h: float = 0.75,
    min_stay_h: float = 4.0,
    earliest_arrival_h: float = 6.0,
    latest_departure_h: float = 21.0,
) -> OccupancyModel:
    """Builds the occupancy model.

    Defaults: 18.58 m2 (200 ft2) per person is the DOE reference medium
    office density (Deru et al. 2011, NREL/TP-5500-46861); 90 % attendance
    allows for leave, sickness and travel; arrivals around 08:00 and
    departures around 17:00 with 45 min spread follow the shape of the
    ASHRAE 90.1 User's Manual office occupancy schedule.

    Args:
      area_per_person_m2: Floor area per seat, m2.
      workday_attendance: Probability each person comes on a working day.
      non_workday_attendance: Same on weekends and holidays.
      arrival_mean_h: Mean arrival, local hours.
      arrival_std_h: Standard deviation of arrival, hours.
      departure_mean_h: Mean departure, local hours.
      departure_std_h: Standard deviation of departure, hours.
      min_stay_h: Shortest stay of someone who comes in, hours.
      earliest_arrival_h: Nobody arrives earlier (local hours).
      latest_departure_h: Everybody has left by then (local hours).

    Raises:
      ValueError: on non-positive area per person, probabilities outside
        [0, 1], negative spreads or an impossible time window.
    """
    if area_per_person_m2 <= 0:
        raise ValueError(f"area_per_person_m2={area_per_person_m2} must be > 0")
    for name, value in (
        ("workday_attendance", workday_attendance),
        ("non_workday_attendance", non_workday_attendance),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value} not in [0, 1]")
    if arrival_std_h < 0 or departure_std_h < 0 or min_stay_h < 0:
        raise ValueError("arrival_std_h, departure_std_h, min_stay_h must be >= 0")
    if not 0.0 <= earliest_arrival_h < latest_departure_h - min_stay_h <= 24.0:
        raise ValueError(
            f"earliest_arrival_h={earliest_arrival_h}, min_stay_h={min_stay_h} "
            f"and latest_departure_h={latest_departure_h} leave no time to work"
        )
    return OccupancyModel(
        float(area_per_person_m2),
        float(workday_attendance),
        float(non_workday_attendance),
        float(arrival_mean_h),
        float(arrival_std_h),
        float(departure_mean_h),
        float(departure_std_h),
        float(min_stay_h),
        float(earliest_arrival_h),
        float(latest_departure_h),
    )


@dataclasses.dataclass(frozen=True)
class InternalGains:
    """Heat from people, lights and equipment; see `internal_gains` for fields."""

    sensible_per_person_w: float
    lighting_w_m2: float
    equipment_w_m2: float
    lighting_unoccupied_fraction: float
    equipment_unoccupied_fraction: float
    to_mass_fraction: float

    def heat(
        self, people: np.ndarray, seats: np.ndarray, floor_areas_m2: np.ndarray
    ) -> np.ndarray:
        """(T, n) internal sensible gains in W from (T, n) head counts."""
        fraction = np.divide(people, seats, out=np.zeros_like(people), where=seats > 0)
        lights = self.lighting_w_m2 * (
            self.lighting_unoccupied_fraction
            + (1.0 - self.lighting_unoccupied_fraction) * fraction
        )
        equipment = self.equipment_w_m2 * (
            self.equipment_unoccupied_fraction
            + (1.0 - self.equipment_unoccupied_fraction) * fraction
        )
        return (
            people * self.sensible_per_person_w + (lights + equipment) * floor_areas_m2
        )


@gin.configurable
def internal_gains(
    sensible_per_person_w: float = 75.0,
    lighting_w_m2: float = 10.76,
    equipment_w_m2: float = 8.07,
    lighting_unoccupied_fraction: float = 0.05,
    equipment_unoccupied_fraction: float = 0.4,
    to_mass_fraction: float = 0.5,
) -> InternalGains:
    """Builds the internal gains model.

    Defaults: 75 W sensible per person, "moderately active office work"
    (ASHRAE Handbook--Fundamentals 2021, ch. 18, Table 1); lighting 10.76 W/m2
    (1.0 W/ft2, ASHRAE 90.1-2004 office); plug loads 8.07 W/m2 (0.75 W/ft2)
    with 5 % lighting and 40 % equipment left on when nobody is in (DOE
    reference medium office, Deru et al. 2011). About half of these gains are
    radiant and reach the room air only after being absorbed by the mass
    (radiant fractions in ASHRAE Fundamentals ch. 18, Tables 1, 3 and 8).

    Args:
      sensible_per_person_w: Sensible heat per person, W.
      lighting_w_m2: Installed lighting power density, W/m2.
      equipment_w_m2: Plug and process load density, W/m2.
      lighting_unoccupied_fraction: Lighting fraction on when empty.
      equipment_unoccupied_fraction: Equipment fraction on when empty.
      to_mass_fraction: Fraction of internal gains delivered to the mass node.

    Raises:
      ValueError: on negative powers or fractions outside [0, 1].
    """
    for name, value in (
        ("sensible_per_person_w", sensible_per_person_w),
        ("lighting_w_m2", lighting_w_m2),
        ("equipment_w_m2", equipment_w_m2),
    ):
        if value < 0:
            raise ValueError(f"{name}={value} must be >= 0")
    for name, value in (
        ("lighting_unoccupied_fraction", lighting_unoccupied_fraction),
        ("equipment_unoccupied_fraction", equipment_unoccupied_fraction),
        ("to_mass_fraction", to_mass_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value} not in [0, 1]")
    return InternalGains(
        float(sensible_per_person_w),
        float(lighting_w_m2),
        float(equipment_w_m2),
        float(lighting_unoccupied_fraction),
        float(equipment_unoccupied_fraction),
        float(to_mass_fraction),
    )
