"""The package as pip installs it (not editable) ships its gin configs.

`pip install --target` builds the wheel (without the dependencies, which the
test's environment has) into a directory outside the checkout; binaries run
from another directory with only that on PYTHONPATH find `train/building_sac.gin`
and the other shipped files there.
"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            REPO,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target


def _run(installed, cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_wheel_holds_every_shipped_gin_file(installed):
    shipped = {
        os.path.relpath(os.path.join(d, f), os.path.join(REPO, "smart_control"))
        for d, _, files in os.walk(os.path.join(REPO, "smart_control", "configs"))
        for f in files
        if f.endswith(".gin")
    }
    found = {
        os.path.relpath(os.path.join(d, f), os.path.join(installed, "smart_control"))
        for d, _, files in os.walk(os.path.join(installed, "smart_control", "configs"))
        for f in files
        if f.endswith(".gin")
    }
    assert shipped and found == shipped


def test_binaries_find_the_shipped_configs_from_another_directory(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = _run(
        installed,
        elsewhere,
        "-c",
        "from smart_control.reinforcement_learning.utils import gin_configs; "
        "print(gin_configs.CONFIGS_DIR); "
        "gin_configs.parse_gin(['train/building_sac.gin', 'experiments/quickstart.gin'], [])",
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert check.stdout.strip().startswith(str(installed))
    populate = _run(
        installed,
        elsewhere,
        "-m",
        "smart_control.reinforcement_learning.scripts.populate_starter_buffer",
        "--root_dir=buffer",
        "--num_runs=1",
        "--steps_per_run=24",
        "--noprogress",
    )
    assert populate.returncode == 0, populate.stderr[-3000:]
    operative = (elsewhere / "buffer" / "operative_config.gin").read_text()
    assert "populate/populate_starter_buffer.steps_per_run = 24" in operative
