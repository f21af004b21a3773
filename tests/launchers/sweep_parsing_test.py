"""launchers/sweep_plan.py's parsing of --sweep lines into points, in-process."""

import gin
import pytest

from launchers import sweep_plan
from smart_control.reinforcement_learning.utils import binary


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "ReplayBufferManager.capacity=[1000, 2000]",
            ("ReplayBufferManager.capacity", [1000, 2000]),
        ),
        (
            " ReplayBufferManager.capacity = [1000] ",
            ("ReplayBufferManager.capacity", [1000]),
        ),
        ("SEED=[0, 1]", ("SEED", [0, 1])),
        ("MY_MACRO_2=(0.5, 1e-3)", ("MY_MACRO_2", [0.5, 0.001])),
        (
            "populate/ReplayBufferManager.capacity=[1, 2]",
            ("populate/ReplayBufferManager.capacity", [1, 2]),
        ),
        (
            "a/b/create_sac_agent.actor_fc_layers=[(8,), (16, 16)]",
            ("a/b/create_sac_agent.actor_fc_layers", [(8,), (16, 16)]),
        ),
        # A module-qualified configurable; values of any literal type.
        (
            "smart_control.module.Configurable.param=['a', None, True]",
            ("smart_control.module.Configurable.param", ["a", None, True]),
        ),
        # Only the first '=' separates the name: a value may hold one.
        ("A.b=['x=1', 'y']", ("A.b", ["x=1", "y"])),
    ],
)
def test_parse_sweep_line(line, expected):
    assert sweep_plan.parse_sweep_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "capacity=[1, 2]",  # neither Configurable.param nor an upper-case macro
        "Seed=[1, 2]",
        "ReplayBufferManager.capacity",  # no '='
        "=[1, 2]",
        "ReplayBufferManager.=[1]",
        "populate/=[1]",
        "/ReplayBufferManager.capacity=[1]",
        "2A.b=[1]",
        "A.b c=[1]",
    ],
)
def test_parse_sweep_line_refuses_a_bad_name(line):
    with pytest.raises(binary.UserError) as error:
        sweep_plan.parse_sweep_line(line)
    assert str(error.value) == (
        "--sweep must look like 'Configurable.param=[v1, v2]' or "
        f"'MACRO=[v1, v2]', got {line!r}"
    )


@pytest.mark.parametrize("values", ["[1, 2", "[one, two]", "", "[1, 2] + x", "@fn"])
def test_parse_sweep_line_refuses_values_that_are_no_literal(values):
    with pytest.raises(binary.UserError) as error:
        sweep_plan.parse_sweep_line(f"A.b={values}")
    assert str(error.value) == (
        f"--sweep values must be a Python list literal, got {values.strip()!r}"
    )


@pytest.mark.parametrize("values", ["[]", "()", "5", "'ab'", "{1: 2}", "{1, 2}"])
def test_parse_sweep_line_refuses_values_that_are_no_list(values):
    with pytest.raises(binary.UserError) as error:
        sweep_plan.parse_sweep_line(f"A.b={values}")
    assert str(error.value) == (
        f"--sweep values must be a non-empty list, got {values!r}"
    )


def test_sweep_axes_skips_blank_and_comment_lines_and_keeps_order():
    lines = [
        "# a sweep file",
        "",
        "SEED=[0, 1]",
        "   ",
        "  # indented comment",
        "populate/ReplayBufferManager.capacity=[1, 2, 3]",
    ]
    assert sweep_plan.sweep_axes(lines) == [
        ("SEED", [0, 1]),
        ("populate/ReplayBufferManager.capacity", [1, 2, 3]),
    ]


def test_sweep_axes_refuses_a_name_swept_twice():
    with pytest.raises(binary.UserError) as error:
        sweep_plan.sweep_axes(["SEED=[0]", "A.b=[1]", "SEED=[1]", "A.b=[2]", "C.d=[3]"])
    assert str(error.value) == "swept twice: ['A.b', 'SEED']"


def test_scoped_and_unscoped_names_are_different_axes():
    axes = sweep_plan.sweep_axes(
        [
            "ReplayBufferManager.capacity=[1]",
            "populate/ReplayBufferManager.capacity=[2]",
        ]
    )
    assert len(axes) == 2


@pytest.mark.parametrize("lines", [[], ["", "# only a comment"]])
def test_sweep_axes_needs_something_to_sweep(lines):
    with pytest.raises(binary.UserError, match="^nothing to sweep: give --sweep"):
        sweep_plan.sweep_axes(lines)


def test_sweep_axes_names_the_bad_line():
    with pytest.raises(binary.UserError, match="got 'capacity=\\[1\\]'"):
        sweep_plan.sweep_axes(["SEED=[0]", "capacity=[1]"])


def test_points_are_the_cartesian_product_in_axis_order():
    axes = [("SEED", [0, 1]), ("A.b", ["x", "y", "z"])]
    assert sweep_plan.points_of(axes) == [
        {"SEED": 0, "A.b": "x"},
        {"SEED": 0, "A.b": "y"},
        {"SEED": 0, "A.b": "z"},
        {"SEED": 1, "A.b": "x"},
        {"SEED": 1, "A.b": "y"},
        {"SEED": 1, "A.b": "z"},
    ]
    assert sweep_plan.points_of([("SEED", [3])]) == [{"SEED": 3}]


def test_point_bindings_are_gin_bindings_of_the_values():
    point = {
        "SEED": 1,
        "populate/ReplayBufferManager.capacity": 2000,
        "create_sac_agent.actor_fc_layers": (8, 16),
        "Thing.name": "it's",
    }
    assert sweep_plan.point_bindings(point) == [
        "SEED = 1",
        "populate/ReplayBufferManager.capacity = 2000",
        "create_sac_agent.actor_fc_layers = (8, 16)",
        'Thing.name = "it\'s"',
    ]


def test_a_parsed_line_round_trips_through_point_bindings():
    """What a user writes on --sweep is what every stage gets bound to."""
    axes = sweep_plan.sweep_axes(
        ["SEED=[0, 1]", 'VALUES=[(1, 2), "it\'s", 1e-4, None, True, [3]]']
    )
    assert len(sweep_plan.points_of(axes)) == 12
    for point in sweep_plan.points_of(axes):
        gin.clear_config()
        gin.parse_config(sweep_plan.point_bindings(point))
        assert gin.query_parameter("%SEED") == point["SEED"]
        assert gin.query_parameter("%VALUES") == point["VALUES"]
