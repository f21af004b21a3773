"""Tests of weather sources: synthetic generator, EPW and CSV loaders."""

import datetime

import numpy as np
import pytest

from smart_control.environment import constants, weather

LAT, LON = 41.98, -87.92
UTC = datetime.timezone.utc


def _utc(*args) -> float:
    return datetime.datetime(*args, tzinfo=UTC).timestamp()


def _epw_rows(hours: int = 8760):
    """Rows of a synthetic typical year with values that encode the row index."""
    start = datetime.datetime(2023, 1, 1)
    rows = []
    for i in range(hours):
        t = start + datetime.timedelta(hours=i)
        dry_bulb = -20.0 + i / 200.0
        ghi = 10.0 * (i % 24)
        fields = [1999, t.month, t.day, t.hour + 1, 60, "?9?9?9?9E0?9?9?9*9*9?9*9*9"]
        fields += [f"{dry_bulb:.3f}", 0.0, 50, 99000, 0, 0, 300]
        fields += [ghi, ghi / 2, ghi / 4]
        fields += [0] * 19  # illuminance, wind, sky cover, ... (unused)
        rows.append(",".join(str(f) for f in fields))
    return rows


def _write_epw(path, rows=None, location=None):
    header = [
        location
        or "LOCATION,Chicago Ohare Intl Ap,IL,USA,TMY3,725300,41.98,-87.92,-6.0,201.0",
        "DESIGN CONDITIONS,0",
        "TYPICAL/EXTREME PERIODS,0",
        "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0",
        "COMMENTS 1,written by the test",
        "COMMENTS 2,",
        "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
    ]
    path.write_text(
        "\n".join(header + (rows if rows is not None else _epw_rows())) + "\n"
    )
    return path


def test_epw_loader_maps_hours_in_local_standard_time(tmp_path):
    epw = weather.load_epw(_write_epw(tmp_path / "small.epw"))
    assert (epw.latitude_deg, epw.longitude_deg, epw.time_zone_hours) == (
        41.98,
        -87.92,
        -6.0,
    )
    assert epw.temperature_k.shape == (8760,)
    # 2023-01-01 05:00 local standard time is 11:00 UTC. The temperature of
    # EPW row i is at the end of hour i+1, so 05:00 is row 4.
    times = np.array([_utc(2023, 1, 1, 11), _utc(2023, 1, 1, 11, 30)])
    series = epw.sample(times, None, LAT, LON)
    row4 = -20.0 + 4 / 200.0 + constants.KELVIN_OFFSET
    row5 = -20.0 + 5 / 200.0 + constants.KELVIN_OFFSET
    np.testing.assert_allclose(series.temperature_k, [row4, 0.5 * (row4 + row5)])
    # Irradiance of row i is the mean over hour i..i+1, centred at i + 0.5:
    # at 05:00 halfway between rows 4 (40 W/m2) and 5 (50 W/m2).
    np.testing.assert_allclose(series.ghi_w_m2[0], 45.0)
    np.testing.assert_allclose(series.dni_w_m2[0], 22.5)
    np.testing.assert_allclose(series.dhi_w_m2[0], 11.25)


def test_epw_maps_other_years_and_leap_days(tmp_path):
    epw = weather.load_epw(_write_epw(tmp_path / "small.epw"))
    lst = 6 * 3600  # EPW standard time is UTC-6
    feb28_noon = epw.sample(np.array([_utc(2023, 2, 28, 12) + lst]), None, LAT, LON)
    feb29_noon = epw.sample(np.array([_utc(2024, 2, 29, 12) + lst]), None, LAT, LON)
    mar1_2023 = epw.sample(np.array([_utc(2023, 3, 1, 12) + lst]), None, LAT, LON)
    mar1_2024 = epw.sample(np.array([_utc(2024, 3, 1, 12) + lst]), None, LAT, LON)
    assert feb29_noon.temperature_k[0] == pytest.approx(feb28_noon.temperature_k[0])
    assert mar1_2024.temperature_k[0] == pytest.approx(mar1_2023.temperature_k[0])
    # Row 8759 (Dec 31, hour 24) is midnight; 00:30 on Jan 1st lies between it
    # and row 0 (hour 1): the year wraps.
    wrap = epw.sample(np.array([_utc(2024, 1, 1, 0, 30) + lst]), None, LAT, LON)
    last = -20.0 + 8759 / 200.0 + constants.KELVIN_OFFSET
    first = -20.0 + constants.KELVIN_OFFSET
    assert wrap.temperature_k[0] == pytest.approx(last + 0.5 * (first - last))


def test_epw_accepts_leap_year_file(tmp_path):
    rows = _epw_rows()
    feb28_end = 59 * 24  # rows before March 1st
    feb29 = [r.replace(",2,28,", ",2,29,", 1) for r in rows[feb28_end - 24 : feb28_end]]
    path = _write_epw(
        tmp_path / "leap.epw", rows[:feb28_end] + feb29 + rows[feb28_end:]
    )
    assert weather.load_epw(path).temperature_k.shape == (8760,)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda rows: rows[:100], "expected 8760 hourly rows"),
        (
            lambda rows: (
                rows[:50] + [rows[50].replace(",-19.750,", ",warm,")] + rows[51:]
            ),
            ":59:",
        ),
        (
            lambda rows: (
                rows[:9] + [rows[9].replace(",-19.955,", ",99.9,")] + rows[10:]
            ),
            "missing",
        ),
        (lambda rows: rows[:3] + ["1999,1,1"] + rows[4:], "fields"),
        (lambda rows: rows[1:] + rows[:1], "expected month 1 day 1 hour 1"),
    ],
)
def test_malformed_epw_raises(tmp_path, mutate, message):
    path = _write_epw(tmp_path / "bad.epw", mutate(_epw_rows()))
    with pytest.raises(ValueError, match=message):
        weather.load_epw(path)


def test_epw_without_location_header_raises(tmp_path):
    path = tmp_path / "bad.epw"
    path.write_text("year,month,day\n1,2,3\n")
    with pytest.raises(ValueError, match="LOCATION"):
        weather.load_epw(path)
    bad_location = "LOCATION,x,y,z,src,1,north,-87.92,-6.0,201.0"
    with pytest.raises(ValueError, match="not numeric"):
        weather.load_epw(_write_epw(tmp_path / "bad2.epw", location=bad_location))


def _write_csv(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_loader_interpolates_and_splits(tmp_path):
    path = _write_csv(
        tmp_path / "w.csv",
        [
            "timestamp,dry_bulb_temperature_c,global_horizontal_irradiance_w_m2",
            "2023-06-21T11:00:00-05:00,20.0,600",
            "2023-06-21T12:00:00-05:00,24.0,800",
        ],
    )
    csv_weather = weather.load_csv(path)
    series = csv_weather.sample(np.array([_utc(2023, 6, 21, 16, 30)]), None, LAT, LON)
    assert series.temperature_k[0] == pytest.approx(22.0 + constants.KELVIN_OFFSET)
    assert series.ghi_w_m2[0] == pytest.approx(700.0)
    # No DNI/DHI columns: the Erbs split keeps the horizontal total.
    sun_cos_zenith = np.cos(np.deg2rad(20.0))  # near solar noon at midsummer
    assert series.dhi_w_m2[0] + series.dni_w_m2[0] * sun_cos_zenith == pytest.approx(
        700.0, rel=0.05
    )
    with pytest.raises(ValueError, match="covers"):
        csv_weather.sample(np.array([_utc(2023, 6, 22)]), None, LAT, LON)


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            ["timestamp,dry_bulb_temperature_c", "2023-01-01T00:00Z,1"],
            "missing columns",
        ),
        (
            [
                "timestamp,dry_bulb_temperature_c,global_horizontal_irradiance_w_m2",
                "2023-01-01T00:00,1,0",
                "2023-01-01T01:00,1,0",
            ],
            "no UTC offset",
        ),
        (
            [
                "timestamp,dry_bulb_temperature_c,global_horizontal_irradiance_w_m2",
                "2023-01-01T01:00Z,1,0",
                "2023-01-01T00:00Z,1,0",
            ],
            "increasing",
        ),
        (
            [
                "timestamp,dry_bulb_temperature_c,global_horizontal_irradiance_w_m2",
                "2023-01-01T00:00Z,cold,0",
                "2023-01-01T01:00Z,1,0",
            ],
            "non-numeric",
        ),
        (
            [
                "timestamp,dry_bulb_temperature_c,global_horizontal_irradiance_w_m2",
                "2023-01-01T00:00Z,150,0",
                "2023-01-01T01:00Z,1,0",
            ],
            "outdoor temperature",
        ),
    ],
)
def test_malformed_csv_raises(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        weather.load_csv(_write_csv(tmp_path / "bad.csv", lines))


def test_synthetic_weather_is_seeded_and_seasonal():
    source = weather.synthetic_weather()
    january = _utc(2023, 1, 9, 6) + 900.0 * np.arange(672 * 2)
    july = _utc(2023, 7, 10, 5) + 900.0 * np.arange(672 * 2)
    a = source.sample(january, np.random.default_rng(5), LAT, LON)
    b = source.sample(january, np.random.default_rng(5), LAT, LON)
    c = source.sample(january, np.random.default_rng(6), LAT, LON)
    np.testing.assert_array_equal(a.temperature_k, b.temperature_k)
    np.testing.assert_array_equal(a.ghi_w_m2, b.ghi_w_m2)
    assert not np.array_equal(a.temperature_k, c.temperature_k)
    summer = source.sample(july, np.random.default_rng(5), LAT, LON)
    assert summer.temperature_k.mean() - a.temperature_k.mean() > 15.0
    assert summer.ghi_w_m2.max() > 1.5 * a.ghi_w_m2.max()
    # Night is dark: midnight local (06:00 UTC) has no sun.
    assert a.ghi_w_m2[0] == 0.0 and a.dni_w_m2[0] == 0.0


def test_synthetic_weather_rejects_bad_parameters():
    with pytest.raises(ValueError, match="annual_amplitude_k"):
        weather.synthetic_weather(annual_amplitude_k=-3.0)
    with pytest.raises(ValueError, match="mean_clearness"):
        weather.synthetic_weather(mean_clearness=1.5)
