"""collect.py and train.py refuse bad distributed flags with one line."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
COLLECT = "smart_control.reinforcement_learning.scripts.collect"
TRAIN = "smart_control.reinforcement_learning.scripts.train"


def _run(module, *args):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "module, args, error",
    [
        (
            COLLECT,
            ["--replay_buffer_server_address=localhost:8000"],
            "error: --gin_file is required, e.g. --gin_file=experiments/quickstart.gin",
        ),
        (
            COLLECT,
            ["--gin_file=experiments/quickstart.gin"],
            "error: --replay_buffer_server_address ",
        ),
        (
            COLLECT,
            [
                "--gin_file=experiments/quickstart.gin",
                "--replay_buffer_server_address=localhost",
            ],
            "error: --replay_buffer_server_address must be host:port, got 'localhost'",
        ),
        (
            COLLECT,
            [
                "--gin_file=experiments/quickstart.gin",
                "--replay_buffer_server_address=localhost:8000",
                "--variable_container_server_address=localhost:port",
            ],
            "error: --variable_container_server_address must be host:port, "
            "got 'localhost:port'",
        ),
        (
            TRAIN,
            [
                "--gin_file=experiments/quickstart.gin",
                "--variable_container_server_address=localhost:8001",
            ],
            "error: --variable_container_server_address needs "
            "--replay_buffer_server_address",
        ),
        (
            TRAIN,
            [
                "--gin_file=experiments/quickstart.gin",
                "--replay_buffer_server_address=localhost:8000",
                "--starter_buffer=runs/starter_buffer",
            ],
            "error: --starter_buffer is the server's in distributed mode "
            "(reverb_server --starter_buffer)",
        ),
    ],
    ids=[
        "collect-without-gin-file",
        "collect-without-replay-address",
        "collect-malformed-replay-address",
        "collect-malformed-weights-address",
        "train-weights-without-replay-address",
        "train-starter-buffer-with-replay-address",
    ],
)
def test_one_line_errors(module, args, error, tmp_path):
    root = tmp_path / "run"
    done = _run(module, f"--root_dir={root}", *args)
    assert done.returncode == 1, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    if error.endswith(" "):  # the wording for a missing flag may change
        assert lines[0].startswith(error)
    else:
        assert lines == [error]
    assert done.stdout == ""
    assert not root.exists()  # refused before anything was written
