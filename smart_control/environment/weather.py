"""Outdoor weather: a seeded synthetic generator and EPW / CSV file loaders.

Every source answers the same question: given Unix times (UTC seconds), what
are the outdoor dry-bulb temperature (K) and the global, direct normal and
diffuse horizontal irradiance (W/m2)? The environment asks once per episode,
at reset, for every instant of the episode.

* `SyntheticWeather` (the default): annual and diurnal temperature cycles,
  day-to-day anomalies (an Ornstein-Uhlenbeck process), daily cloudiness and
  clear-sky solar geometry. Seeded through the environment's random generator.
* `ConstantWeather`: fixed temperature and irradiance, for tests and for
  steady-state checks.
* `EpwWeather`: EnergyPlus weather files (.epw), the standard typical-year
  format (EnergyPlus "Auxiliary Programs", ch. 2.9 "EnergyPlus Weather File
  (EPW) Data Dictionary"). Mapped onto any year by day of year.
* `CsvWeather`: a plain CSV time series with explicit UTC offsets.
"""

from __future__ import annotations

import abc
import csv
import dataclasses
import datetime
import errno
import io
import os

import gin
import numpy as np

from smart_control.environment import constants, solar

# Physical plausibility limits used to reject corrupt weather inputs.
_MIN_TEMPERATURE_K = 173.15  # -100 C
_MAX_TEMPERATURE_K = 343.15  # +70 C
_MAX_IRRADIANCE_W_M2 = 1500.0

_HOURS_PER_TYPICAL_YEAR = 8760


@dataclasses.dataclass(frozen=True)
class WeatherSeries:
    """Weather at a sequence of instants.

    Attributes:
      temperature_k: Outdoor dry-bulb temperature, K.
      ghi_w_m2: Global horizontal irradiance, W/m2.
      dni_w_m2: Direct normal irradiance, W/m2.
      dhi_w_m2: Diffuse horizontal irradiance, W/m2.
    """

    temperature_k: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray

    def validate(self, source: str) -> WeatherSeries:
        """Raises ValueError if any value is non-finite or implausible."""
        t = self.temperature_k
        if not np.all(np.isfinite(t)) or np.any(
            (t < _MIN_TEMPERATURE_K) | (t > _MAX_TEMPERATURE_K)
        ):
            raise ValueError(
                f"{source}: outdoor temperature outside "
                f"[{_MIN_TEMPERATURE_K}, {_MAX_TEMPERATURE_K}] K"
            )
        for name in ("ghi_w_m2", "dni_w_m2", "dhi_w_m2"):
            values = getattr(self, name)
            if not np.all(np.isfinite(values)) or np.any(
                (values < 0.0) | (values > _MAX_IRRADIANCE_W_M2)
            ):
                raise ValueError(
                    f"{source}: {name} outside [0, {_MAX_IRRADIANCE_W_M2}] W/m2"
                )
        return self


class WeatherSource(abc.ABC):
    """Interface of all weather sources."""

    @abc.abstractmethod
    def sample(
        self,
        utc_s: np.ndarray,
        rng: np.random.Generator,
        latitude_deg: float,
        longitude_deg: float,
    ) -> WeatherSeries:
        """Returns the weather at Unix times `utc_s` (sorted ascending).

        Args:
          utc_s: Instants, UTC seconds.
          rng: The episode's random generator (only stochastic sources use it).
          latitude_deg: Site latitude, for solar geometry.
          longitude_deg: Site longitude, for solar geometry.
        """


@dataclasses.dataclass(frozen=True)
class ConstantWeather(WeatherSource):
    """Fixed outdoor conditions; the sun, if any, shines as diffuse light."""

    temperature_k: float
    diffuse_w_m2: float = 0.0

    def sample(self, utc_s, rng, latitude_deg, longitude_deg) -> WeatherSeries:
        del rng, latitude_deg, longitude_deg
        n = len(utc_s)
        diffuse = np.full(n, float(self.diffuse_w_m2))
        return WeatherSeries(
            temperature_k=np.full(n, float(self.temperature_k)),
            ghi_w_m2=diffuse,
            dni_w_m2=np.zeros(n),
            dhi_w_m2=diffuse.copy(),
        ).validate("ConstantWeather")


@gin.configurable
def constant_weather(
    temperature_k: float = 283.15, diffuse_w_m2: float = 0.0
) -> ConstantWeather:
    """Builds a `ConstantWeather` (temperature in K, diffuse irradiance W/m2)."""
    return ConstantWeather(float(temperature_k), float(diffuse_w_m2))


@dataclasses.dataclass(frozen=True)
class SyntheticWeather(WeatherSource):
    """Seeded synthetic weather; see `synthetic_weather` for the parameters."""

    annual_mean_k: float
    annual_amplitude_k: float
    coldest_day_of_year: float
    diurnal_amplitude_k: float
    warmest_solar_hour: float
    anomaly_std_k: float
    anomaly_timescale_days: float
    mean_clearness: float
    clearness_std: float
    clearness_day_correlation: float

    def sample(self, utc_s, rng, latitude_deg, longitude_deg) -> WeatherSeries:
        utc_s = np.asarray(utc_s, dtype=np.float64)
        sun = solar.sun_position(utc_s, latitude_deg, longitude_deg)
        # Day-indexed random processes, linearly interpolated in time: one
        # anomaly and one cloudiness value per day keeps draws independent of
        # the time step, so 900 s and 300 s runs see the same days.
        days = utc_s / constants.SECONDS_PER_DAY
        first_day = np.floor(days[0])
        n_days = int(np.floor(days[-1]) - first_day) + 2
        day_index = days - first_day

        rho = np.exp(-1.0 / self.anomaly_timescale_days)
        shocks = rng.standard_normal(n_days)
        anomaly = np.empty(n_days)
        anomaly[0] = self.anomaly_std_k * shocks[0]
        scale = self.anomaly_std_k * np.sqrt(1.0 - rho**2)
        for i in range(1, n_days):
            anomaly[i] = rho * anomaly[i - 1] + scale * shocks[i]

        cloud_shocks = rng.standard_normal(n_days)
        clear_noise = np.empty(n_days)
        clear_noise[0] = cloud_shocks[0]
        c = self.clearness_day_correlation
        for i in range(1, n_days):
            clear_noise[i] = (
                c * clear_noise[i - 1] + np.sqrt(1 - c**2) * cloud_shocks[i]
            )
        clearness_daily = np.clip(
            self.mean_clearness + self.clearness_std * clear_noise, 0.1, 1.0
        )
        grid = np.arange(n_days, dtype=np.float64)
        clearness = np.interp(day_index, grid, clearness_daily)

        day_of_year = 365.25 * solar.year_fraction(utc_s)
        seasonal = self.annual_mean_k - self.annual_amplitude_k * np.cos(
            2.0 * np.pi * (day_of_year - self.coldest_day_of_year) / 365.25
        )
        solar_hour = np.mod(
            np.mod(utc_s, constants.SECONDS_PER_DAY) / constants.SECONDS_PER_HOUR
            + longitude_deg / 15.0,
            24.0,
        )
        # Cloudy days have a smaller diurnal swing (less daytime heating and
        # less night-time radiative cooling).
        diurnal = (
            self.diurnal_amplitude_k
            * (0.4 + 0.6 * clearness)
            * np.cos(2.0 * np.pi * (solar_hour - self.warmest_solar_hour) / 24.0)
        )
        temperature = seasonal + diurnal + np.interp(day_index, grid, anomaly)

        ghi = solar.clear_sky_ghi(sun.cos_zenith) * clearness
        dni, dhi = solar.split_global(ghi, sun)
        return WeatherSeries(temperature, ghi, dni, dhi).validate("SyntheticWeather")


@gin.configurable
def synthetic_weather(
    annual_mean_k: float = 283.45,
    annual_amplitude_k: float = 14.0,
    coldest_day_of_year: float = 20.0,
    diurnal_amplitude_k: float = 5.0,
    warmest_solar_hour: float = 15.0,
    anomaly_std_k: float = 4.0,
    anomaly_timescale_days: float = 3.0,
    mean_clearness: float = 0.65,
    clearness_std: float = 0.25,
    clearness_day_correlation: float = 0.5,
) -> SyntheticWeather:
    """Builds the synthetic weather generator.

    Defaults approximate Chicago O'Hare, NOAA 1991-2020 climate normals:
    annual mean 10.3 C, January mean -4 C and July mean 24 C (so a 14 K
    annual half-range), a mean daily range near 10 K. Day-to-day anomalies of
    about 4 K with a 3-day memory are typical of mid-latitude synoptic
    variability. A mean clearness of 0.65 of clear-sky irradiance matches the
    annual ratio of measured to clear-sky solar radiation in the US Midwest
    (NSRDB). The warmest hour, 15:00 solar time, is the usual diurnal
    temperature peak (ASHRAE Handbook--Fundamentals 2021, ch. 14, Table 6).

    Args:
      annual_mean_k: Annual mean dry-bulb temperature, K.
      annual_amplitude_k: Half the difference of warmest and coldest monthly
        means, K.
      coldest_day_of_year: Day of year of the seasonal minimum.
      diurnal_amplitude_k: Half of the mean daily range on a clear day, K.
      warmest_solar_hour: Solar hour of the daily maximum.
      anomaly_std_k: Standard deviation of the daily anomaly, K.
      anomaly_timescale_days: Decorrelation time of the anomaly, days.
      mean_clearness: Mean fraction of clear-sky irradiance reaching ground.
      clearness_std: Day-to-day standard deviation of that fraction.
      clearness_day_correlation: Lag-one-day correlation of cloudiness.

    Raises:
      ValueError: on negative amplitudes or spreads, or out-of-range
        fractions.
    """
    for name, value in (
        ("annual_amplitude_k", annual_amplitude_k),
        ("diurnal_amplitude_k", diurnal_amplitude_k),
        ("anomaly_std_k", anomaly_std_k),
        ("clearness_std", clearness_std),
    ):
        if value < 0:
            raise ValueError(f"{name}={value} must be >= 0")
    if anomaly_timescale_days <= 0:
        raise ValueError(f"anomaly_timescale_days={anomaly_timescale_days} must be > 0")
    if not 0.0 <= mean_clearness <= 1.0:
        raise ValueError(f"mean_clearness={mean_clearness} not in [0, 1]")
    if not 0.0 <= clearness_day_correlation < 1.0:
        raise ValueError(
            f"clearness_day_correlation={clearness_day_correlation} not in [0, 1)"
        )
    return SyntheticWeather(
        float(annual_mean_k),
        float(annual_amplitude_k),
        float(coldest_day_of_year),
        float(diurnal_amplitude_k),
        float(warmest_solar_hour),
        float(anomaly_std_k),
        float(anomaly_timescale_days),
        float(mean_clearness),
        float(clearness_std),
        float(clearness_day_correlation),
    )


def _hour_of_typical_year(local_standard_s: np.ndarray) -> np.ndarray:
    """Hours since Jan 1 00:00 of a 365-day year; Feb 29 folds onto Feb 28."""
    instants = local_standard_s.astype("datetime64[s]")
    year = instants.astype("datetime64[Y]")
    hours = (instants - year.astype("datetime64[s]")).astype(np.float64) / 3600.0
    year_number = year.astype(np.int64) + 1970
    leap = (year_number % 4 == 0) & (
        (year_number % 100 != 0) | (year_number % 400 == 0)
    )
    feb_29_start = 59 * 24.0
    # In leap years everything from Feb 29 shifts back one day, so Feb 29
    # repeats Feb 28 and Mar 1 keeps its typical-year row.
    return np.where(leap & (hours >= feb_29_start), hours - 24.0, hours)


def _periodic_interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return np.interp(x, xp, fp, period=float(_HOURS_PER_TYPICAL_YEAR))


@dataclasses.dataclass(frozen=True)
class EpwWeather(WeatherSource):
    """A typical year read from an EnergyPlus weather (EPW) file.

    Attributes:
      path: The file read.
      latitude_deg: Latitude from the LOCATION header.
      longitude_deg: Longitude from the LOCATION header.
      time_zone_hours: Standard-time offset from UTC in the LOCATION header.
      temperature_k: (8760,) hourly dry-bulb temperature, K.
      ghi_w_m2: (8760,) global horizontal irradiance, W/m2.
      dni_w_m2: (8760,) direct normal irradiance, W/m2.
      dhi_w_m2: (8760,) diffuse horizontal irradiance, W/m2.
    """

    path: str
    latitude_deg: float
    longitude_deg: float
    time_zone_hours: float
    temperature_k: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray

    def sample(self, utc_s, rng, latitude_deg, longitude_deg) -> WeatherSeries:
        del rng, latitude_deg, longitude_deg
        utc_s = np.asarray(utc_s, dtype=np.int64)
        # EPW rows are in local *standard* time (no daylight saving) and
        # labelled by the hour they end: row i covers hour (i, i+1].
        # Temperatures are instantaneous at the end of the hour; irradiances
        # are averages over the hour, so they sit at its middle.
        lst = utc_s + int(round(self.time_zone_hours * 3600))
        hour = _hour_of_typical_year(lst)
        rows = np.arange(_HOURS_PER_TYPICAL_YEAR, dtype=np.float64)
        return WeatherSeries(
            temperature_k=_periodic_interp(hour, rows + 1.0, self.temperature_k),
            ghi_w_m2=_periodic_interp(hour, rows + 0.5, self.ghi_w_m2),
            dni_w_m2=_periodic_interp(hour, rows + 0.5, self.dni_w_m2),
            dhi_w_m2=_periodic_interp(hour, rows + 0.5, self.dhi_w_m2),
        ).validate(self.path)


# EPW data row columns (0-based), EPW data dictionary fields N1..N35.
_EPW_MONTH, _EPW_DAY, _EPW_HOUR = 1, 2, 3
_EPW_DRY_BULB_C = 6
_EPW_GHI, _EPW_DNI, _EPW_DHI = 13, 14, 15
_EPW_HEADER_LINES = 8
# EPW "missing" markers for the fields used (data dictionary).
_EPW_MISSING = {
    _EPW_DRY_BULB_C: 99.9,
    _EPW_GHI: 9999.0,
    _EPW_DNI: 9999.0,
    _EPW_DHI: 9999.0,
}


def _read_text(path: str, encoding: str, what: str) -> str:
    """The file's text; errors name the file and say what it should be.

    Raises:
      OSError: `<path>: no such <what>`, `<path>: a directory, not a <what>`,
        or the system's error (permissions, I/O), with the path.
      ValueError: If the file does not decode as `encoding`.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"no such {what}", path) from None
    except IsADirectoryError:
        article = "an" if what[0] in "AEIOU" else "a"
        raise IsADirectoryError(
            errno.EISDIR, f"a directory, not {article} {what}", path
        ) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not {encoding.upper()} text (byte {data[e.start]:#04x} at "
            f"offset {e.start}); save the {what} as {encoding.upper()}"
        ) from None


def load_epw(path: str | os.PathLike) -> EpwWeather:
    """Reads an EPW file.

    Args:
      path: Path of the .epw file.

    Returns:
      The typical year as an `EpwWeather`.

    Raises:
      OSError: If the file cannot be read (missing, a directory, permissions).
      ValueError: if the file is malformed: no LOCATION header, not 8760 hourly
        rows (8784 with Feb 29 is accepted and Feb 29 dropped), rows out of
        order, missing or non-numeric values, implausible values.
    """
    path = os.fspath(path)
    lines = _read_text(path, "latin-1", "EPW weather file").splitlines()
    if len(lines) < _EPW_HEADER_LINES or not lines[0].upper().startswith("LOCATION"):
        raise ValueError(f"{path}: not an EPW file (first line must be LOCATION,...)")
    location = lines[0].split(",")
    if len(location) < 10:
        raise ValueError(f"{path}:1: LOCATION needs 10 fields, got {len(location)}")
    try:
        latitude, longitude, tz_hours = (float(v) for v in location[6:9])
    except ValueError:
        raise ValueError(
            f"{path}:1: LOCATION latitude/longitude/time zone not numeric"
        ) from None
    if not (
        -90 <= latitude <= 90 and -180 <= longitude <= 180 and -12 <= tz_hours <= 14
    ):
        raise ValueError(f"{path}:1: LOCATION coordinates or time zone out of range")

    rows = []
    for number, line in enumerate(
        lines[_EPW_HEADER_LINES:], start=_EPW_HEADER_LINES + 1
    ):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) <= _EPW_DHI:
            raise ValueError(
                f"{path}:{number}: data row has {len(fields)} fields, "
                f"needs at least {_EPW_DHI + 1}"
            )
        try:
            month, day, hour = (
                int(fields[i]) for i in (_EPW_MONTH, _EPW_DAY, _EPW_HOUR)
            )
            values = [
                float(fields[i])
                for i in (_EPW_DRY_BULB_C, _EPW_GHI, _EPW_DNI, _EPW_DHI)
            ]
        except ValueError:
            raise ValueError(f"{path}:{number}: non-numeric date or value") from None
        for column, value in zip(
            (_EPW_DRY_BULB_C, _EPW_GHI, _EPW_DNI, _EPW_DHI), values
        ):
            if value >= _EPW_MISSING[column]:
                raise ValueError(
                    f"{path}:{number}: missing value in field {column + 1}"
                )
        if month == 2 and day == 29:
            continue
        rows.append((number, month, day, hour, values))

    if len(rows) != _HOURS_PER_TYPICAL_YEAR:
        raise ValueError(
            f"{path}: expected {_HOURS_PER_TYPICAL_YEAR} hourly rows, got {len(rows)}"
        )
    start = datetime.datetime(2023, 1, 1)
    for index, (number, month, day, hour, _) in enumerate(rows):
        expected = start + datetime.timedelta(hours=index)
        if (month, day, hour) != (expected.month, expected.day, expected.hour + 1):
            raise ValueError(
                f"{path}:{number}: expected month {expected.month} day "
                f"{expected.day} hour {expected.hour + 1}, got {month} {day} {hour}"
            )
    data = np.array([values for *_, values in rows], dtype=np.float64)
    weather = EpwWeather(
        path=path,
        latitude_deg=latitude,
        longitude_deg=longitude,
        time_zone_hours=tz_hours,
        temperature_k=data[:, 0] + constants.KELVIN_OFFSET,
        ghi_w_m2=data[:, 1],
        dni_w_m2=data[:, 2],
        dhi_w_m2=data[:, 3],
    )
    WeatherSeries(
        weather.temperature_k, weather.ghi_w_m2, weather.dni_w_m2, weather.dhi_w_m2
    ).validate(path)
    return weather


@gin.configurable
def epw_weather(path: str = gin.REQUIRED) -> EpwWeather:
    """Gin factory for `load_epw` (bind `epw_weather.path`)."""
    return load_epw(path)


@dataclasses.dataclass(frozen=True)
class CsvWeather(WeatherSource):
    """A measured time series from CSV, linearly interpolated in time."""

    path: str
    utc_s: np.ndarray
    temperature_k: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray | None
    dhi_w_m2: np.ndarray | None

    def sample(self, utc_s, rng, latitude_deg, longitude_deg) -> WeatherSeries:
        del rng
        utc_s = np.asarray(utc_s, dtype=np.float64)
        first, last = self.utc_s[0], self.utc_s[-1]
        if utc_s[0] < first or utc_s[-1] > last:
            span = [
                datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()
                for t in (first, last, utc_s[0], utc_s[-1])
            ]
            raise ValueError(
                f"{self.path} covers {span[0]} .. {span[1]} but the episode "
                f"needs {span[2]} .. {span[3]}"
            )
        ghi = np.interp(utc_s, self.utc_s, self.ghi_w_m2)
        if self.dni_w_m2 is not None and self.dhi_w_m2 is not None:
            dni = np.interp(utc_s, self.utc_s, self.dni_w_m2)
            dhi = np.interp(utc_s, self.utc_s, self.dhi_w_m2)
        else:
            dni, dhi = solar.split_global(
                ghi, solar.sun_position(utc_s, latitude_deg, longitude_deg)
            )
        return WeatherSeries(
            np.interp(utc_s, self.utc_s, self.temperature_k), ghi, dni, dhi
        ).validate(self.path)


CSV_TIMESTAMP = "timestamp"
CSV_TEMPERATURE_C = "dry_bulb_temperature_c"
CSV_GHI = "global_horizontal_irradiance_w_m2"
CSV_DNI = "direct_normal_irradiance_w_m2"
CSV_DHI = "diffuse_horizontal_irradiance_w_m2"


def load_csv(path: str | os.PathLike) -> CsvWeather:
    """Reads a weather CSV.

    The header names the columns: `timestamp` (ISO 8601 with a UTC offset,
    e.g. "2023-01-09T06:00:00-06:00" or "...Z"), `dry_bulb_temperature_c`,
    `global_horizontal_irradiance_w_m2` and, optionally together,
    `direct_normal_irradiance_w_m2` and `diffuse_horizontal_irradiance_w_m2`
    (without them the global irradiance is split with the Erbs correlation).
    Rows must be strictly increasing in time; spacing may vary.

    Raises:
      OSError: If the file cannot be read (missing, a directory, permissions).
      ValueError: If it is not UTF-8 text; on missing columns, naive or malformed timestamps, times
        not increasing, non-numeric or implausible values, fewer than 2 rows.
    """
    path = os.fspath(path)
    with io.StringIO(_read_text(path, "utf-8", "weather CSV"), newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        required = {CSV_TIMESTAMP, CSV_TEMPERATURE_C, CSV_GHI}
        if not required <= columns:
            raise ValueError(f"{path}: missing columns {sorted(required - columns)}")
        has_split = {CSV_DNI, CSV_DHI} <= columns
        times, values = [], []
        for number, row in enumerate(reader, start=2):
            try:
                stamp = datetime.datetime.fromisoformat(row[CSV_TIMESTAMP].strip())
            except (ValueError, AttributeError):
                raise ValueError(f"{path}:{number}: malformed timestamp") from None
            if stamp.tzinfo is None:
                raise ValueError(
                    f"{path}:{number}: timestamp {row[CSV_TIMESTAMP]!r} has no "
                    "UTC offset"
                )
            names = [CSV_TEMPERATURE_C, CSV_GHI] + (
                [CSV_DNI, CSV_DHI] if has_split else []
            )
            try:
                values.append([float(row[name]) for name in names])
            except (ValueError, TypeError):
                raise ValueError(f"{path}:{number}: non-numeric value") from None
            times.append(stamp.timestamp())
    if len(times) < 2:
        raise ValueError(f"{path}: needs at least 2 rows, got {len(times)}")
    utc_s = np.array(times)
    if np.any(np.diff(utc_s) <= 0):
        raise ValueError(f"{path}: timestamps must be strictly increasing")
    data = np.array(values)
    weather = CsvWeather(
        path=path,
        utc_s=utc_s,
        temperature_k=data[:, 0] + constants.KELVIN_OFFSET,
        ghi_w_m2=data[:, 1],
        dni_w_m2=data[:, 2] if has_split else None,
        dhi_w_m2=data[:, 3] if has_split else None,
    )
    zeros = np.zeros_like(utc_s)
    WeatherSeries(
        weather.temperature_k,
        weather.ghi_w_m2,
        zeros if weather.dni_w_m2 is None else weather.dni_w_m2,
        zeros if weather.dhi_w_m2 is None else weather.dhi_w_m2,
    ).validate(path)
    return weather


@gin.configurable
def csv_weather(path: str = gin.REQUIRED) -> CsvWeather:
    """Gin factory for `load_csv` (bind `csv_weather.path`)."""
    return load_csv(path)
