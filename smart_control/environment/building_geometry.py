"""Office building geometry and envelope turned into an RC thermal network.

The building is a rectangular block of `floors` storeys, each split into four
perimeter zones (south, east, north, west; trapezoids of depth
`perimeter_depth_m`) and a core zone: the zoning of the DOE reference medium
office (Deru et al. 2011, "U.S. Department of Energy Commercial Reference
Building Models of the National Building Stock", NREL/TP-5500-46861: 3
floors, 4982 m2, 49.9 m x 33.3 m, 4.57 m perimeter depth, 33 % window-to-wall
ratio).

Each zone has two nodes, following the ISO 13790:2008 simple hourly method
(5R1C) reduced to 2R2C:

* air node: air (and furniture) capacity; windows and infiltration connect it
  to outdoors; it exchanges heat with the mass node through
  H_ms = h_ms A_m (h_ms = 9.1 W/m2K, ISO 13790 section 12.2.2);
* mass node: the structure, C_m = kappa_m A_f (ISO 13790 Table 12, "medium":
  165 kJ/m2K, A_m = 2.5 A_f); opaque walls and roof join it to outdoors with
  H_em = 1 / (1/H_op - 1/H_ms) (ISO 13790 eq. 63), so air-to-outdoor heat
  through walls sees exactly U A; ground-floor slabs join it to the ground.

Zones are coupled horizontally between air nodes (internal partitions and
open-plan air exchange, per m2 of boundary) and vertically between mass nodes
(floor slabs). Windows carry solar gains.
"""

from __future__ import annotations

import dataclasses

import gin
import numpy as np

from smart_control.environment import constants, thermal_model

ZONE_KINDS = ("south", "east", "north", "west", "core")
# Outward facade normals, degrees clockwise from north, before rotation.
_FACADE_AZIMUTH_DEG = {"south": 180.0, "east": 90.0, "north": 0.0, "west": 270.0}


@dataclasses.dataclass(frozen=True)
class BuildingSpec:
    """A building as the environment needs it.

    Attributes:
      zone_names: Zone names, e.g. "floor1_south".
      floor_area_m2: (n,) zone floor areas.
      is_perimeter: (n,) whether each zone has a facade.
      window_area_m2: (n,) glazed area of each zone.
      window_azimuth_deg: (n,) facade azimuth (irrelevant where no windows).
      solar_heat_gain_coefficient: Window SHGC (fraction of incident solar).
      solar_to_mass_fraction: Fraction of transmitted solar absorbed by mass.
      ground_reflectance: Albedo of the ground seen by the windows.
      network: The RC network; nodes 0..n-1 are zone air, n..2n-1 zone mass.
      ground_temperature_k: Temperature of the ground under the building.
    """

    zone_names: tuple[str, ...]
    floor_area_m2: np.ndarray
    is_perimeter: np.ndarray
    window_area_m2: np.ndarray
    window_azimuth_deg: np.ndarray
    solar_heat_gain_coefficient: float
    solar_to_mass_fraction: float
    ground_reflectance: float
    network: thermal_model.ThermalNetwork
    ground_temperature_k: float

    @property
    def num_zones(self) -> int:
        return len(self.zone_names)

    @property
    def total_floor_area_m2(self) -> float:
        return float(self.floor_area_m2.sum())


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@gin.configurable
def office_building(
    floors: int = 3,
    length_m: float = 49.9,
    width_m: float = 33.3,
    floor_height_m: float = 3.96,
    perimeter_depth_m: float = 4.57,
    orientation_deg: float = 0.0,
    window_to_wall_ratio: float = 0.33,
    window_u_w_m2k: float = 3.24,
    solar_heat_gain_coefficient: float = 0.39,
    wall_u_w_m2k: float = 0.48,
    roof_u_w_m2k: float = 0.36,
    ground_floor_u_w_m2k: float = 0.5,
    interfloor_u_w_m2k: float = 1.5,
    interzone_u_w_m2k: float = 2.0,
    infiltration_l_s_m2_facade: float = 0.3,
    air_capacity_multiplier: float = 2.0,
    mass_capacity_j_m2k: float = 165_000.0,
    mass_area_factor: float = 2.5,
    mass_surface_h_w_m2k: float = 9.1,
    solar_to_mass_fraction: float = 0.7,
    ground_reflectance: float = 0.2,
    ground_temperature_k: float = 283.15,
) -> BuildingSpec:
    """Builds the multi-zone office and its RC network.

    Defaults and their sources:
      * geometry: DOE reference medium office (Deru et al. 2011).
      * window U 3.24 W/m2K (U-0.57 Btu/h ft2 F) and SHGC 0.39, wall U 0.48
        (steel-framed, U-0.084), roof U 0.36 (insulation above deck, U-0.063):
        ASHRAE 90.1-2004 Table 5.5-5 (climate zone 5, nonresidential).
      * ground-floor slab 0.5 W/m2K and interfloor slab 1.5 W/m2K (concrete
        slab with carpet and ceiling; CIBSE Guide A 2015, ch. 3 tables).
      * interzone 2.0 W/m2K of boundary area: lightweight partitions
        (CIBSE Guide A ch. 3, about 1.7-2.5 W/m2K); open-plan exchange is at
        least as large. This coupling is an engineering assumption.
      * infiltration 0.3 L/s per m2 of facade: DOE reference building value
        (1.0 L/s m2 at design wind) times its 0.25 "HVAC on" factor, rounded
        up to allow for wind and stack effects at night.
      * air capacity x2 for furniture and contents (RC-model calibration
        studies use 1-10; EnergyPlus default multiplier is 1).
      * mass 165 kJ/m2K, A_m = 2.5 A_f, h_ms = 9.1 W/m2K: ISO 13790:2008
        Table 12 "medium" class and section 12.2.2.
      * 70 % of transmitted solar absorbed by the mass (floor and furniture
        first; ISO 13790 puts it on the surface and mass nodes).
      * ground reflectance 0.2, the usual value for grass and concrete
        surroundings (Duffie & Beckman 2013, section 2.16).
      * ground at 10 C, the annual mean air temperature of the default climate
        (ASHRAE Handbook--Fundamentals 2021, ch. 18: deep ground temperature
        is close to the annual mean air temperature).

    Args:
      floors: Number of storeys.
      length_m: Facade length facing south (before rotation), m.
      width_m: Facade length facing east, m.
      floor_height_m: Floor-to-floor height, m.
      perimeter_depth_m: Depth of perimeter zones, m.
      orientation_deg: Clockwise rotation of the building, degrees.
      window_to_wall_ratio: Glazed fraction of each facade.
      window_u_w_m2k: Window U-value, W/m2K.
      solar_heat_gain_coefficient: Window SHGC.
      wall_u_w_m2k: Opaque wall U-value, W/m2K.
      roof_u_w_m2k: Roof U-value, W/m2K.
      ground_floor_u_w_m2k: Ground-floor slab U-value, W/m2K.
      interfloor_u_w_m2k: Slab between storeys, W/m2K.
      interzone_u_w_m2k: Conductance per m2 of boundary between zones on a
        floor, W/m2K.
      infiltration_l_s_m2_facade: Infiltration per m2 of facade, L/s m2.
      air_capacity_multiplier: Air node capacity over that of its air.
      mass_capacity_j_m2k: Mass heat capacity per m2 of floor, J/m2K.
      mass_area_factor: Area of mass surfaces per m2 of floor.
      mass_surface_h_w_m2k: Air-to-mass surface coefficient, W/m2K.
      solar_to_mass_fraction: Share of solar gains on the mass node.
      ground_reflectance: Albedo of the ground in front of the windows.
      ground_temperature_k: Temperature under the slab, K.

    Raises:
      ValueError: naming the parameter, on a non-positive size or count,
        negative U-values or areas, fractions outside [0, 1], perimeter zones
        that do not fit, or wall U-values too large for the mass coupling.
    """
    floors = int(floors)
    _require(floors >= 1, f"floors={floors} must be >= 1")
    for name, value in (
        ("length_m", length_m),
        ("width_m", width_m),
        ("floor_height_m", floor_height_m),
        ("perimeter_depth_m", perimeter_depth_m),
        ("mass_capacity_j_m2k", mass_capacity_j_m2k),
        ("mass_area_factor", mass_area_factor),
        ("mass_surface_h_w_m2k", mass_surface_h_w_m2k),
        ("air_capacity_multiplier", air_capacity_multiplier),
        ("ground_temperature_k", ground_temperature_k),
    ):
        _require(value > 0, f"{name}={value} must be > 0 (negative or zero size)")
    for name, value in (
        ("window_u_w_m2k", window_u_w_m2k),
        ("wall_u_w_m2k", wall_u_w_m2k),
        ("roof_u_w_m2k", roof_u_w_m2k),
        ("ground_floor_u_w_m2k", ground_floor_u_w_m2k),
        ("interfloor_u_w_m2k", interfloor_u_w_m2k),
        ("interzone_u_w_m2k", interzone_u_w_m2k),
        ("infiltration_l_s_m2_facade", infiltration_l_s_m2_facade),
    ):
        _require(value >= 0, f"{name}={value} must be >= 0")
    for name, value in (
        ("window_to_wall_ratio", window_to_wall_ratio),
        ("solar_heat_gain_coefficient", solar_heat_gain_coefficient),
        ("solar_to_mass_fraction", solar_to_mass_fraction),
        ("ground_reflectance", ground_reflectance),
    ):
        _require(0.0 <= value <= 1.0, f"{name}={value} not in [0, 1]")
    _require(
        2 * perimeter_depth_m < min(length_m, width_m),
        f"perimeter_depth_m={perimeter_depth_m} leaves no core in a "
        f"{length_m} x {width_m} m floor",
    )

    d, h = perimeter_depth_m, floor_height_m
    core_l, core_w = length_m - 2 * d, width_m - 2 * d
    area = {
        "south": (length_m - d) * d,
        "north": (length_m - d) * d,
        "east": (width_m - d) * d,
        "west": (width_m - d) * d,
        "core": core_l * core_w,
    }
    facade = {"south": length_m, "north": length_m, "east": width_m, "west": width_m}
    core_boundary = {"south": core_l, "north": core_l, "east": core_w, "west": core_w}
    corner_boundary = d * np.sqrt(2.0)

    names, areas, perimeter, windows, azimuths, floor_of = [], [], [], [], [], []
    for f in range(floors):
        for kind in ZONE_KINDS:
            names.append(f"floor{f + 1}_{kind}")
            areas.append(area[kind])
            perimeter.append(kind != "core")
            windows.append(
                window_to_wall_ratio * facade[kind] * h if kind != "core" else 0.0
            )
            azimuths.append(
                (_FACADE_AZIMUTH_DEG.get(kind, 0.0) + orientation_deg) % 360.0
            )
            floor_of.append(f)
    n = len(names)
    areas = np.array(areas)
    index = {name: i for i, name in enumerate(names)}

    rho_cp = constants.AIR_VOLUMETRIC_HEAT_CAPACITY_J_M3K
    capacitance = np.concatenate(
        [rho_cp * areas * h * air_capacity_multiplier, mass_capacity_j_m2k * areas]
    )
    conductance = np.zeros((2 * n, 2 * n))
    outdoor = np.zeros(2 * n)
    ground = np.zeros(2 * n)

    def couple(i: int, j: int, value: float) -> None:
        conductance[i, j] += value
        conductance[j, i] += value

    for f in range(floors):
        for kind in ZONE_KINDS:
            i = index[f"floor{f + 1}_{kind}"]
            air, mass = i, n + i
            h_ms = mass_surface_h_w_m2k * mass_area_factor * areas[i]
            couple(air, mass, h_ms)
            opaque = 0.0
            if kind != "core":
                wall = facade[kind] * h
                outdoor[air] += window_u_w_m2k * windows[i]
                outdoor[air] += rho_cp * infiltration_l_s_m2_facade * 1e-3 * wall
                opaque += wall_u_w_m2k * (wall - windows[i])
                couple(
                    air,
                    index[f"floor{f + 1}_core"],
                    interzone_u_w_m2k * core_boundary[kind] * h,
                )
            if f == floors - 1:
                opaque += roof_u_w_m2k * areas[i]
            if opaque > 0:
                _require(
                    opaque < h_ms,
                    f"envelope of {names[i]} ({opaque:.0f} W/K) is not smaller "
                    f"than its mass coupling ({h_ms:.0f} W/K); reduce wall_u_w_m2k "
                    "or roof_u_w_m2k",
                )
                outdoor[mass] += 1.0 / (1.0 / opaque - 1.0 / h_ms)
            if f == 0:
                ground[mass] += ground_floor_u_w_m2k * areas[i]
            if f + 1 < floors:
                couple(
                    mass,
                    n + index[f"floor{f + 2}_{kind}"],
                    interfloor_u_w_m2k * areas[i],
                )
        # Corner boundaries between neighbouring perimeter zones.
        ring = ZONE_KINDS[:4]
        for a, b in zip(ring, ring[1:] + ring[:1]):
            couple(
                index[f"floor{f + 1}_{a}"],
                index[f"floor{f + 1}_{b}"],
                interzone_u_w_m2k * corner_boundary * h,
            )

    network = thermal_model.ThermalNetwork(
        capacitance_j_k=capacitance,
        conductance_w_k=conductance,
        outdoor_w_k=outdoor,
        ground_w_k=ground,
        node_names=tuple(f"{z}_air" for z in names) + tuple(f"{z}_mass" for z in names),
    )
    return BuildingSpec(
        zone_names=tuple(names),
        floor_area_m2=areas,
        is_perimeter=np.array(perimeter),
        window_area_m2=np.array(windows),
        window_azimuth_deg=np.array(azimuths),
        solar_heat_gain_coefficient=float(solar_heat_gain_coefficient),
        solar_to_mass_fraction=float(solar_to_mass_fraction),
        ground_reflectance=float(ground_reflectance),
        network=network,
        ground_temperature_k=float(ground_temperature_k),
    )
