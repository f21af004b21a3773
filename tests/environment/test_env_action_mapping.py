"""Tests of the action <-> setpoint mapping."""

import numpy as np
import pytest

from smart_control.environment import action_mapping, building_env


def test_action_names_order_is_water_then_air():
    assert action_mapping.ACTION_NAMES == (
        "supply_water_setpoint",
        "supply_air_heating_setpoint",
    )
    assert building_env.ACTION_NAMES is action_mapping.ACTION_NAMES


def test_endpoints_and_midpoint():
    mapping = action_mapping.action_mapping()
    np.testing.assert_allclose(mapping.to_setpoints([-1.0, -1.0]), [310.0, 285.0])
    np.testing.assert_allclose(mapping.to_setpoints([1.0, 1.0]), [355.0, 300.0])
    np.testing.assert_allclose(mapping.to_setpoints([0.0, 0.0]), [332.5, 292.5])
    # Order matters: the first action is the water setpoint.
    np.testing.assert_allclose(mapping.to_setpoints([1.0, -1.0]), [355.0, 285.0])


def test_round_trip_both_directions():
    mapping = action_mapping.action_mapping()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.0, 1.0, size=(100, 2))
    setpoints = mapping.to_setpoints(actions)
    back = mapping.to_action(setpoints[:, 0], setpoints[:, 1])
    assert back.dtype == np.float32 and back.shape == (100, 2)
    np.testing.assert_allclose(back, actions, atol=1e-6)
    action = mapping.to_action(350.0, 292.0)
    # (350 - 310) / 45 * 2 - 1 and (292 - 285) / 15 * 2 - 1.
    np.testing.assert_allclose(action, [7 / 9, -1 / 15], atol=1e-6)


def test_out_of_range_and_swapped_setpoints_raise():
    mapping = action_mapping.action_mapping()
    with pytest.raises(ValueError, match="supply_air_heating_setpoint"):
        mapping.to_action(350.0, 310.0)
    # Arguments swapped: 292 K is no supply water setpoint.
    with pytest.raises(ValueError, match="supply_water_setpoint"):
        mapping.to_action(292.0, 350.0)


def test_actions_outside_box_are_clipped():
    mapping = action_mapping.action_mapping()
    np.testing.assert_allclose(mapping.to_setpoints([3.0, -7.0]), [355.0, 285.0])


def test_custom_ranges_and_validation():
    mapping = action_mapping.action_mapping(supply_water_range_k=(320.0, 340.0))
    np.testing.assert_allclose(mapping.to_setpoints([0.0, -1.0]), [330.0, 285.0])
    with pytest.raises(ValueError, match="supply_water_range_k"):
        action_mapping.action_mapping(supply_water_range_k=(355.0, 310.0))
