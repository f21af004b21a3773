"""train.py as a real process: resume after SIGKILL, starter buffers, errors."""

import json
import os
import signal
import subprocess
import sys

import pytest
from tf_agents.policies import random_py_policy
from tf_agents.train import actor
from tf_agents.train.utils import train_utils

from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)
from smart_control.reinforcement_learning.training import environments, run_dir
from smart_control.reinforcement_learning.utils.specs import collect_data_spec

REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
MODULE = "smart_control.reinforcement_learning.scripts.train"
# Pendulum with 50-step episodes, tiny networks and batches, no evaluation.
TINY = [
    "--gin_file=train/pendulum_sac.gin",
    "--gin_bindings=load_gym_environment.max_episode_steps = 50",
    "--gin_bindings=create_sac_agent.actor_fc_layers = (16,)",
    "--gin_bindings=create_sac_agent.critic_joint_fc_layers = (16,)",
    "--gin_bindings=TrainConfig.batch_size = 16",
    "--gin_bindings=TrainConfig.eval_interval = 0",
    "--gin_bindings=TrainConfig.policy_save_interval = 0",
    "--gin_bindings=TrainConfig.summary_interval = 100",
    "--gin_bindings=ReplayBufferManager.capacity = 2000",
]


def _command(*args):
    return [sys.executable, "-m", MODULE, *args]


def _env():
    return {**os.environ, "PYTHONPATH": REPO}


def _run(*args, timeout=240):
    return subprocess.run(
        _command(*args),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _files(root):
    """{relative path: (size, mtime)} of every file under root."""
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            stat = os.stat(path)
            found[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return found


def _write_buffer(path, env, steps, capacity=1000):
    """A replay buffer of `steps` random-policy steps of `env`."""
    manager = ReplayBufferManager(
        data_spec=collect_data_spec(env), capacity=capacity, checkpoint_dir=str(path)
    )
    _, observer = manager.create_replay_buffer()
    policy = random_py_policy.RandomPyPolicy(env.time_step_spec(), env.action_spec())
    actor.Actor(
        env,
        policy,
        train_utils.create_train_step(),
        steps_per_run=steps,
        observers=[observer],
    ).run()
    manager.checkpoint()
    frames = manager.num_frames()
    manager.close()
    return frames


def _one_error_line(completed):
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error: "), completed.stderr
    return lines[0]


def test_help_explains_every_flag():
    completed = _run("--help")
    assert completed.returncode == 0
    for flag in ("root_dir", "gin_file", "gin_bindings", "starter_buffer"):
        assert f"--{flag}: " in completed.stdout
    assert "resumes an interrupted run" in completed.stdout


@pytest.mark.slow
def test_bad_flag_and_gin_typo_give_one_line(tmp_path):
    root = tmp_path / "run"
    bad_flag = _run(f"--root_dir={root}", *TINY, "--num_steps=5")
    assert "num_steps" in _one_error_line(bad_flag)
    typo = _run(
        f"--root-dir={root}", *TINY, "--gin_bindings=TrainConfig.num_train_step = 5"
    )
    assert _one_error_line(typo).startswith("error: gin: ")
    assert typo.returncode == 1
    missing = _run(f"--root_dir={root}", *TINY, f"--starter_buffer={tmp_path / 'none'}")
    assert (
        _one_error_line(missing)
        == f"error: starter buffer not found: {tmp_path / 'none'}"
    )
    assert not root.exists()


@pytest.mark.slow
def test_starter_buffer_of_another_spec_overwrites_nothing(tmp_path):
    building = tmp_path / "building_buffer"
    _write_buffer(building, create_building_environment(seed=0), steps=20)
    root = tmp_path / "run"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    before = _files(root)
    completed = _run(f"--root_dir={root}", *TINY, f"--starter_buffer={building}")
    line = _one_error_line(completed)
    assert "does not fit this environment" in line
    assert "data_spec of this run" in line and "spec of the buffer" in line
    after = _files(root)
    assert {k: v for k, v in after.items() if k in before} == before
    # The buffer directory's lock, taken to read the starter buffer, at most.
    assert set(after) - set(before) <= {os.path.join("replay_buffer", ".lock")}


@pytest.mark.slow
def test_starter_buffer_run_then_rerun_does_nothing(tmp_path):
    starter = tmp_path / "starter"
    frames = _write_buffer(
        starter, environments.load_gym_environment("Pendulum-v1", seed=1), steps=150
    )
    assert frames == 149
    root = tmp_path / "run"
    command = [
        f"--root_dir={root}",
        *TINY,
        f"--starter_buffer={starter}",
        # Smaller than the starter buffer: its newest 100 items are loaded,
        # as asked for explicitly.
        "--gin_bindings=ReplayBufferManager.capacity = 100",
        "--gin_bindings=ReplayBufferManager.allow_shrink = True",
        "--gin_bindings=train_eval.initial_collect_steps = 100",
        "--gin_bindings=TrainConfig.num_train_steps = 50",
    ]
    completed = _run(*command)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"from starter buffer {starter} (100 frames)" in completed.stderr
    assert "Initial collection" not in completed.stderr
    assert "Done: 50 env steps, 50 train steps" in completed.stdout
    done = run_dir.read_done(str(root))
    assert (done["env_steps"], done["train_step"]) == (50, 50)
    assert done["replay_buffer_frames"] == 100
    # Gin wraps long lines with a backslash.
    operative = (root / "operative_config.gin").read_text().replace("\\\n", "")
    assert f"train_eval.starter_buffer = {str(starter)!r}" in " ".join(
        operative.split()
    )
    assert "ReplayBufferManager.capacity = 100" in operative
    assert (root / "logs" / "native.log").exists() and (
        root / "logs" / "train.log"
    ).exists()
    # The starter buffer itself is only read.
    assert run_dir.committed(str(root)).replay_buffer_checkpoint.startswith(
        "replay_buffer"
    )

    before = _files(root)
    again = _run(*command)
    assert again.returncode == 0
    assert "finished run" in again.stdout and "nothing to do" in again.stdout
    assert _files(root) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    [
        # Killed once the buffer checkpoint of the 2nd commit exists, before
        # its record: the 1st commit stands.
        "train.commit.buffer:2",
        # Killed between the record and the learner checkpoint: the record is
        # no commit; the 1st stands.
        "train.commit.record:2",
        # Killed right after the 2nd commit.
        "train.commit.done:2",
    ],
)
def test_killed_at_a_commit_resumes_from_the_last_one(tmp_path, fault):
    root = tmp_path / "run"
    command = [
        f"--root_dir={root}",
        *TINY,
        "--gin_bindings=train_eval.initial_collect_steps = 50",
        "--gin_bindings=TrainConfig.num_train_steps = 200",
        "--gin_bindings=TrainConfig.checkpoint_interval = 50",
        "--gin_bindings=ReplayBufferManager.num_checkpoints_to_keep = 1",
    ]
    killed = subprocess.run(
        _command(*command),
        cwd=REPO,
        env={**_env(), "SMART_CONTROL_FAULT": fault},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (root / run_dir.DONE_FILE).exists()
    commit = run_dir.committed(str(root))
    expected = 100 if fault.startswith("train.commit.done") else 50
    assert commit.train_step == expected
    # Retention kept the checkpoint the commit names, though it keeps only one.
    assert (root / commit.replay_buffer_checkpoint / "DONE").exists()

    resumed = _run(*command)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (
        f"from train step {commit.train_step:,} (env step {commit.env_steps:,}, "
        f"{commit.replay_buffer_frames:,} buffer frames)"
    ) in resumed.stderr
    assert "Initial collection" not in resumed.stderr
    done = json.loads((root / run_dir.DONE_FILE).read_text())
    assert done["train_step"] == 200
    # One env step per train step after the restart, from the commit's env
    # step on: no initial collection was repeated.
    assert done["env_steps"] == commit.env_steps + (200 - commit.train_step)
    assert "Resumed from train step" in resumed.stdout
