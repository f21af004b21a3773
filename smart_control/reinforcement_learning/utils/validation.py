"""Checks of configuration values, one error message style for every layer."""

from __future__ import annotations

import numbers
from typing import Any, Optional

# The largest value of a signed 64-bit integer (Reverb's table sizes, seeds).
MAX_INT64 = 2**63 - 1


def check_int(
    name: str, value: Any, minimum: int, maximum: Optional[int] = None
) -> int:
    """Returns `value` as an int, or raises ValueError naming `name`.

    Booleans are refused (True is an int in Python, never a count here).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name} must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return int(value)


def check_number(name: str, value: Any, minimum: float) -> float:
    """Returns `value` as a float >= minimum, or raises ValueError naming `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value >= minimum
    ):
        raise ValueError(f"{name} must be a number >= {minimum}, got {value!r}")
    return float(value)
