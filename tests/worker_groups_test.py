"""`make test` runs on pytest-xdist workers, each module (and all Slurm tests) on one.

tests/conftest.py puts every test in an `xdist_group`; `--dist loadgroup` then
keeps a group on one worker, so module- and session-scoped fixtures are built
once. pytest 9.2 silently broke that grouping (pytest-xdist issue 1386: its
structured node IDs ignore the group suffix, and tests are dealt out one by
one), hence the pin in setup.cfg and this check on the real suite.
"""

import collections
import os
import re
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = (
    "tests/launchers/sweep_parsing_test.py",
    "tests/reinforcement_learning/utils/validation_test.py",
)


def test_each_module_runs_on_one_worker():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v"]
        + ["-n", "2", "--dist", "loadgroup", *MODULES],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers = collections.defaultdict(set)
    for worker, nodeid in re.findall(
        r"^\[(gw\d+)\] \[ *\d+%\] PASSED (.+?)\s*$", done.stdout, re.M
    ):
        workers[nodeid.split("::")[0]].add(worker)
        # The group xdist scheduled by: the module's path.
        assert nodeid.endswith("@" + nodeid.split("::")[0]), nodeid
    assert set(workers) == set(MODULES)
    assert all(len(w) == 1 for w in workers.values()), dict(workers)
