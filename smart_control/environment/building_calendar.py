"""Site, local time and the building's calendar (working days, holidays, hours).

The simulation clock runs in UTC seconds; people, thermostats and tariffs run
on local wall-clock time. This module converts between the two with the
standard library's `zoneinfo` (IANA time zone names, daylight saving handled
by the tz database) and decides, for every simulated instant, the local date,
time of day, weekday, whether the day is a holiday and whether the building is
in its occupied operating mode.

The same `BuildingCalendar` (bound once in gin) drives the occupancy model,
the thermostat schedule and the `is_holiday` observation field, which is how
the schedule policy learns about holidays from observations alone.
"""

from __future__ import annotations

import dataclasses
import datetime
import zoneinfo
from collections.abc import Sequence

import gin
import numpy as np

from smart_control.environment import constants

# date(1970, 1, 1).toordinal(): converts Unix days to proleptic ordinals.
_UNIX_EPOCH_ORDINAL = 719163

# US federal holidays most offices close for (observed dates), 2023-2026.
# Source: U.S. Office of Personnel Management, "Federal Holidays" tables.
DEFAULT_HOLIDAYS = (
    "2023-01-02", "2023-05-29", "2023-07-04", "2023-09-04", "2023-11-23",
    "2023-11-24", "2023-12-25",
    "2024-01-01", "2024-05-27", "2024-07-04", "2024-09-02", "2024-11-28",
    "2024-11-29", "2024-12-25",
    "2025-01-01", "2025-05-26", "2025-07-04", "2025-09-01", "2025-11-27",
    "2025-11-28", "2025-12-25",
    "2026-01-01", "2026-05-25", "2026-07-03", "2026-09-07", "2026-11-26",
    "2026-11-27", "2026-12-25",
)  # fmt: skip


def load_time_zone(name: str) -> zoneinfo.ZoneInfo:
    """Returns the IANA time zone `name`.

    Args:
      name: An IANA time zone name such as "America/Chicago" or "UTC".

    Raises:
      ValueError: if the name is not a time zone in the tz database.
    """
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as e:
        raise ValueError(
            f"time_zone={name!r} is not a known IANA time zone (for example "
            "'America/Chicago'); on machines without a system tz database "
            "install the 'tzdata' package"
        ) from e


@dataclasses.dataclass(frozen=True)
class Site:
    """Where the building is.

    Attributes:
      latitude_deg: Latitude in degrees, north positive.
      longitude_deg: Longitude in degrees, east positive.
      time_zone: IANA time zone name of the building's local time.
    """

    latitude_deg: float
    longitude_deg: float
    time_zone: str

    def __post_init__(self):
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"latitude_deg={self.latitude_deg} not in [-90, 90]")
        if not -180.0 <= self.longitude_deg <= 180.0:
            raise ValueError(f"longitude_deg={self.longitude_deg} not in [-180, 180]")
        load_time_zone(self.time_zone)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return load_time_zone(self.time_zone)


@gin.configurable
def site(
    latitude_deg: float = 41.98,
    longitude_deg: float = -87.90,
    time_zone: str = "America/Chicago",
) -> Site:
    """Builds the building's `Site`.

    The default is Chicago O'Hare (WMO 725300, ASHRAE climate zone 5A), a
    climate with both a real heating and a real cooling season.

    Args:
      latitude_deg: Latitude in degrees, north positive.
      longitude_deg: Longitude in degrees, east positive.
      time_zone: IANA time zone name.

    Raises:
      ValueError: on out-of-range coordinates or an unknown time zone.
    """
    return Site(float(latitude_deg), float(longitude_deg), str(time_zone))


def parse_time_of_day(text: str, name: str = "time") -> int:
    """Parses "HH:MM" or "HH:MM:SS" (00:00 to 24:00) into seconds after midnight.

    Raises:
      ValueError: naming `name` when the text is malformed or out of range.
    """
    parts = str(text).split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        hours, minutes = int(parts[0]), int(parts[1])
        seconds = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a time of day 'HH:MM'") from None
    total = hours * 3600 + minutes * 60 + seconds
    if not (0 <= minutes < 60 and 0 <= seconds < 60 and 0 <= total <= 86400):
        raise ValueError(f"{name}={text!r} is not between 00:00 and 24:00")
    return total


def parse_date(text: str, name: str = "date") -> datetime.date:
    """Parses an ISO date "YYYY-MM-DD".

    Raises:
      ValueError: naming `name` when the text is not an ISO date.
    """
    try:
        return datetime.date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a date 'YYYY-MM-DD'") from None


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Local-time facts for a sequence of UTC instants (all arrays aligned).

    Attributes:
      utc_s: Unix time of each instant in seconds.
      utc_offset_s: Local offset from UTC in seconds (daylight saving included).
      local_seconds: Local wall-clock seconds after local midnight.
      local_ordinal: Proleptic Gregorian ordinal of the local date.
      weekday: Local weekday, Monday = 0 ... Sunday = 6.
      is_holiday: Whether the local date is a holiday.
      is_workday: Whether the local date is a working day (not weekend, not
        holiday).
      is_occupied_mode: Whether the building runs its occupied schedule.
    """

    utc_s: np.ndarray
    utc_offset_s: np.ndarray
    local_seconds: np.ndarray
    local_ordinal: np.ndarray
    weekday: np.ndarray
    is_holiday: np.ndarray
    is_workday: np.ndarray
    is_occupied_mode: np.ndarray


def utc_offsets(utc_s: np.ndarray, zone: zoneinfo.ZoneInfo) -> np.ndarray:
    """Returns the UTC offset in seconds of `zone` at each Unix time."""
    fromtimestamp = datetime.datetime.fromtimestamp
    # One tz-database lookup per instant: about 1 us each, done once per reset.
    return np.array(
        [fromtimestamp(t, zone).utcoffset().total_seconds() for t in utc_s.tolist()],
        dtype=np.int64,
    )


@dataclasses.dataclass(frozen=True)
class BuildingCalendar:
    """Working days, holidays and occupied hours of the building.

    Attributes:
      holiday_ordinals: Ordinals of dated holidays ("YYYY-MM-DD").
      annual_holidays: (month, day) pairs of holidays repeating every year
        ("MM-DD"), useful with typical-year weather.
      weekend_days: Weekdays (Monday = 0) that are not working days.
      occupied_start_s: Start of the occupied mode on working days, local
        seconds after midnight.
      occupied_end_s: End of the occupied mode on working days.
    """

    holiday_ordinals: frozenset[int]
    annual_holidays: frozenset[tuple[int, int]]
    weekend_days: frozenset[int]
    occupied_start_s: int
    occupied_end_s: int

    def is_holiday(self, ordinals: np.ndarray) -> np.ndarray:
        """Whether each local date ordinal is a holiday."""
        result = np.zeros(ordinals.shape, dtype=bool)
        for ordinal in np.unique(ordinals).tolist():
            day = datetime.date.fromordinal(ordinal)
            if (
                ordinal in self.holiday_ordinals
                or (day.month, day.day) in self.annual_holidays
            ):
                result |= ordinals == ordinal
        return result

    def timeline(self, utc_s: np.ndarray, zone: zoneinfo.ZoneInfo) -> Timeline:
        """Local time, day type and operating mode for each Unix time."""
        utc_s = np.asarray(utc_s, dtype=np.int64)
        offset = utc_offsets(utc_s, zone)
        local = utc_s + offset
        local_days = np.floor_divide(local, constants.SECONDS_PER_DAY)
        ordinal = local_days + _UNIX_EPOCH_ORDINAL
        local_seconds = local - local_days * constants.SECONDS_PER_DAY
        # Ordinal 1 (0001-01-01) was a Monday.
        weekday = (ordinal - 1) % 7
        holiday = self.is_holiday(ordinal)
        workday = ~holiday & ~np.isin(weekday, sorted(self.weekend_days))
        occupied = (
            workday
            & (local_seconds >= self.occupied_start_s)
            & (local_seconds < self.occupied_end_s)
        )
        return Timeline(
            utc_s=utc_s,
            utc_offset_s=offset,
            local_seconds=local_seconds.astype(np.float64),
            local_ordinal=ordinal,
            weekday=weekday,
            is_holiday=holiday,
            is_workday=workday,
            is_occupied_mode=occupied,
        )


@gin.configurable
def building_calendar(
    holidays: Sequence[str] = DEFAULT_HOLIDAYS,
    weekend_days: Sequence[int] = (5, 6),
    occupied_start: str = "06:00",
    occupied_end: str = "19:00",
) -> BuildingCalendar:
    """Builds the building calendar shared by occupancy, thermostats and policy.

    The default occupied window, 06:00-19:00 on working days, is the
    reference system's schedule; the DOE reference medium office runs its HVAC
    from 06:00 as well (Deru et al. 2011, NREL/TP-5500-46861).

    Args:
      holidays: Dates "YYYY-MM-DD", or "MM-DD" for a holiday every year.
      weekend_days: Weekdays (Monday = 0 ... Sunday = 6) off work.
      occupied_start: Local "HH:MM" when the occupied mode starts.
      occupied_end: Local "HH:MM" when it ends (may be "24:00").

    Raises:
      ValueError: on malformed dates or times, weekdays outside 0-6, or an
        empty occupied window.
    """
    dated, annual = set(), set()
    for text in holidays:
        text = str(text)
        if len(text) == 5 and text[2] == "-":
            try:
                # 2024 is a leap year, so "02-29" is accepted.
                day = datetime.date.fromisoformat(f"2024-{text}")
            except ValueError:
                raise ValueError(f"holiday {text!r} is not 'MM-DD'") from None
            annual.add((day.month, day.day))
        else:
            dated.add(parse_date(text, "holiday").toordinal())
    days = {int(d) for d in weekend_days}
    if not days <= set(range(7)):
        raise ValueError(f"weekend_days={tuple(weekend_days)} must be in 0..6")
    start = parse_time_of_day(occupied_start, "occupied_start")
    end = parse_time_of_day(occupied_end, "occupied_end")
    if end <= start:
        raise ValueError(
            f"occupied_end={occupied_end!r} must be after "
            f"occupied_start={occupied_start!r}"
        )
    return BuildingCalendar(
        holiday_ordinals=frozenset(dated),
        annual_holidays=frozenset(annual),
        weekend_days=frozenset(days),
        occupied_start_s=start,
        occupied_end_s=end,
    )
