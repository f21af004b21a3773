"""Running a launcher as a user does, for the end-to-end launcher tests."""

import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def launch(module, args, timeout=600):
    """Runs `python -m <module> <args>` from the repository root, output captured.

    PYTHONPATH is dropped, so the installed package is what runs.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_json(path):
    with open(path) as f:
        return json.load(f)
