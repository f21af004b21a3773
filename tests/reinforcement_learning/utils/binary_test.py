"""utils/binary.py's flag and gin helpers, in-process (no binary is started).

The gin errors use the launchers' executors as the configurables to misspell:
they are real gin configurables that import no TensorFlow.
"""

import os

import gin
import pytest
from absl import flags
from absl.testing import flagsaver

from launchers import executors  # noqa: F401  (registers LocalExecutor with gin)
from smart_control.reinforcement_learning.utils import binary

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
    binary.parse_gin([], bindings)
    assert gin.query_parameter("%CAPACITY") == 7


# resolve_gin_file


def test_resolve_gin_file_finds_shipped_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert binary.resolve_gin_file("experiments/quickstart.gin") == os.path.join(
        binary.CONFIGS_DIR, "experiments", "quickstart.gin"
    )


def test_resolve_gin_file_prefers_the_path_as_given(tmp_path, monkeypatch):
    # A local file of the same relative name shadows the shipped one.
    local = tmp_path / "experiments" / "quickstart.gin"
    local.parent.mkdir()
    local.write_text("")
    monkeypatch.chdir(tmp_path)
    assert binary.resolve_gin_file("experiments/quickstart.gin") == str(local)
    assert binary.resolve_gin_file(str(local)) == str(local)


def test_resolve_gin_file_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_directory.gin").mkdir()  # not a file
    with pytest.raises(binary.UserError) as error:
        binary.resolve_gin_file("nope.gin")
    assert str(error.value) == (
        "gin file not found: nope.gin (looked in . and "
        f"{os.path.normpath(binary.CONFIGS_DIR)})"
    )
    with pytest.raises(binary.UserError) as error:
        binary.resolve_gin_file("a_directory.gin")
    assert str(error.value) == "gin file a_directory.gin is a directory, not a file"


# parse_gin: a binding reaches its configurable; every mistake is one line.


def test_parse_gin_applies_files_then_bindings(tmp_path):
    config = tmp_path / "local.gin"
    config.write_text(
        "import launchers.executors\n"
        "LocalExecutor.max_parallel = 3\n"
        "LocalExecutor.kill_grace_s = 2.0\n"
    )
    binary.parse_gin([str(config)], ["LocalExecutor.max_parallel = 4"])
    assert gin.query_parameter("LocalExecutor.max_parallel") == 4
    assert gin.query_parameter("LocalExecutor.kill_grace_s") == 2.0


def _parse_error(tmp_path, gin_text=None, bindings=(), files=()):
    files = list(files)
    if gin_text is not None:
        path = tmp_path / "experiment.gin"
        path.write_text(gin_text)
        files.append(str(path))
    with pytest.raises(binary.UserError) as error:
        binary.parse_gin(files, list(bindings))
    message = str(error.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("where", ["binding", "file"])
def test_parse_gin_unknown_configurable_is_one_line(tmp_path, where):
    line = "NoSuchThing.param = 1"
    if where == "binding":
        message = _parse_error(tmp_path, bindings=[line])
    else:
        message = _parse_error(tmp_path, gin_text=line + "\n")
    assert message == "gin: No configurable matching 'NoSuchThing'."


@pytest.mark.parametrize("where", ["binding", "file"])
def test_parse_gin_misspelt_parameter_is_one_line(tmp_path, where):
    line = "LocalExecutor.max_paralel = 2"
    if where == "binding":
        message = _parse_error(tmp_path, bindings=[line])
    else:
        message = _parse_error(tmp_path, gin_text=line + "\n")
    assert message == (
        "gin: Configurable 'LocalExecutor' doesn't have a parameter named "
        "'max_paralel'."
    )


def test_parse_gin_missing_file_is_one_line(tmp_path):
    message = _parse_error(tmp_path, files=[str(tmp_path / "missing.gin")])
    assert message.startswith(f"gin file not found: {tmp_path / 'missing.gin'} ")


def test_parse_gin_missing_include_is_one_line(tmp_path):
    message = _parse_error(tmp_path, gin_text="include 'no/such.gin'\n")
    assert message.startswith("gin: Unable to open file: no/such.gin.")


@pytest.mark.parametrize(
    "binding, expected",
    [
        ("LocalExecutor.max_parallel = 2 3", "gin: --gin_bindings: Expected newline"),
        (
            "LocalExecutor.max_parallel = @no_such_function",
            "gin: No configurable matching reference '@no_such_function'.",
        ),
    ],
)
def test_parse_gin_malformed_value_is_one_line(tmp_path, binding, expected):
    assert _parse_error(tmp_path, bindings=[binding]) == expected


@pytest.mark.parametrize("binding", ["SEED = [0", "LocalExecutor.max_parallel = (1"])
def test_parse_gin_unclosed_bracket_is_one_line(tmp_path, binding):
    message = _parse_error(tmp_path, bindings=[binding])
    assert message.startswith("gin: ")
