"""Tests of local time, the building calendar, occupancy and internal gains."""

import datetime
import zoneinfo

import numpy as np
import pytest

from smart_control.environment import building_calendar, occupancy

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def _local(*args) -> int:
    return int(datetime.datetime(*args, tzinfo=CHICAGO).timestamp())


def test_unknown_time_zone_raises():
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        building_calendar.site(time_zone="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="time zone"):
        building_calendar.load_time_zone("../../etc/passwd")


def test_site_rejects_bad_coordinates():
    with pytest.raises(ValueError, match="latitude_deg"):
        building_calendar.site(latitude_deg=95.0)


def test_timeline_follows_daylight_saving():
    calendar = building_calendar.building_calendar()
    # 2023-03-12: clocks jump from 02:00 CST to 03:00 CDT.
    start = _local(2023, 3, 12, 0, 0)
    times = start + 900 * np.arange(96)
    timeline = calendar.timeline(times, CHICAGO)
    hours = timeline.local_seconds / 3600.0
    assert hours[7] == 1.75 and hours[8] == 3.0  # 02:00-02:59 never happens
    assert (
        timeline.utc_offset_s[0] == -6 * 3600 and timeline.utc_offset_s[-1] == -5 * 3600
    )
    # The local day is 23 hours long: 92 quarter hours.
    assert np.sum(timeline.local_ordinal == timeline.local_ordinal[0]) == 92
    assert timeline.weekday[0] == 6  # Sunday
    # 2023-11-05: 01:00-01:59 happens twice.
    fall = _local(2023, 11, 5, 0, 0) + 900 * np.arange(12)
    hours = calendar.timeline(fall, CHICAGO).local_seconds / 3600.0
    np.testing.assert_array_equal(hours[4:12], [1, 1.25, 1.5, 1.75, 1, 1.25, 1.5, 1.75])


def test_calendar_day_types_and_occupied_mode():
    calendar = building_calendar.building_calendar(
        holidays=("2023-07-04", "12-25"), occupied_start="06:00", occupied_end="19:00"
    )
    times = np.array(
        [
            _local(2023, 7, 3, 5, 45),  # Monday before opening
            _local(2023, 7, 3, 6, 0),  # Monday opening
            _local(2023, 7, 3, 18, 45),
            _local(2023, 7, 3, 19, 0),  # closing
            _local(2023, 7, 4, 10, 0),  # Independence Day
            _local(2023, 7, 8, 10, 0),  # Saturday
            _local(2024, 12, 25, 10, 0),  # yearly holiday
        ]
    )
    timeline = calendar.timeline(times, CHICAGO)
    np.testing.assert_array_equal(
        timeline.is_occupied_mode, [False, True, True, False, False, False, False]
    )
    np.testing.assert_array_equal(
        timeline.is_holiday, [False, False, False, False, True, False, True]
    )
    np.testing.assert_array_equal(
        timeline.is_workday, [True, True, True, True, False, False, False]
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"holidays": ("2023-13-01",)}, "holiday"),
        ({"holidays": ("02-30",)}, "MM-DD"),
        ({"weekend_days": (6, 7)}, "weekend_days"),
        ({"occupied_start": "7am"}, "occupied_start"),
        ({"occupied_start": "19:00", "occupied_end": "06:00"}, "occupied_end"),
        ({"occupied_end": "25:00"}, "occupied_end"),
    ],
)
def test_bad_calendar_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        building_calendar.building_calendar(**kwargs)


def _week_timeline(start=(2023, 7, 3)):
    calendar = building_calendar.building_calendar(holidays=("2023-07-04",))
    times = _local(*start, 0, 0) + 900 * np.arange(7 * 96)
    return calendar.timeline(times, CHICAGO)


def test_occupancy_follows_working_days():
    model = occupancy.occupancy_model()
    areas = np.array([200.0, 900.0])
    timeline = _week_timeline()
    people = model.sample(timeline, areas, np.random.default_rng(0))
    seats = model.design_occupants(areas)
    np.testing.assert_array_equal(seats, [11.0, 48.0])
    assert np.all(people <= seats) and np.all(people >= 0)
    day = timeline.local_ordinal - timeline.local_ordinal[0]
    hour = timeline.local_seconds / 3600.0
    # Monday is busy at 11:00, empty at 03:00 and 22:00.
    assert people[(day == 0) & (hour == 11.0)].sum() > 0.7 * seats.sum()
    assert people[(day == 0) & ((hour == 3.0) | (hour == 22.0))].sum() == 0
    # Tuesday is a holiday and the weekend is empty.
    assert people[(day == 1) | (day >= 5)].sum() == 0
    # Same seed, same people; another seed, other people.
    again = model.sample(timeline, areas, np.random.default_rng(0))
    other = model.sample(timeline, areas, np.random.default_rng(1))
    np.testing.assert_array_equal(people, again)
    assert not np.array_equal(people, other)


def test_arrivals_are_spread_around_the_mean():
    model = occupancy.occupancy_model(arrival_mean_h=8.0, arrival_std_h=0.75)
    timeline = _week_timeline()
    people = model.sample(timeline, np.array([5000.0]), np.random.default_rng(3))[:, 0]
    monday = timeline.local_ordinal == timeline.local_ordinal[0]
    hour = timeline.local_seconds / 3600.0
    at = {h: people[monday & (hour == h)][0] for h in (7.0, 8.0, 9.0, 12.0)}
    assert at[7.0] < at[8.0] < at[9.0] <= at[12.0]
    # About half of the attendees are in by the mean arrival time.
    assert 0.3 < at[8.0] / at[12.0] < 0.7


def test_internal_gains_scale_with_occupancy():
    gains = occupancy.internal_gains()
    areas = np.array([100.0])
    seats = np.array([5.0])
    empty = gains.heat(np.array([[0.0]]), seats, areas)[0, 0]
    full = gains.heat(np.array([[5.0]]), seats, areas)[0, 0]
    assert empty == pytest.approx(100.0 * (10.76 * 0.05 + 8.07 * 0.4))
    assert full == pytest.approx(5 * 75.0 + 100.0 * (10.76 + 8.07))


@pytest.mark.parametrize(
    "factory, kwargs, message",
    [
        (occupancy.occupancy_model, {"area_per_person_m2": -5.0}, "area_per_person_m2"),
        (occupancy.occupancy_model, {"workday_attendance": 1.2}, "workday_attendance"),
        (occupancy.occupancy_model, {"latest_departure_h": 7.0}, "no time to work"),
        (occupancy.internal_gains, {"lighting_w_m2": -1.0}, "lighting_w_m2"),
        (occupancy.internal_gains, {"to_mass_fraction": 2.0}, "to_mass_fraction"),
    ],
)
def test_bad_occupancy_configuration_raises(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)
