"""launchers.run_experiment and launchers.sweep end to end on tiny settings."""

import csv
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY_EXPERIMENT = """
run_experiment.seed = 3
run_experiment.populate_gin_files = ['populate/starter_buffer.gin']
run_experiment.populate_bindings = [
    'populate_starter_buffer.num_runs = 2',
    'populate_starter_buffer.steps_per_run = 48',
    'BuildingEnvironment.episode_days = 1',
]
run_experiment.train_gin_files = ['train/building_sac.gin']
run_experiment.train_bindings = [
    'BuildingEnvironment.episode_days = 1',
    'train_eval.num_env_steps = 120',
    'train_eval.initial_collect_steps = 0',
    'train_eval.batch_size = 8',
    'train_eval.eval_interval = 0',
    'train_eval.checkpoint_interval = 60',
    'train_eval.policy_save_interval = 60',
    'train_eval.summary_interval = 20',
    'ReplayBufferManager.capacity = 1000',
    'create_sac_agent.actor_fc_layers = (8,)',
    'create_sac_agent.critic_joint_fc_layers = (8,)',
]
run_experiment.eval_gin_files = ['eval/building.gin']
run_experiment.eval_bindings = [
    'BuildingEnvironment.episode_days = 1',
    'evaluate.num_episodes = 1',
]
"""


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "tiny_experiment.gin"
    path.write_text(TINY_EXPERIMENT)
    return str(path)


def _launch(module, args, timeout=600):
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


def _json(path):
    with open(path) as f:
        return json.load(f)


def test_run_experiment_end_to_end_then_nothing_to_do(tmp_path, experiment):
    root = tmp_path / "run"
    done = _launch(
        "launchers.run_experiment", [f"--gin_file={experiment}", f"--root_dir={root}"]
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = _json(root / "run.json")
    assert run["status"] == "complete"
    assert [run["stages"][s]["status"] for s in ("populate", "train", "eval")] == [
        "complete"
    ] * 3
    for key in (
        "command",
        "seed",
        "versions",
        "host",
        "started_at",
        "ended_at",
        "reproducibility",
    ):
        assert key in run
    assert run["versions"]["dm-reverb"] == "0.14.0"
    assert (root / "experiment.gin").read_text().count("run_experiment.seed = 3")
    assert (root / "train" / "DONE").exists()
    assert (root / "train" / "operative_config.gin").exists()
    metrics = _json(root / "eval_report" / "metrics.json")
    assert set(metrics["results"]) == {"policy", "schedule"}
    starter = _json(root / "starter_buffer.json")
    assert starter["frames"] == 2 * 47

    again = _launch(
        "launchers.run_experiment", [f"--gin_file={experiment}", f"--root_dir={root}"]
    )
    assert again.returncode == 0
    assert "already complete" in again.stdout


def test_same_config_and_seed_reproduce_buffer_and_baseline(tmp_path, experiment):
    runs = []
    for name in ("a", "b"):
        root = tmp_path / name
        done = _launch(
            "launchers.run_experiment",
            [
                f"--gin_file={experiment}",
                f"--root_dir={root}",
                "--stages=populate,eval",
                "--gin_bindings=evaluate.compare_with_schedule = False",
            ],
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(root)
    hashes = [_json(r / "starter_buffer.json")["content_hash"] for r in runs]
    assert hashes[0] == hashes[1]
    evals = [_json(r / "eval_report" / "metrics.json")["results"] for r in runs]
    assert evals[0] == evals[1]


def test_bad_input_is_one_line(tmp_path, experiment):
    missing = _launch(
        "launchers.run_experiment",
        ["--gin_file=experiments/nope.gin", f"--root_dir={tmp_path / 'r'}"],
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith(
        "error: gin file not found: experiments/nope.gin"
    )
    bad_stage = _launch(
        "launchers.run_experiment",
        [f"--gin_file={experiment}", f"--root_dir={tmp_path / 'r'}", "--stages=fly"],
    )
    assert bad_stage.returncode == 1 and "unknown stage" in bad_stage.stderr
    bad_sweep = _launch(
        "launchers.sweep",
        [
            f"--gin_file={experiment}",
            f"--root_dir={tmp_path / 's'}",
            "--sweep=ReplayBufferManager.capacity=12",
        ],
    )
    assert bad_sweep.returncode == 1
    assert (
        bad_sweep.stderr.strip()
        == "error: --sweep values must be a non-empty list, got '12'"
    )


def _wait_until_unlocked(lock_path, timeout_s=120):
    """Until no process (an orphaned trainer, say) holds the buffer's lock."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if not lock_path.exists():
            time.sleep(0.2)
            continue
        with open(lock_path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return
            except OSError:
                time.sleep(0.2)
    raise AssertionError(
        f"{lock_path} is still locked: a job outlived the killed sweep"
    )


def test_two_point_sweep_killed_and_resumed(tmp_path, experiment):
    root = tmp_path / "sweep"
    args = [
        f"--gin_file={experiment}",
        f"--root_dir={root}",
        "--max_parallel=1",
        "--sweep=ReplayBufferManager.capacity=[500, 1000]",
    ]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "launchers.sweep", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Kill the whole process group once the first point is training.
    deadline = time.time() + 300
    first_train = root / "points" / "p000" / "train"
    while time.time() < deadline and not (first_train / "train").exists():
        time.sleep(0.2)
    # A hard kill: the sweep cannot clean up; its jobs must die with it.
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert first_train.exists(), "the sweep never reached the first point's training"
    _wait_until_unlocked(first_train / "replay_buffer" / ".lock")
    assert not (root / "results.csv").exists()
    run = _json(root / "points" / "p000" / "run.json")
    assert run["status"] != "complete"

    resumed = _launch("launchers.sweep", args, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    with open(root / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["ReplayBufferManager.capacity"] for r in rows] == ["500", "1000"]
    assert all(r["status"] == "complete" and r["return"] for r in rows)
    assert (root / "return.png").stat().st_size > 0
    assert "Best:" in (root / "summary.md").read_text()
    # Both points trained from the one shared starter buffer.
    caches = os.listdir(root / "starter_buffers")
    assert len(caches) == 1
    for point in ("p000", "p001"):
        used = _json(root / "points" / point / "starter_buffer.json")["path"]
        assert used == str(root / "starter_buffers" / caches[0])
        train_config = (
            root / "points" / point / "train" / "operative_config.gin"
        ).read_text()
        assert (
            f"ReplayBufferManager.capacity = {500 if point == 'p000' else 1000}"
            in train_config
        )

    again = _launch("launchers.sweep", args)
    assert again.returncode == 0
    assert "2 already complete, 0 to run" in again.stdout


def test_two_point_sweep_on_slurm(tmp_path, experiment, slurm_cluster):
    root = tmp_path / "slurm_sweep"
    env = dict(os.environ, **slurm_cluster.env)
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "launchers.sweep",
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--executor=slurm",
            f"--slurm_partition={slurm_cluster.partition}",
            "--slurm_mem_gb=2",
            "--gin_bindings=SlurmExecutor.poll_interval_s = 1.0",
            "--sweep=ReplayBufferManager.capacity=[500, 1000]",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        done.stdout[-3000:] + done.stderr[-3000:] + slurm_cluster.logs()
    )
    with open(root / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["ReplayBufferManager.capacity"], r["status"]) for r in rows] == [
        ("500", "complete"),
        ("1000", "complete"),
    ]
    assert all(r["return"] for r in rows)
    assert len(os.listdir(root / "starter_buffers")) == 1
    # submitit's own files (sbatch script, task results) are kept beside the sweep.
    assert any(
        name.endswith(".out") or name.endswith(".pkl")
        for name in _walk_names(root / "slurm")
    )


def _walk_names(path):
    for _, _, files in os.walk(path):
        yield from files
