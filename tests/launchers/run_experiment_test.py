"""launchers.run_experiment and launchers.sweep end to end on tiny settings."""

import csv
import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.launchers.launch_testing import REPO_ROOT, launch, read_json

# Every test runs the launchers end to end in subprocesses (minutes each).
pytestmark = pytest.mark.slow


TINY_EXPERIMENT = """
include 'experiments/building_sac.gin'
SEED = 3
populate_starter_buffer.num_runs = 2
populate_starter_buffer.steps_per_run = 48
BuildingEnvironment.episode_days = 1
TrainConfig.num_train_steps = 120
TrainConfig.batch_size = 8
TrainConfig.eval_interval = 0
TrainConfig.checkpoint_interval = 60
TrainConfig.policy_save_interval = 60
TrainConfig.summary_interval = 20
train_eval.initial_collect_steps = 0
ReplayBufferManager.capacity = 1000
create_sac_agent.actor_fc_layers = (8,)
create_sac_agent.critic_joint_fc_layers = (8,)
evaluation_set.episodes_per_season = 1
evaluation_set.episode_days = 1
"""


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "tiny_experiment.gin"
    path.write_text(TINY_EXPERIMENT)
    return str(path)


def test_run_experiment_end_to_end_then_nothing_to_do(tmp_path, experiment):
    root = tmp_path / "run"
    done = launch(
        "launchers.run_experiment", [f"--gin_file={experiment}", f"--root_dir={root}"]
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = read_json(root / "run.json")
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
        "network",
    ):
        assert key in run
    assert run["seed"] == 3
    assert run["versions"]["dm-reverb"] == "0.14.0"
    assert run["network"]["network"] == "isolated"
    assert "SEED = 3" in (root / "experiment.gin").read_text()
    assert (root / "train" / "DONE").exists()
    assert (root / "train" / "operative_config.gin").exists()
    metrics = read_json(root / "eval_report" / "metrics.json")
    assert set(metrics["results"]) == {"policy", "baseline"}
    assert metrics["baseline"] == "schedule"
    assert set(metrics["results"]["policy"]["seasons"]) == {
        "winter",
        "spring",
        "summer",
        "autumn",
    }
    starter = read_json(root / "starter_buffer.json")
    assert starter["frames"] == 2 * 47

    again = launch(
        "launchers.run_experiment", [f"--gin_file={experiment}", f"--root_dir={root}"]
    )
    assert again.returncode == 0
    assert "already complete" in again.stdout


def test_same_config_and_seed_reproduce_buffer_and_baseline(tmp_path, experiment):
    runs = []
    for name in ("a", "b"):
        root = tmp_path / name
        done = launch(
            "launchers.run_experiment",
            [
                f"--gin_file={experiment}",
                f"--root_dir={root}",
                "--stages=populate,eval",
                "--gin_bindings=comparison_baseline.compare_with_schedule = False",
            ],
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(root)
    hashes = [read_json(r / "starter_buffer.json")["content_hash"] for r in runs]
    assert hashes[0] == hashes[1]
    evals = [read_json(r / "eval_report" / "metrics.json")["results"] for r in runs]
    assert evals[0] == evals[1]


def _operative(path):
    """An operative config file with gin's line continuations joined."""
    return " ".join(path.read_text().replace("\\\n", "").split())


def test_a_launcher_binding_reaches_every_stage_that_has_its_configurable(
    tmp_path, experiment
):
    root = tmp_path / "run"
    done = launch(
        "launchers.run_experiment",
        [
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--gin_bindings=reward_function.comfort_weight = 0.3",
            "--gin_bindings=create_sac_agent.actor_learning_rate = 0.002",
        ],
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    populate = _operative(root / "starter_buffer" / "operative_config.gin")
    train = _operative(root / "train" / "operative_config.gin")
    evaluation = _operative(root / "eval_report" / "operative_config.gin")
    # The building's reward: populate (in its gin scope), train and eval.
    assert "populate/reward_function.comfort_weight = 0.3" in populate
    assert "reward_function.comfort_weight = 0.3" in train
    assert "reward_function.comfort_weight = 0.3" in evaluation
    # The agent: only train builds one.
    assert "create_sac_agent.actor_learning_rate = 0.002" in train
    assert "create_sac_agent" not in populate and "create_sac_agent" not in evaluation
    # The experiment's own settings reached every stage too (one-day episodes).
    assert "populate/BuildingEnvironment.episode_days = 1" in populate
    # The eval stage's episodes are the evaluation set's (it passes their
    # length to the environment, so BuildingEnvironment.episode_days is unused).
    assert "evaluation_set.episode_days = 1" in evaluation
    assert read_json(root / "run.json")["gin_bindings"] == [
        "reward_function.comfort_weight = 0.3",
        "create_sac_agent.actor_learning_rate = 0.002",
    ]


def test_bad_input_is_one_line(tmp_path, experiment):
    typo = launch(
        "launchers.run_experiment",
        [
            f"--gin_file={experiment}",
            f"--root_dir={tmp_path / 't'}",
            "--gin_bindings=BuildingEnvironment.episode_dayz = 1",
        ],
    )
    assert typo.returncode == 1
    lines = typo.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: gin: "), typo.stderr
    assert "episode_dayz" in lines[0]
    assert not (tmp_path / "t").exists()  # nothing started, nothing written
    missing = launch(
        "launchers.run_experiment",
        ["--gin_file=experiments/nope.gin", f"--root_dir={tmp_path / 'r'}"],
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith(
        "error: gin file not found: experiments/nope.gin"
    )
    bad_stage = launch(
        "launchers.run_experiment",
        [f"--gin_file={experiment}", f"--root_dir={tmp_path / 'r'}", "--stages=fly"],
    )
    assert bad_stage.returncode == 1 and "unknown stage" in bad_stage.stderr
    bad_sweep = launch(
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
    bad_point = launch(
        "launchers.sweep",
        [
            f"--gin_file={experiment}",
            f"--root_dir={tmp_path / 's2'}",
            "--sweep=BuildingEnvironment.episode_days=[1, 0]",
        ],
    )
    assert bad_point.returncode == 1
    line = bad_point.stderr.strip()
    assert line.startswith("error: point p001") and "episode_days" in line, line
    assert not (tmp_path / "s2").exists()  # every point is checked first


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


@pytest.mark.timeout(1500)  # its own waits: 300 s to the kill, 900 s to resume
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
    run = read_json(root / "points" / "p000" / "run.json")
    assert run["status"] != "complete"

    resumed = launch("launchers.sweep", args, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    with open(root / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["ReplayBufferManager.capacity"] for r in rows] == ["500", "1000"]
    assert all(r["status"] == "complete" and r["policy/return/mean"] for r in rows)
    assert (root / "return.png").stat().st_size > 0
    assert "Best:" in (root / "summary.md").read_text()
    # Both points trained from the one shared starter buffer.
    caches = os.listdir(root / "starter_buffers")
    assert len(caches) == 1
    for point in ("p000", "p001"):
        used = read_json(root / "points" / point / "starter_buffer.json")["path"]
        assert used == str(root / "starter_buffers" / caches[0])
        train_config = (
            root / "points" / point / "train" / "operative_config.gin"
        ).read_text()
        assert (
            f"ReplayBufferManager.capacity = {500 if point == 'p000' else 1000}"
            in train_config
        )

    again = launch("launchers.sweep", args)
    assert again.returncode == 0
    assert "2 already complete, 0 to run" in again.stdout


@pytest.mark.timeout(900)  # 124 s in CI on two workers; its launch waits 900 s
def test_sweep_over_the_building_populates_and_evaluates_each_building(
    tmp_path, experiment
):
    root = tmp_path / "sweep"
    done = launch(
        "launchers.sweep",
        [
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--max_parallel=2",
            "--gin_bindings=TrainConfig.num_train_steps = 20",
            "--gin_bindings=TrainConfig.checkpoint_interval = 0",
            "--gin_bindings=TrainConfig.policy_save_interval = 0",
            # A launcher setting: the sweep's own executor takes it (README).
            "--gin_bindings=LocalExecutor.kill_grace_s = 3.0",
            "--sweep=BuildingEnvironment.time_step_s=[900, 1800]",
        ],
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sweep = read_json(root / "sweep.json")
    assert sweep["executor"] == {
        "type": "LocalExecutor",
        "max_parallel": 2,
        "kill_grace_s": 3.0,
    }
    keys = sweep["populate_keys"]
    assert keys["p000"] != keys["p001"]
    assert sorted(os.listdir(root / "starter_buffers")) == sorted(keys.values())
    for point, step_s in (("p000", 900), ("p001", 1800)):
        point_dir = root / "points" / point
        assert (
            read_json(point_dir / "starter_buffer.json")["populate_key"] == keys[point]
        )
        populate = _operative(
            point_dir
            / ".."
            / ".."
            / "starter_buffers"
            / keys[point]
            / "operative_config.gin"
        )
        assert f"populate/BuildingEnvironment.time_step_s = {step_s}" in populate
        evaluation = _operative(point_dir / "eval_report" / "operative_config.gin")
        assert f"BuildingEnvironment.time_step_s = {step_s}" in evaluation
        metrics = read_json(point_dir / "eval_report" / "metrics.json")
        # One-day evaluation episodes of 15- or 30-minute steps.
        for role in ("policy", "baseline"):
            episodes = metrics["results"][role]["episodes"]
            assert {e["length"] for e in episodes} == {86400 // step_s}


@pytest.mark.slurm
@pytest.mark.timeout(900)  # 146 s in CI; its sweep waits 900 s
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
            "--gin_bindings=SlurmExecutor.job_name = 'sc_sweep_test'",
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
    assert all(r["policy/return/mean"] for r in rows)
    assert len(os.listdir(root / "starter_buffers")) == 1
    # submitit's own files (sbatch script, task results) are kept beside the sweep.
    assert any(
        name.endswith(".out") or name.endswith(".pkl")
        for name in _walk_names(root / "slurm")
    )
    # What was submitted: the flag (memory) and the bindings (job name, poll
    # interval) took effect, the rest are SlurmExecutor's defaults, as --help
    # shows them; sweep.json records the operative values.
    scripts = [
        (root / "slurm" / name).read_text()
        for name in os.listdir(root / "slurm")
        if name.endswith("_submission.sh")
    ]
    points_script = next(s for s in scripts if "--array" in s)
    assert "#SBATCH --mem=2GB" in points_script
    assert "#SBATCH --job-name=sc_sweep_test" in points_script
    assert "#SBATCH --cpus-per-task=2" in points_script
    assert "#SBATCH --time=1440" in points_script
    executor = read_json(root / "sweep.json")["executor"]
    assert executor["type"] == "SlurmExecutor"
    assert (executor["mem_gb"], executor["poll_interval_s"]) == (2.0, 1.0)
    assert executor["job_name"] == "sc_sweep_test"


def _walk_names(path):
    for _, _, files in os.walk(path):
        yield from files
