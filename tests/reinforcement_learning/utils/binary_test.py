"""utils/binary.py's flag helpers, in-process (no binary is started).

(Finding and parsing gin files: gin_configs_test.py.)
"""

import gin
import pytest
from absl import flags
from absl.testing import flagsaver

from smart_control.reinforcement_learning.utils import binary, gin_configs

# flag_bindings reads the global FLAGS; names no binary defines.
flags.DEFINE_integer("binary_test_capacity", None, "A gin setting's flag.")
flags.DEFINE_string("binary_test_name", None, "A string flag.")
flags.DEFINE_float("binary_test_rate", None, "A float flag.")
flags.DEFINE_boolean("binary_test_switch", None, "A boolean flag.")


def _flag_values():
    """A flag set like a binary's: one dashed-name candidate of each kind."""
    values = flags.FlagValues()
    flags.DEFINE_string("buffer_name", "default", "", flag_values=values)
    flags.DEFINE_boolean("resume", True, "", flag_values=values)
    flags.DEFINE_multi_string("gin_bindings", [], "", flag_values=values)
    flags.DEFINE_string("notes", None, "", flag_values=values)
    return values


# normalize_argv


@pytest.mark.parametrize(
    "arg, expected",
    [
        ("--buffer-name=x", "--buffer_name=x"),
        ("--buffer_name=x", "--buffer_name=x"),
        ("--buffer-name", "--buffer_name"),
        ("--no-resume", "--noresume"),
        ("--no_resume", "--noresume"),
        ("--noresume", "--noresume"),
        ("--resume", "--resume"),
        ("--notes=a-b", "--notes=a-b"),  # a flag whose name starts with "no"
        # A value keeps its dashes, whatever it looks like.
        ("--gin-bindings=A.b = 'x-y'", "--gin_bindings=A.b = 'x-y'"),
        ("--buffer-name=--not-a-flag", "--buffer_name=--not-a-flag"),
        # Unknown flags are left for absl to refuse, as spelt.
        ("--no-such-flag=1", "--no-such-flag=1"),
        ("-buffer-name", "-buffer-name"),
        ("positional-arg", "positional-arg"),
    ],
)
def test_normalize_argv_rewrites_known_flag_names_only(arg, expected):
    assert binary.normalize_argv(["prog", arg], _flag_values()) == ["prog", expected]


def test_normalize_argv_leaves_everything_after_a_bare_double_dash():
    argv = [
        "./my-prog",
        "--buffer-name",
        "my-buffer",
        "--",
        "--buffer-name",
        "--no-resume",
    ]
    assert binary.normalize_argv(argv, _flag_values()) == [
        "./my-prog",
        "--buffer_name",
        "my-buffer",
        "--",
        "--buffer-name",
        "--no-resume",
    ]


def test_normalized_dashed_flags_parse_like_underscored_ones():
    values = _flag_values()
    rest = values(
        binary.normalize_argv(
            [
                "prog",
                "--buffer-name=b-1",
                "--no-resume",
                "--gin-bindings=A.b = 1",
                "--gin-bindings",
                "C.d = 2",
            ],
            values,
        )
    )
    assert rest == ["prog"]
    assert values.buffer_name == "b-1"
    assert values.resume is False
    assert values.gin_bindings == ["A.b = 1", "C.d = 2"]


# check_no_arguments


def test_check_no_arguments_accepts_the_program_name_alone():
    binary.check_no_arguments(["prog"])


def test_check_no_arguments_names_stray_arguments():
    # The usual cause: a flag without its dashes.
    with pytest.raises(binary.UserError) as error:
        binary.check_no_arguments(["prog", "capacity=5", "extra"])
    assert str(error.value) == "unexpected arguments: capacity=5 extra"


# flag_bindings


_FLAG_TO_GIN = {
    "binary_test_capacity": "CAPACITY",
    "binary_test_name": "NAME",
    "binary_test_rate": "RATE",
    "binary_test_switch": "SWITCH",
}


def test_flag_bindings_bind_nothing_for_flags_left_unset():
    with flagsaver.flagsaver():
        assert binary.flag_bindings(_FLAG_TO_GIN) == []


def test_flag_bindings_are_gin_bindings_of_the_flag_values():
    with flagsaver.flagsaver(
        binary_test_capacity=5,
        binary_test_name='it\'s a "name"',
        binary_test_rate=0.5,
        binary_test_switch=False,
    ):
        bindings = binary.flag_bindings(_FLAG_TO_GIN)
    assert bindings[0] == "CAPACITY = 5"
    assert bindings[2] == "RATE = 0.5"
    assert bindings[3] == "SWITCH = False"  # False is a value, not "unset"
    # Whatever the string holds, gin reads back the flag's value.
    gin.parse_config(bindings)
    assert gin.query_parameter("%CAPACITY") == 5
    assert gin.query_parameter("%NAME") == 'it\'s a "name"'
    assert gin.query_parameter("%RATE") == 0.5
    assert gin.query_parameter("%SWITCH") is False


def test_flag_bindings_come_after_the_users_and_win():
    with flagsaver.flagsaver(binary_test_capacity=7):
        bindings = ["CAPACITY = 1"] + binary.flag_bindings(_FLAG_TO_GIN)
    gin_configs.parse_gin([], bindings)
    assert gin.query_parameter("%CAPACITY") == 7
