"""The export_buffer binary as a real process."""

import json
import os
import subprocess
import sys

import pytest

import smart_control

MODULE = "smart_control.reinforcement_learning.scripts.export_buffer"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(smart_control.__file__)))


def _run(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, "-m", MODULE, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_exports_minari_and_parquet_and_imports_back(building_buffer, tmp_path):
    buffer_dir, state = building_buffer
    dataset = tmp_path / "building-v0"
    done = _run(f"--buffer={buffer_dir}", "--format=minari", f"--output={dataset}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"content hash: {state['content_hash']} (matches populate.json)" in (
        done.stdout
    )
    assert "[reverb/cc" not in done.stderr, "C++ log noise reached the terminal"
    assert (dataset / "data" / "main_data.hdf5").is_file()
    assert (dataset / "operative_config.gin").is_file()
    assert (dataset / "logs" / "native.log").stat().st_size > 0
    assert json.loads((dataset / "export.json").read_text())["summary"]["runs"] == 2

    table = tmp_path / "table"
    done = _run(
        f"--buffer={buffer_dir}",
        "--format=parquet",
        f"--output={table}",
        "--column-names=building",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Parquet table of 80 rows" in done.stdout
    assert (table / "transitions.parquet").is_file()

    new = tmp_path / "new-buffer"
    done = _run(
        f"--import_minari={dataset}",
        f"--root_dir={new}",
        "--gin_bindings=ReplayBufferManager.num_checkpoints_to_keep = 1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"content hash: {state['content_hash']} (matches populate.json)" in (
        done.stdout
    )
    assert "replay buffer of 78 items" in done.stdout
    operative = (new / "operative_config.gin").read_text()
    assert "ReplayBufferManager.num_checkpoints_to_keep = 1" in operative
    assert (new / "import.json").is_file() and (new / "metadata.json").is_file()
    assert not list(tmp_path.glob("*.partial-*"))


def _error_cases(buffer_dir, tmp_path):
    not_a_buffer = tmp_path / "not-a-buffer"
    not_a_buffer.mkdir()
    (not_a_buffer / "notes.txt").write_text("hello")
    exists = tmp_path / "exists"
    exists.mkdir()
    (exists / "export.json").write_text("{}")
    return {
        "missing buffer": (
            [f"--buffer={tmp_path / 'nope'}", f"--output={tmp_path / 'o'}"],
            "error: no such buffer directory: ",
        ),
        "not a buffer": (
            [f"--buffer={not_a_buffer}", f"--output={tmp_path / 'o'}"],
            "is not a replay buffer",
        ),
        "output exists": (
            [f"--buffer={buffer_dir}", f"--output={exists}"],
            "already exists; pass --overwrite",
        ),
        "overwrite of something else": (
            [f"--buffer={buffer_dir}", f"--output={not_a_buffer}", "--overwrite"],
            "is not an export; --overwrite replaces only an export",
        ),
        "wrong format": (
            [f"--buffer={buffer_dir}", f"--output={tmp_path / 'o'}", "--format=csv"],
            "error: --format must be minari or parquet, got 'csv'",
        ),
        "no mode": ([], "error: give --buffer to export, or --import_minari"),
        "import without root_dir": (
            [f"--import_minari={exists}"],
            "--root_dir (the new buffer directory) is required",
        ),
        "import of nothing": (
            [f"--import_minari={tmp_path / 'nope'}", f"--root_dir={tmp_path / 'b'}"],
            "error: no such Minari dataset: ",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing buffer",
        "not a buffer",
        "output exists",
        "overwrite of something else",
        "wrong format",
        "no mode",
        "import without root_dir",
        "import of nothing",
    ],
)
def test_errors_are_one_line(case, building_buffer, tmp_path):
    args, message = _error_cases(building_buffer[0], tmp_path)[case]
    done = _run(*args, timeout=60)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert message in done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_help_exits_zero():
    done = _run("--help", timeout=60)
    assert done.returncode == 0
    assert "--import_minari" in done.stdout and "--format" in done.stdout
