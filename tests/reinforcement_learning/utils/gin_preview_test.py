"""gin_preview reads gin files and bindings without importing what they configure."""

import pytest

from smart_control.reinforcement_learning.utils import gin_preview


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_values_scopes_macros_and_references(tmp_path):
    base = _write(
        tmp_path / "base.gin",
        "import some.module.that.does.not.exist\n"
        "CAP = 500\n"
        "ReplayBufferManager.capacity = %CAP\n"
        "populate/ReplayBufferManager.capacity = 50\n"
        "train.agent = @create_agent()\n",
    )
    preview = gin_preview.preview([base], ["ReplayBufferManager.capacity = 7"])
    # The last binding wins; a scoped one wins in its scope.
    assert preview.value("ReplayBufferManager.capacity") == 7
    assert preview.value("ReplayBufferManager.capacity", "populate") == 50
    assert preview.value("train.agent") is gin_preview.NOT_LITERAL
    assert preview.value("train.unbound", default="d") == "d"
    assert sorted(preview.values_of("ReplayBufferManager", "capacity")) == [
        ("ReplayBufferManager.capacity", 7),
        ("populate/ReplayBufferManager.capacity", 50),
    ]


def test_includes_are_followed_and_searched(tmp_path):
    (tmp_path / "configs").mkdir()
    _write(tmp_path / "configs" / "inner.gin", "epw_weather.path = '/x.epw'\n")
    outer = _write(tmp_path / "outer.gin", "include 'inner.gin'\n")
    preview = gin_preview.preview([outer], [], [str(tmp_path / "configs")])
    assert preview.value("epw_weather.path") == "/x.epw"


@pytest.mark.parametrize(
    "text, bindings, expected",
    [
        (
            "epw_weather.path = /data/x.epw\n",
            [],
            "line 1: the value of epw_weather.path is not a Python literal; "
            "strings need quotes: epw_weather.path = '/data/x.epw'",
        ),
        ("include 'missing.gin'\n", [], "gin file not found: missing.gin (included by"),
        ("", ["include 'x.gin'"], "includes belong in a gin file"),
        ("", ["a.b = word"], "strings need quotes: a.b = 'word'"),
    ],
)
def test_errors_are_one_line_naming_the_place(tmp_path, text, bindings, expected):
    path = _write(tmp_path / "c.gin", text)
    with pytest.raises(gin_preview.GinInputError) as raised:
        gin_preview.preview([path], bindings)
    message = str(raised.value)
    assert "\n" not in message and expected in message, message


def test_a_missing_file_a_directory_and_another_encoding(tmp_path):
    with pytest.raises(gin_preview.GinInputError, match="gin file not found"):
        gin_preview.preview([str(tmp_path / "none.gin")], [])
    with pytest.raises(gin_preview.GinInputError, match="is a directory, not a file"):
        gin_preview.preview([str(tmp_path)], [])
    latin1 = tmp_path / "latin1.gin"
    latin1.write_bytes("# température\n".encode("latin-1"))
    with pytest.raises(gin_preview.GinInputError, match="is not UTF-8 text"):
        gin_preview.preview([str(latin1)], [])
