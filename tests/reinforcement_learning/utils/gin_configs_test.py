"""utils/gin_configs.py: finding gin files and parsing them, in-process.

The gin errors use the launchers' executors as the configurables to misspell:
they are real gin configurables that import no TensorFlow.
"""

import os

import gin
import pytest

from launchers import executors  # noqa: F401  (registers LocalExecutor with gin)
from smart_control.reinforcement_learning.utils import gin_configs
from smart_control.reinforcement_learning.utils.user_errors import UserError

# resolve_gin_file


def test_resolve_gin_file_finds_shipped_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert gin_configs.resolve_gin_file("experiments/quickstart.gin") == os.path.join(
        gin_configs.CONFIGS_DIR, "experiments", "quickstart.gin"
    )


def test_resolve_gin_file_prefers_the_path_as_given(tmp_path, monkeypatch):
    # A local file of the same relative name shadows the shipped one.
    local = tmp_path / "experiments" / "quickstart.gin"
    local.parent.mkdir()
    local.write_text("")
    monkeypatch.chdir(tmp_path)
    assert gin_configs.resolve_gin_file("experiments/quickstart.gin") == str(local)
    assert gin_configs.resolve_gin_file(str(local)) == str(local)


def test_resolve_gin_file_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_directory.gin").mkdir()  # not a file
    with pytest.raises(UserError) as error:
        gin_configs.resolve_gin_file("nope.gin")
    assert str(error.value) == (
        "gin file not found: nope.gin (looked in . and "
        f"{os.path.normpath(gin_configs.CONFIGS_DIR)})"
    )
    with pytest.raises(UserError) as error:
        gin_configs.resolve_gin_file("a_directory.gin")
    assert str(error.value) == "gin file a_directory.gin is a directory, not a file"


# parse_gin: a binding reaches its configurable; every mistake is one line.


def test_parse_gin_applies_files_then_bindings(tmp_path):
    config = tmp_path / "local.gin"
    config.write_text(
        "import launchers.executors\n"
        "LocalExecutor.max_parallel = 3\n"
        "LocalExecutor.kill_grace_s = 2.0\n"
    )
    gin_configs.parse_gin([str(config)], ["LocalExecutor.max_parallel = 4"])
    assert gin.query_parameter("LocalExecutor.max_parallel") == 4
    assert gin.query_parameter("LocalExecutor.kill_grace_s") == 2.0


def _parse_error(tmp_path, gin_text=None, bindings=(), files=()):
    files = list(files)
    if gin_text is not None:
        path = tmp_path / "experiment.gin"
        path.write_text(gin_text)
        files.append(str(path))
    with pytest.raises(UserError) as error:
        gin_configs.parse_gin(files, list(bindings))
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
