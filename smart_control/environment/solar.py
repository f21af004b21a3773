"""Solar geometry and irradiance on building surfaces (vectorised over time).

Formulas follow Duffie & Beckman, "Solar Engineering of Thermal Processes",
4th ed. (2013), ch. 1-2: Spencer's (1971) series for declination, equation of
time and the eccentricity factor; the Erbs et al. (1982) correlation to split
global horizontal irradiance into beam and diffuse parts; the isotropic-sky
(Liu-Jordan) model for irradiance on a tilted surface. The clear-sky model is
Haurwitz (1945), which needs only the solar zenith angle.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from smart_control.environment import constants

# Below this cosine of the zenith angle (about 86 degrees) the beam/diffuse
# split is ill-conditioned; all irradiance is then treated as diffuse.
_MIN_COS_ZENITH_FOR_BEAM = 0.065


@dataclasses.dataclass(frozen=True)
class SunPosition:
    """Sun position at a sequence of instants.

    Attributes:
      cos_zenith: Cosine of the zenith angle (negative below the horizon).
      azimuth_rad: Azimuth clockwise from north, radians.
      extraterrestrial_normal_w_m2: Extraterrestrial normal irradiance.
    """

    cos_zenith: np.ndarray
    azimuth_rad: np.ndarray
    extraterrestrial_normal_w_m2: np.ndarray


def year_fraction(utc_s: np.ndarray) -> np.ndarray:
    """Fraction of the UTC calendar year elapsed at each Unix time, in [0, 1)."""
    instants = np.asarray(utc_s, dtype=np.float64).astype("datetime64[s]")
    year = instants.astype("datetime64[Y]")
    start = year.astype("datetime64[s]")
    length = (year + 1).astype("datetime64[s]") - start
    return (instants - start) / length


def sun_position(
    utc_s: np.ndarray, latitude_deg: float, longitude_deg: float
) -> SunPosition:
    """Computes the sun's position at Unix times `utc_s` for a site."""
    utc_s = np.asarray(utc_s, dtype=np.float64)
    day_angle = 2.0 * np.pi * year_fraction(utc_s)
    cos_g, sin_g = np.cos(day_angle), np.sin(day_angle)
    cos_2g, sin_2g = np.cos(2 * day_angle), np.sin(2 * day_angle)
    declination = (
        0.006918
        - 0.399912 * cos_g
        + 0.070257 * sin_g
        - 0.006758 * cos_2g
        + 0.000907 * sin_2g
        - 0.002697 * np.cos(3 * day_angle)
        + 0.00148 * np.sin(3 * day_angle)
    )
    equation_of_time_min = 229.18 * (
        0.000075
        + 0.001868 * cos_g
        - 0.032077 * sin_g
        - 0.014615 * cos_2g
        - 0.04089 * sin_2g
    )
    eccentricity = (
        1.00011
        + 0.034221 * cos_g
        + 0.00128 * sin_g
        + 0.000719 * cos_2g
        + 0.000077 * sin_2g
    )
    utc_hours = np.mod(utc_s, constants.SECONDS_PER_DAY) / constants.SECONDS_PER_HOUR
    solar_hours = utc_hours + longitude_deg / 15.0 + equation_of_time_min / 60.0
    hour_angle = np.deg2rad(15.0 * (solar_hours - 12.0))
    lat = np.deg2rad(latitude_deg)
    cos_zenith = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(
        declination
    ) * np.cos(hour_angle)
    # Azimuth from south, positive westward, then shifted to "from north".
    azimuth_from_south = np.arctan2(
        np.sin(hour_angle),
        np.cos(hour_angle) * np.sin(lat) - np.tan(declination) * np.cos(lat),
    )
    return SunPosition(
        cos_zenith=cos_zenith,
        azimuth_rad=np.mod(azimuth_from_south + np.pi, 2.0 * np.pi),
        extraterrestrial_normal_w_m2=constants.SOLAR_CONSTANT_W_M2 * eccentricity,
    )


def clear_sky_ghi(cos_zenith: np.ndarray) -> np.ndarray:
    """Haurwitz clear-sky global horizontal irradiance, W/m2."""
    mu = np.maximum(cos_zenith, 1e-6)
    return np.where(cos_zenith > 0.0, 1098.0 * mu * np.exp(-0.059 / mu), 0.0)


def split_global(
    ghi_w_m2: np.ndarray, sun: SunPosition
) -> tuple[np.ndarray, np.ndarray]:
    """Splits global horizontal irradiance into (direct normal, diffuse horizontal).

    Uses the Erbs et al. (1982) diffuse fraction correlation on the clearness
    index. Returns arrays in W/m2.
    """
    ghi = np.maximum(np.asarray(ghi_w_m2, dtype=np.float64), 0.0)
    mu = sun.cos_zenith
    horizontal_extraterrestrial = sun.extraterrestrial_normal_w_m2 * np.maximum(
        mu, _MIN_COS_ZENITH_FOR_BEAM
    )
    kt = np.clip(ghi / horizontal_extraterrestrial, 0.0, 1.0)
    diffuse_fraction = np.where(
        kt <= 0.22,
        1.0 - 0.09 * kt,
        np.where(
            kt <= 0.80,
            0.9511 - 0.1604 * kt + 4.388 * kt**2 - 16.638 * kt**3 + 12.336 * kt**4,
            0.165,
        ),
    )
    has_beam = mu >= _MIN_COS_ZENITH_FOR_BEAM
    dhi = np.where(has_beam, diffuse_fraction * ghi, ghi)
    dni = np.where(
        has_beam, (ghi - dhi) / np.maximum(mu, _MIN_COS_ZENITH_FOR_BEAM), 0.0
    )
    return dni, dhi


def vertical_irradiance(
    surface_azimuth_deg: np.ndarray,
    sun: SunPosition,
    dni_w_m2: np.ndarray,
    dhi_w_m2: np.ndarray,
    ghi_w_m2: np.ndarray,
    ground_reflectance: float,
) -> np.ndarray:
    """Irradiance on vertical surfaces, isotropic sky, W/m2.

    Args:
      surface_azimuth_deg: (S,) outward normals, clockwise from north.
      sun: Sun position at T instants.
      dni_w_m2: (T,) direct normal irradiance.
      dhi_w_m2: (T,) diffuse horizontal irradiance.
      ghi_w_m2: (T,) global horizontal irradiance.
      ground_reflectance: Albedo of the ground in front of the surfaces.

    Returns:
      (T, S) irradiance on each surface.
    """
    azimuth = np.deg2rad(np.asarray(surface_azimuth_deg, dtype=np.float64))
    sin_zenith = np.sqrt(np.maximum(1.0 - sun.cos_zenith**2, 0.0))
    # For a vertical surface cos(incidence) = sin(zenith) cos(sun az - surf az).
    cos_incidence = sin_zenith[:, None] * np.cos(
        sun.azimuth_rad[:, None] - azimuth[None, :]
    )
    above = (sun.cos_zenith > 0.0)[:, None]
    beam = np.where(above, dni_w_m2[:, None] * np.maximum(cos_incidence, 0.0), 0.0)
    # View factors of a vertical surface: half the sky, half the ground.
    sky = 0.5 * dhi_w_m2[:, None]
    ground = 0.5 * ground_reflectance * ghi_w_m2[:, None]
    return beam + sky + ground
