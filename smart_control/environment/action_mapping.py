"""The action layout and its linear map to supervisory setpoints (Kelvin).

An action is a float32 vector of two values in [-1, 1], in `ACTION_NAMES`
order: the boiler loop's supply water temperature setpoint, then the air
handler's supply air heating setpoint. -1 maps to the bottom of each range,
+1 to the top (reference system ranges: 310-355 K water, 285-300 K air).

    setpoint = low + (action + 1) / 2 * (high - low)
    action   = 2 * (setpoint - low) / (high - low) - 1

`to_action` refuses setpoints outside their range, which also catches
swapped arguments (a water temperature is never a valid air setpoint).
"""

from __future__ import annotations

import dataclasses

import gin
import numpy as np

ACTION_NAMES = ("supply_water_setpoint", "supply_air_heating_setpoint")
SUPPLY_WATER_INDEX = 0
SUPPLY_AIR_HEATING_INDEX = 1

# Slack for setpoints computed in float32 that land a hair outside a range.
_RANGE_TOLERANCE_K = 1e-3


@dataclasses.dataclass(frozen=True)
class ActionMapping:
    """Linear map between actions in [-1, 1] and setpoints in Kelvin.

    Attributes:
      supply_water_range_k: (low, high) supply water setpoint, K.
      supply_air_heating_range_k: (low, high) supply air heating setpoint, K.
    """

    supply_water_range_k: tuple[float, float] = (310.0, 355.0)
    supply_air_heating_range_k: tuple[float, float] = (285.0, 300.0)

    def __post_init__(self):
        for name in ("supply_water_range_k", "supply_air_heating_range_k"):
            low, high = getattr(self, name)
            if not low < high:
                raise ValueError(f"{name}=({low}, {high}) must have low < high")

    @property
    def low_k(self) -> np.ndarray:
        """Setpoints at action -1, in `ACTION_NAMES` order."""
        return np.array(
            [self.supply_water_range_k[0], self.supply_air_heating_range_k[0]]
        )

    @property
    def high_k(self) -> np.ndarray:
        """Setpoints at action +1, in `ACTION_NAMES` order."""
        return np.array(
            [self.supply_water_range_k[1], self.supply_air_heating_range_k[1]]
        )

    def to_setpoints(self, action: np.ndarray) -> np.ndarray:
        """Maps actions (..., 2) in [-1, 1] to setpoints (..., 2) in K.

        Actions outside [-1, 1] are clipped first.
        """
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        low, high = self.low_k, self.high_k
        return low + 0.5 * (action + 1.0) * (high - low)

    def to_action(
        self,
        supply_water_k: float | np.ndarray,
        supply_air_heating_k: float | np.ndarray,
    ) -> np.ndarray:
        """Maps setpoints in K to a float32 action (..., 2) in [-1, 1].

        Args:
          supply_water_k: Supply water temperature setpoint(s), K.
          supply_air_heating_k: Supply air heating setpoint(s), K.

        Raises:
          ValueError: if a setpoint lies outside its range.
        """
        setpoints = np.stack(
            np.broadcast_arrays(
                np.asarray(supply_water_k, dtype=np.float64),
                np.asarray(supply_air_heating_k, dtype=np.float64),
            ),
            axis=-1,
        )
        low, high = self.low_k, self.high_k
        for i, name in enumerate(ACTION_NAMES):
            values = setpoints[..., i]
            if np.any(values < low[i] - _RANGE_TOLERANCE_K) or np.any(
                values > high[i] + _RANGE_TOLERANCE_K
            ):
                raise ValueError(
                    f"{name} {values} K outside its range [{low[i]}, {high[i]}] K"
                )
        action = 2.0 * (setpoints - low) / (high - low) - 1.0
        return np.clip(action, -1.0, 1.0).astype(np.float32)


@gin.configurable
def action_mapping(
    supply_water_range_k: tuple[float, float] = (310.0, 355.0),
    supply_air_heating_range_k: tuple[float, float] = (285.0, 300.0),
) -> ActionMapping:
    """Builds the action mapping (ranges are the reference system's).

    Args:
      supply_water_range_k: (low, high) supply water setpoint, K.
      supply_air_heating_range_k: (low, high) supply air heating setpoint, K.
    """
    return ActionMapping(
        tuple(float(v) for v in supply_water_range_k),
        tuple(float(v) for v in supply_air_heating_range_k),
    )
