"""populate_starter_buffer as a real process: real building, Reverb and files."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from tf_agents.specs import tensor_spec

import smart_control
from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.policies.schedule_policy import (
    create_schedule_policy,
)
from smart_control.reinforcement_learning.replay_buffer import checkpoint_store
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)

PACKAGE_DIR = os.path.dirname(os.path.abspath(smart_control.__file__))
SCRIPTS_DIR = os.path.join(PACKAGE_DIR, "reinforcement_learning", "scripts")
MODULE = "smart_control.reinforcement_learning.scripts.populate_starter_buffer"


def _run(args, cwd=None, timeout=300, **extra_env):
    env = dict(os.environ, **extra_env)
    env.pop("PYTHONPATH", None)  # the package must come from the install
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _digest(path):
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(path)):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            digest.update(full.encode())
            with open(full, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def _state(buffer_dir):
    with open(os.path.join(buffer_dir, "populate.json")) as f:
        return json.load(f)


def _building_data_spec():
    env = create_building_environment(seed=0)
    policy = create_schedule_policy(env.time_step_spec(), env.action_spec())
    return tensor_spec.from_spec(policy.trajectory_spec)


@pytest.mark.slow
def test_the_guides_command_verbatim_fills_a_buffer_that_loads(tmp_path):
    # The guide runs `python scripts/...` from smart_control/reinforcement_learning/;
    # a `scripts` link in a scratch directory keeps the buffer out of the tree.
    os.symlink(SCRIPTS_DIR, tmp_path / "scripts")
    done = _run(
        [
            "scripts/populate_starter_buffer.py",
            "--buffer-name",
            "my-starter-buffer",
            "--capacity",
            "50000",
            "--steps-per-run",
            "672",
            "--num-runs",
            "10",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    buffer_dir = tmp_path / "starter_buffers" / "my-starter-buffer"
    assert "6710 frames, 10 episodes" in done.stdout
    assert str(buffer_dir) in done.stdout
    assert "[reverb/cc" not in done.stderr, "C++ log noise reached the terminal"
    assert (buffer_dir / "logs" / "native.log").stat().st_size > 0
    operative = (buffer_dir / "operative_config.gin").read_text()
    assert "ReplayBufferManager.capacity = 50000" in operative
    assert "populate_starter_buffer.num_runs = 10" in operative
    state = _state(buffer_dir)
    assert state["status"] == "complete"
    assert [run["run"] for run in state["runs"]] == list(range(10))

    with ReplayBufferManager(_building_data_spec(), 50000, buffer_dir) as manager:
        replay_buffer, _ = manager.load_replay_buffer()
        assert manager.num_frames() == 6710
        experience, _ = next(iter(manager.get_dataset(batch_size=32)))
        assert experience.observation.shape == (32, 2, 18)


@pytest.mark.slow
def test_resume_after_kill_repeats_no_run(tmp_path):
    args = [
        "-m",
        MODULE,
        "--steps_per_run=96",
        "--num_runs=6",
        "--seed=5",
        "--noprogress",
    ]
    reference = _run([*args, f"--root_dir={tmp_path / 'reference'}"])
    assert reference.returncode == 0, reference.stderr[-3000:]

    buffer_dir = tmp_path / "interrupted"
    # Killed right after run 2 is recorded (deterministic: no race with a
    # polling loop).
    killed = _run(
        [*args, f"--root_dir={buffer_dir}"],
        SMART_CONTROL_FAULT="populate.run.recorded:2",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    killed_after = len(_state(buffer_dir)["runs"])
    assert killed_after == 2

    refused = _run([*args, f"--root_dir={buffer_dir}"])
    assert refused.returncode == 1
    assert "already exists" in refused.stderr and "--resume" in refused.stderr

    resumed = _run([*args, f"--root_dir={buffer_dir}", "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"({6 - killed_after} this call)" in resumed.stdout
    state, expected = _state(buffer_dir), _state(tmp_path / "reference")
    assert [run["run"] for run in state["runs"]] == list(range(6))
    assert state["content_hash"] == expected["content_hash"]
    assert state["frames"] == expected["frames"] == 6 * 95


@pytest.mark.slow
def test_same_seed_same_contents_other_seed_other_contents(tmp_path):
    common = ["-m", MODULE, "--steps_per_run=48", "--num_runs=2", "--noprogress"]
    hashes = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        done = _run([*common, f"--seed={seed}", f"--root_dir={tmp_path / name}"])
        assert done.returncode == 0, done.stderr[-3000:]
        hashes.append(_state(tmp_path / name)["content_hash"])
    assert hashes[0] == hashes[1] != hashes[2]


@pytest.mark.slow
def test_overwrite_replaces_an_existing_buffer(tmp_path):
    common = [
        "-m",
        MODULE,
        "--steps_per_run=24",
        "--noprogress",
        f"--root_dir={tmp_path / 'b'}",
    ]
    assert _run([*common, "--num_runs=2"]).returncode == 0
    done = _run([*common, "--num_runs=1", "--overwrite"])
    assert done.returncode == 0, done.stderr[-3000:]
    state = _state(tmp_path / "b")
    assert len(state["runs"]) == 1 and state["frames"] == 23


@pytest.fixture(scope="module")
def existing_buffer(tmp_path_factory):
    buffer_dir = tmp_path_factory.mktemp("existing") / "buffer"
    done = _run(
        ["-m", MODULE, "--steps_per_run=24", "--num_runs=1", f"--root_dir={buffer_dir}"]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return buffer_dir


@pytest.mark.slow
@pytest.mark.timeout(600)  # 163 s under three test workers (stress run)
@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--bogus=1"], 2, "error: Unknown command line flag 'bogus'"),
        (["--num-runs=zero"], 2, "error: flag --num_runs=zero"),
        (["--gin_bindings=ReplayBufferManager.capasity = 5"], 1, "error: gin: "),
        (
            ["--gin_file=no/such/file.gin"],
            1,
            "error: gin file not found: no/such/file.gin",
        ),
        (["--capacity=0"], 1, "error: capacity must be an integer >= 1, got 0"),
        (
            ["--steps-per-run=-4"],
            1,
            "error: steps_per_run must be an integer >= 1, got -4",
        ),
    ],
)
def test_bad_input_gives_one_line_and_overwrites_nothing(
    tmp_path, existing_buffer, extra, code, message
):
    buffer_dir = tmp_path / "buffer"
    shutil.copytree(existing_buffer, buffer_dir, symlinks=True)
    before = _digest(buffer_dir)
    done = _run(
        [
            "-m",
            MODULE,
            f"--root_dir={buffer_dir}",
            "--overwrite",
            "--noprogress",
            *extra,
        ]
    )
    assert done.returncode == code
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(message), lines[0]
    assert _digest(buffer_dir) == before


def test_the_second_script_name_and_the_help(tmp_path):
    done = _run([os.path.join(SCRIPTS_DIR, "populate_replay_buffer.py"), "--help"])
    assert done.returncode == 0
    for flag in (
        "--buffer_name",
        "--capacity",
        "--steps_per_run",
        "--num_runs",
        "--resume",
        "--overwrite",
        "--gin_file",
        "--gin_bindings",
        "--root_dir",
        "--seed",
    ):
        assert flag in done.stdout


# -- crash safety and refusals (issue 15) ------------------------------------------


def _digest_without_lock(path):
    """The tree's digest, ignoring the lock file (its owner line changes)."""
    lock = os.path.join(path, checkpoint_store.LOCK_FILE)
    saved = None
    if os.path.exists(lock):
        with open(lock, "rb") as f:
            saved = f.read()
        os.remove(lock)
    try:
        return _digest(path)
    finally:
        if saved is not None:
            with open(lock, "wb") as f:
                f.write(saved)


def _one_error_line(done):
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-3000:]
    return lines[0]


@pytest.mark.slow
@pytest.mark.timeout(900)  # seven populate processes
def test_kill_sequences_and_a_damaged_newest_checkpoint_still_resume(tmp_path):
    """Issue 15.3's sequence: killed after a checkpoint is adopted (twice), then
    between the prune and the populate.json write. Retention must keep the
    checkpoint populate.json names, so the resume works and reproduces the
    content of an uninterrupted populate."""
    args = ["-m", MODULE, "--steps_per_run=24", "--num_runs=3", "--seed=7"]
    args.append("--noprogress")
    reference = _run([*args, f"--root_dir={tmp_path / 'reference'}"])
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = _state(tmp_path / "reference")

    buffer_dir = tmp_path / "interrupted"
    resume = [*args, f"--root_dir={buffer_dir}"]
    plans = [
        ("buffer.checkpoint.adopted:2", []),
        ("buffer.checkpoint.adopted:1", ["--resume"]),
        ("buffer.checkpoint.pruned:1", ["--resume"]),
    ]
    for plan, extra in plans:
        killed = _run([*resume, *extra], SMART_CONTROL_FAULT=plan)
        assert killed.returncode == -signal.SIGKILL, (plan, killed.stderr[-3000:])
        # populate.json still names run 0's checkpoint, which must survive.
        assert len(_state(buffer_dir)["runs"]) == 1
        named = _state(buffer_dir)["runs"][-1]["checkpoint"]
        assert (buffer_dir / "checkpoints" / named / "DONE").exists(), plan
    done = _run([*resume, "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(2 this call)" in done.stdout
    state = _state(buffer_dir)
    assert state["content_hash"] == expected["content_hash"]
    assert state["frames"] == expected["frames"]

    # The newest checkpoint loses its items (DONE kept): the resume notices,
    # falls back to run 1's checkpoint and collects run 2 again.
    newest = buffer_dir / "checkpoints" / state["runs"][-1]["checkpoint"]
    open(newest / "items.tfrecord", "wb").close()
    again = _run([*resume, "--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(1 this call)" in again.stdout
    assert _state(buffer_dir)["content_hash"] == expected["content_hash"]


@pytest.mark.slow
def test_overwrite_refuses_a_directory_another_process_holds(tmp_path, existing_buffer):
    buffer_dir = tmp_path / "buffer"
    shutil.copytree(existing_buffer, buffer_dir, symlinks=True)
    holder = checkpoint_store.CheckpointStore(buffer_dir)
    holder.acquire_lock()  # as a running reverb_server or populate would
    try:
        before = _digest(buffer_dir)
        done = _run(
            ["-m", MODULE, f"--root_dir={buffer_dir}", "--overwrite", "--noprogress"]
        )
        line = _one_error_line(done)
        assert line.startswith(f"error: replay buffer directory {buffer_dir} is in use")
        assert _digest(buffer_dir) == before
        resumed = _run(
            [
                "-m",
                MODULE,
                f"--root_dir={buffer_dir}",
                "--resume",
                "--steps_per_run=24",
                "--noprogress",
            ]
        )
        assert "is in use" in _one_error_line(resumed)
    finally:
        holder.release_lock()


@pytest.mark.slow
def test_overwrite_with_a_busy_port_deletes_nothing(tmp_path, existing_buffer):
    import socket

    buffer_dir = tmp_path / "buffer"
    shutil.copytree(existing_buffer, buffer_dir, symlinks=True)
    before = _digest_without_lock(buffer_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _run(
            [
                "-m",
                MODULE,
                f"--root_dir={buffer_dir}",
                "--overwrite",
                "--noprogress",
                # The port is busy in this namespace, not in a private one.
                "--network=shared",
                f"--gin_bindings=ReplayBufferManager.port = {port}",
            ]
        )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # The shared-network warning, then the one error line.
    assert done.returncode == 1 and len(lines) == 2, done.stderr[-3000:]
    assert lines[0].startswith("warning: --network=shared"), lines
    assert lines[1].startswith("error:") and f"port {port}" in lines[1], lines
    assert _digest_without_lock(buffer_dir) == before


@pytest.mark.slow
def test_resume_with_a_corrupt_populate_json_is_one_line(tmp_path, existing_buffer):
    buffer_dir = tmp_path / "buffer"
    shutil.copytree(existing_buffer, buffer_dir, symlinks=True)
    (buffer_dir / "populate.json").write_bytes(os.urandom(200))
    before = _digest(buffer_dir)
    done = _run(["-m", MODULE, f"--root_dir={buffer_dir}", "--resume", "--noprogress"])
    line = _one_error_line(done)
    assert str(buffer_dir / "populate.json") in line and "--overwrite" in line
    assert _digest(buffer_dir) == before
