"""run_experiment --mode=distributed: real server, collector and trainer processes."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from smart_control.reinforcement_learning.replay_buffer import checkpoint_files

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLE = "experience"

TINY = """
include 'experiments/building_sac.gin'
SEED = 3
populate_starter_buffer.num_runs = 2
populate_starter_buffer.steps_per_run = 48
BuildingEnvironment.episode_days = 1
create_sac_agent.actor_fc_layers = (8,)
create_sac_agent.critic_joint_fc_layers = (8,)
ReplayBufferManager.capacity = 200000
TrainConfig.batch_size = 8
TrainConfig.eval_interval = 0
TrainConfig.summary_interval = 20
train_from_server.push_interval = 10
collect.weight_update_interval = 20
collect.summary_interval = 48
evaluation_set.episodes_per_season = 1
evaluation_set.episode_days = 1
"""


def _experiment(tmp_path, bindings):
    """The building experiment at tiny sizes, with `bindings` appended."""
    path = tmp_path / "distributed_experiment.gin"
    path.write_text(TINY + "\n".join(bindings) + "\n")
    return str(path)


def _env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _wait_for(condition, what, timeout_s=240, poll_s=0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _newest_checkpoint(buffer_dir):
    complete = [
        p
        for p in sorted(glob.glob(os.path.join(buffer_dir, "checkpoints", "ckpt-*")))
        if os.path.exists(os.path.join(p, "DONE"))
    ]
    return complete[-1] if complete else None


def _item_keys(checkpoint):
    return {item.key for item in checkpoint_files.read_items(checkpoint, TABLE)}


@pytest.mark.slow
@pytest.mark.timeout(900)  # 138 s in CI on two workers
def test_distributed_run_with_two_collectors_loses_nothing(tmp_path):
    experiment = _experiment(
        tmp_path,
        [
            "distributed/min_size_rate_limiter.min_size_to_sample = 50",
            "serve_replay_buffer.checkpoint_interval_s = 5.0",
            "TrainConfig.num_train_steps = 100",
            "TrainConfig.checkpoint_interval = 50",
            "TrainConfig.policy_save_interval = 50",
        ],
    )
    root = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "launchers.run_experiment",
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--mode=distributed",
            "--num_collectors=2",
        ],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    run = _json(root / "run.json")
    assert run["status"] == "complete" and run["mode"] == "distributed"
    train = run["stages"]["train"]
    assert train["status"] == "complete"
    processes = train["processes"]["processes"]
    assert sorted(processes) == ["collector-0", "collector-1", "server", "trainer"]
    assert train["processes"]["outcome"] == "success"
    for name, process in processes.items():
        assert process["restarts"] == 0, name
        assert process["exit_codes"] == [0], (name, process)

    # Every collector wrote, and acted with the trainer's weights in the end.
    collectors = train["collectors"]
    for name in ("collector-0", "collector-1"):
        assert collectors[name]["items_written"] > 0
        assert collectors[name]["policy_version"] is not None
        assert os.path.exists(
            root / "train" / "collect" / f"task_{name[-1]}" / "stats.json"
        )
    assert train["trainer"]["train_step"] == 100
    assert train["trainer"]["mode"] == "distributed"

    # Nothing lost: the server's final checkpoint holds the starter buffer
    # plus every item each collector wrote (the capacity is far larger).
    starter = _json(root / "starter_buffer.json")
    final = _newest_checkpoint(str(root / "train" / "replay_buffer"))
    written = sum(c["items_written"] for c in collectors.values())
    assert len(_item_keys(final)) == starter["frames"] + written

    # The single-process layout, plus the processes' logs.
    for relative in (
        "train/DONE",
        "train/policies/greedy_policy",
        "train/operative_config.gin",
        "train/replay_buffer/operative_config.gin",
        "eval_report/metrics.json",
        "logs/server.log",
        "logs/collector-0.log",
        "logs/collector-1.log",
        "logs/trainer.log",
    ):
        assert os.path.exists(root / relative), relative
    assert "[collector-1] Collector 1 stopped:" in done.stdout
    assert "[supervisor] done: success" in done.stdout
    assert "collector-0  restarts 0" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_server_and_collector_killed_mid_run_are_restarted(tmp_path):
    experiment = _experiment(
        tmp_path,
        [
            # Trains until stopped (tests/reinforcement_learning/distributed
            # covers the trainer waiting below the minimum size).
            "distributed/min_size_rate_limiter.min_size_to_sample = 200",
            "train_from_server.stall_log_interval_s = 5.0",
            "TrainConfig.num_train_steps = 10000000",
            "TrainConfig.checkpoint_interval = 0",
            "TrainConfig.policy_save_interval = 0",
            "serve_replay_buffer.checkpoint_interval_s = 2.0",
        ],
    )
    root = tmp_path / "run"
    buffer_dir = str(root / "train" / "replay_buffer")
    out = open(tmp_path / "launcher.out", "w")
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "launchers.run_experiment",
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--mode=distributed",
            "--num_collectors=2",
            "--stages=train",
        ],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def processes():
        run = _json(root / "run.json") or {}
        return (run.get("stages", {}).get("train", {}).get("processes") or {}).get(
            "processes", {}
        )

    def stats(task):
        return _json(root / "train" / "collect" / f"task_{task}" / "stats.json") or {}

    try:
        _wait_for(
            lambda: "train 10/" in _read(root / "logs" / "trainer.log"), "training"
        )
        _wait_for(lambda: stats(0).get("items_written", 0) > 0, "collector items")
        checkpoint = _wait_for(
            lambda: (c := _newest_checkpoint(buffer_dir)) and _item_keys(c) and c,
            "a server checkpoint holding items",
        )

        # Kill the server: the checkpointed items must survive its restart.
        server_pid = processes()["server"]["pid"]
        os.kill(server_pid, signal.SIGKILL)
        checkpoint = _newest_checkpoint(buffer_dir)
        keys_before_kill = _item_keys(checkpoint)
        items_at_kill = [stats(t).get("items_written", 0) for t in (0, 1)]
        _wait_for(
            lambda: (
                processes()["server"]["restarts"] == 1
                and processes()["server"]["status"] == "running"
            ),
            "the server's restart",
        )
        new_server = _wait_for(
            lambda: (
                (info := _json(os.path.join(buffer_dir, "server.json")))
                and info["pid"] != server_pid
                and info
            ),
            "the restarted server's server.json",
        )
        assert new_server["restored_frames"] >= len(keys_before_kill)
        # Both collectors noticed the outage and write again.
        for task in (0, 1):
            _wait_for(
                lambda t=task: (
                    stats(t).get("replay_server_outages", 0) >= 1
                    and stats(t).get("items_written", 0) > items_at_kill[t] + 100
                ),
                f"collector {task} writing after the server restart",
            )

        # Kill a collector: the launcher restarts it, and it continues.
        os.kill(processes()["collector-1"]["pid"], signal.SIGKILL)
        _wait_for(
            lambda: processes()["collector-1"]["restarts"] == 1, "collector restart"
        )
        _wait_for(lambda: stats(1).get("starts") == 2, "the restarted collector")
    finally:
        # Ctrl-C / SIGTERM: collectors and trainer stop, then the server
        # checkpoints a last time.
        os.kill(launcher.pid, signal.SIGTERM)
        try:
            launcher.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            raise
        out.close()
    output = _read(tmp_path / "launcher.out")
    assert launcher.returncode != 0, output[-3000:]
    run = _json(root / "run.json")
    assert run["status"] == "interrupted"
    final_processes = run["stages"]["train"]["processes"]["processes"]
    # The trainer blocked through the outage instead of crashing.
    assert final_processes["trainer"]["restarts"] == 0, output[-3000:]
    assert final_processes["server"]["restarts"] == 1
    assert final_processes["collector-1"]["restarts"] == 1
    assert final_processes["server"]["exit_codes"] == [-9, 0]
    # Stopped by SIGTERM, the trainer committed its learner checkpoint first.
    assert glob.glob(str(root / "train" / "train" / "checkpoints" / "ckpt-*.index"))
    assert "Interrupted: committing" in _read(root / "logs" / "trainer.log")
    final_keys = _item_keys(_newest_checkpoint(buffer_dir))
    assert keys_before_kill <= final_keys
    assert len(final_keys) > len(keys_before_kill)
    assert "collector-1 exited with signal SIGKILL" in output
