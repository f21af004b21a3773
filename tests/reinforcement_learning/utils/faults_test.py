"""The fault-injection hook: a process kills itself at the k-th occurrence of a point."""

import os
import signal
import subprocess
import sys

import pytest

from smart_control.reinforcement_learning.utils import faults

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
POINT = faults.BUFFER_CHECKPOINT_ADOPTED


def _run(plan):
    """Reaches POINT five times, printing before each; returns the process."""
    code = (
        "from smart_control.reinforcement_learning.utils import faults\n"
        "for i in range(1, 6):\n"
        "    print(i, flush=True)\n"
        f"    faults.reached({POINT!r})\n"
        "print('done', flush=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    env.pop(faults.ENV_VAR, None)
    if plan is not None:
        env[faults.ENV_VAR] = plan
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_process_dies_at_the_kth_occurrence():
    done = _run(f"{POINT}:3")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["1", "2", "3"]
    assert f"fault injection: SIGKILL at {POINT} (occurrence 3)" in done.stderr


def test_without_the_variable_or_for_other_points_nothing_happens():
    assert _run(None).stdout.split()[-1] == "done"
    other = _run(f"{faults.POPULATE_RUN_RECORDED}:1")
    assert other.returncode == 0 and other.stdout.split()[-1] == "done"


def test_importing_needs_no_tensorflow():
    code = (
        "import sys\n"
        "from smart_control.reinforcement_learning.utils import faults\n"
        "assert 'tensorflow' not in sys.modules and 'reverb' not in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


@pytest.mark.parametrize(
    "value", ["nowhere:1", f"{POINT}:0", f"{POINT}:x", f"{POINT}", f"{POINT}:-1"]
)
def test_a_malformed_plan_is_refused_naming_the_variable(value):
    with pytest.raises(ValueError, match=faults.ENV_VAR):
        faults.parse(value)


def test_several_points_and_unknown_points(monkeypatch):
    assert faults.parse(f"{POINT}:2, {faults.POPULATE_RUN_RECORDED}:1") == {
        POINT: 2,
        faults.POPULATE_RUN_RECORDED: 1,
    }
    monkeypatch.delenv(faults.ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="unknown fault point"):
        faults.reached("buffer.checkpoint.adoptd")
