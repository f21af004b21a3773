"""utils/validation.py: the checks every layer's settings go through."""

import fractions

import numpy as np
import pytest

from smart_control.reinforcement_learning.utils import validation


@pytest.mark.parametrize("value", [0, 1, 10**12, np.int64(3), np.uint8(2)])
def test_check_int_returns_a_python_int(value):
    result = validation.check_int("num_runs", value, minimum=0)
    assert result == value and type(result) is int


@pytest.mark.parametrize(
    "value", [True, False, 1.0, 2.5, "3", None, np.float32(1.0), [1]]
)
def test_check_int_refuses_what_is_not_an_integer(value):
    # True is an int in Python, never a count here.
    with pytest.raises(ValueError) as error:
        validation.check_int("num_runs", value, minimum=0)
    assert str(error.value) == f"num_runs must be an integer >= 0, got {value!r}"


def test_check_int_refuses_values_below_the_minimum():
    assert validation.check_int("num_collectors", 1, minimum=1) == 1
    with pytest.raises(ValueError) as error:
        validation.check_int("num_collectors", 0, minimum=1)
    assert str(error.value) == "num_collectors must be an integer >= 1, got 0"
    with pytest.raises(ValueError, match="got -1$"):
        validation.check_int("steps", -1, minimum=0)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0.0),
        (2, 2.0),
        (0.5, 0.5),
        (np.float32(0.25), 0.25),
        (np.int64(4), 4.0),
        (fractions.Fraction(1, 4), 0.25),
        (float("inf"), float("inf")),
    ],
)
def test_check_number_returns_a_python_float(value, expected):
    result = validation.check_number("interval_s", value, minimum=0.0)
    assert result == expected and type(result) is float


@pytest.mark.parametrize(
    "value", [-0.1, float("nan"), True, "1.0", None, 1 + 0j, float("-inf")]
)
def test_check_number_refuses_what_is_not_a_number_at_least_the_minimum(value):
    # NaN compares false with everything, so "not >= minimum" refuses it.
    with pytest.raises(ValueError) as error:
        validation.check_number("interval_s", value, minimum=0.0)
    assert str(error.value) == f"interval_s must be a number >= 0.0, got {value!r}"


def test_check_number_minimum_is_inclusive():
    assert validation.check_number("rate", 1e-3, minimum=1e-3) == 1e-3
    with pytest.raises(ValueError, match=r"rate must be a number >= 0\.001"):
        validation.check_number("rate", 9e-4, minimum=1e-3)
