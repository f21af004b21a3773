"""Tests of the office geometry and the RC network built from it."""

import gin
import numpy as np
import pytest

from smart_control.environment import building_geometry, constants


def test_default_is_doe_medium_office():
    spec = building_geometry.office_building()
    assert spec.num_zones == 15
    # DOE reference medium office: 4982 m2 over 3 floors.
    assert spec.total_floor_area_m2 == pytest.approx(4982.0, rel=0.01)
    facade = 2 * (49.9 + 33.3) * 3.96 * 3
    assert spec.window_area_m2.sum() == pytest.approx(0.33 * facade)
    assert not spec.is_perimeter[4] and spec.window_area_m2[4] == 0.0
    assert spec.zone_names[0] == "floor1_south"
    assert spec.window_azimuth_deg[0] == 180.0
    assert spec.network.size == 30


def test_envelope_conductance_is_ua():
    """Outdoor conductances add up to the building's U*A plus infiltration."""
    spec = building_geometry.office_building(floors=1, ground_floor_u_w_m2k=0.0)
    net = spec.network
    n = spec.num_zones
    facade = 2 * (49.9 + 33.3) * 3.96
    windows = 0.33 * facade
    air_expected = 3.24 * windows + (
        constants.AIR_VOLUMETRIC_HEAT_CAPACITY_J_M3K * 0.3e-3 * facade
    )
    assert net.outdoor_w_k[:n].sum() == pytest.approx(air_expected)
    # Each mass path H_em in series with H_ms gives back the opaque U*A.
    h_ms = np.diag(net.conductance_w_k[:n, n:])
    h_em = net.outdoor_w_k[n:]
    series = h_em * h_ms / (h_em + h_ms)
    opaque = 0.48 * (facade - windows) + 0.36 * spec.total_floor_area_m2
    assert series.sum() == pytest.approx(opaque)


def test_rotation_turns_facades():
    spec = building_geometry.office_building(orientation_deg=90.0)
    assert spec.window_azimuth_deg[0] == 270.0  # south facade now faces west


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"length_m": -10.0}, "length_m"),
        ({"width_m": 0.0}, "width_m"),
        ({"floor_height_m": -3.0}, "floor_height_m"),
        ({"floors": 0}, "floors"),
        ({"perimeter_depth_m": 20.0}, "perimeter_depth_m"),
        ({"window_to_wall_ratio": 1.5}, "window_to_wall_ratio"),
        ({"wall_u_w_m2k": -0.1}, "wall_u_w_m2k"),
        ({"mass_capacity_j_m2k": -1.0}, "mass_capacity_j_m2k"),
        ({"wall_u_w_m2k": 500.0}, "wall_u_w_m2k"),
    ],
)
def test_bad_geometry_raises_naming_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        building_geometry.office_building(**kwargs)


def test_gin_binding_with_negative_area_raises():
    gin.parse_config("office_building.length_m = -49.9")
    with pytest.raises(ValueError, match="length_m"):
        building_geometry.office_building()
