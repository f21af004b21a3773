"""run_experiment --mode=distributed --executor=slurm on a real multi-node Slurm.

The three-node test cluster (slurm_cluster.py: three slurmd, each in its own
network namespace with its own hostname on a private bridge) runs the real
binaries: the Reverb server on node1, the collectors on node2 and the trainer
on node3 (node features pin them), so collectors and trainer reach the
server over the bridge, not over loopback.
"""

import glob
import json
import os
import re
import subprocess
import sys
import time

import pytest

from smart_control.reinforcement_learning.replay_buffer import checkpoint_files
from smart_control.reinforcement_learning.training import run_dir

# Four TensorFlow processes share the machine's two cores with the populate
# and eval stages: minutes, more under load.
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(1800)]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLE = "experience"
TINY = """
include 'experiments/building_sac.gin'
SEED = 5
populate_starter_buffer.num_runs = 2
populate_starter_buffer.steps_per_run = 48
BuildingEnvironment.episode_days = 1
create_sac_agent.actor_fc_layers = (8,)
create_sac_agent.critic_joint_fc_layers = (8,)
ReplayBufferManager.capacity = 200000
TrainConfig.batch_size = 8
TrainConfig.eval_interval = 0
TrainConfig.summary_interval = 20
TrainConfig.checkpoint_interval = 50
TrainConfig.policy_save_interval = 0
distributed/min_size_rate_limiter.min_size_to_sample = 50
serve_replay_buffer.checkpoint_interval_s = 5.0
train_from_server.push_interval = 10
collect.weight_update_interval = 20
collect.summary_interval = 48
evaluation_set.episodes_per_season = 1
evaluation_set.episode_days = 1
# Where each role runs (the test cluster's nodes have a feature each), and
# resources that fit its 4-CPU, 4 GB nodes.
server/RoleResources.constraint = 'node1'
collector/RoleResources.constraint = 'node2'
trainer/RoleResources.constraint = 'node3'
server/RoleResources.cpus = 1
server/RoleResources.mem_mb = 1024
collector/RoleResources.mem_mb = 1024
trainer/RoleResources.cpus = 1
trainer/RoleResources.mem_mb = 2048
server/RestartPolicy.stop_timeout_s = 60.0
RestartPolicy.backoff_s = 1.0
SlurmJobSettings.time_limit_min = 30
SlurmJobSettings.signal_before_end_s = 120
SlurmJobSettings.server_ready_timeout_s = 300.0
"""


def _experiment(tmp_path, *lines):
    path = tmp_path / "experiment.gin"
    path.write_text(TINY + "\n".join(lines) + "\n")
    return str(path)


def _env(cluster):
    env = dict(os.environ, **cluster.env)
    env.pop("PYTHONPATH", None)
    return env


def _json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _checkpoints(buffer_dir):
    return [
        p
        for p in sorted(glob.glob(os.path.join(buffer_dir, "checkpoints", "ckpt-*")))
        if os.path.exists(os.path.join(p, "DONE"))
    ]


def _item_keys(checkpoint):
    return {item.key for item in checkpoint_files.read_items(checkpoint, TABLE)}


def _steps_by_name(train_stage):
    """{step name: [node, ...]} of the Slurm job's role steps, over every run."""
    nodes = {}
    for step in train_stage["slurm"]["steps"]:
        if step["name"] in ("server", "trainer") or step["name"].startswith(
            "collector-"
        ):
            nodes.setdefault(step["name"], set()).add(step["nodes"])
    return nodes


def _launch(args, cluster, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        env=_env(cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_preempted_run_requeues_and_resumes_without_losing_checkpointed_items(
    slurm_multinode, tmp_path
):
    experiment = _experiment(
        tmp_path,
        "TrainConfig.num_train_steps = 1500",
        "collector/RoleResources.constraint = 'node2'",
    )
    root = tmp_path / "run"
    buffer_dir = str(root / "train" / "replay_buffer")
    process = _launch(
        [
            "launchers.run_experiment",
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--mode=distributed",
            "--executor=slurm",
            "--num_collectors=1",
        ],
        slurm_multinode,
    )
    try:
        deadline = time.monotonic() + 600
        job_id = checkpoint = None
        while time.monotonic() < deadline and process.poll() is None:
            run = _json(root / "run.json") or {}
            job_id = run.get("stages", {}).get("train", {}).get("slurm_job")
            try:
                commit = run_dir.committed(str(root / "train"))
            except run_dir.RunDirError:
                commit = None  # being written
            done = _checkpoints(buffer_dir)
            if job_id and commit and done and _item_keys(done[-1]):
                checkpoint = done[-1]
                break
            time.sleep(1)
        assert checkpoint, "the run never committed with a checkpointed buffer"
        keys_before = _item_keys(checkpoint)
        committed_before = commit.train_step
        # Preemption as a cluster announces it: a signal to the batch script.
        subprocess.run(
            ["scancel", "--batch", "--signal=USR1", job_id],
            env=_env(slurm_multinode),
            check=True,
        )
        output, _ = process.communicate(timeout=1500)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-5000:] + slurm_multinode.logs()
    train = _json(root / "run.json")["stages"]["train"]
    assert train["slurm"]["state"] == "COMPLETED"
    assert train["slurm"]["requeues"] >= 1
    assert train["trainer"]["train_step"] == 1500
    trainer_log = (root / "logs" / "trainer.log").read_text()
    # From its last commit (at least the one seen before the preemption), not
    # from zero.
    resumed = re.search(r"Resuming \w+ in .* at train step ([\d,]+)", trainer_log)
    assert resumed and int(resumed.group(1).replace(",", "")) >= committed_before
    final_keys = _item_keys(_checkpoints(buffer_dir)[-1])
    assert keys_before <= final_keys and len(final_keys) > len(keys_before)


def _assert_point_lost_nothing(point_dir, capacity):
    """One sweep point's distributed run: placed where asked, nothing lost."""
    run = _json(point_dir / "run.json")
    assert run["status"] == "complete" and run["executor"] == "slurm"
    assert run["network"]["network"] == "shared"
    train = run["stages"]["train"]
    assert train["slurm"]["state"] == "COMPLETED"
    # Placed by Slurm on the nodes the roles asked for.
    assert _steps_by_name(train) == {
        "server": {"node1"},
        "collector-0": {"node2"},
        "collector-1": {"node2"},
        "trainer": {"node3"},
    }
    # The collectors found the server from the allocation: node1, by name (its
    # address on the bridge; every node has its own network namespace).
    for task in (0, 1):
        log = (point_dir / "logs" / f"collector-{task}.log").read_text()
        assert f"Collector {task}: writing to node1:" in log
    collectors = train["collectors"]
    written = sum(c["items_written"] for c in collectors.values())
    assert all(c["items_written"] > 0 for c in collectors.values())
    assert train["trainer"]["train_step"] == 40
    # Nothing lost: the server's final checkpoint holds the starter buffer
    # and every item the collectors on node2 wrote.
    starter = _json(point_dir / "starter_buffer.json")
    expected = starter["frames"] + written
    assert expected <= capacity, "the point's capacity is too small to check"
    final = _checkpoints(str(point_dir / "train" / "replay_buffer"))[-1]
    assert len(_item_keys(final)) == expected
    # The sweep's value reached the server process of this point.
    server_config = (
        point_dir / "train" / "replay_buffer" / "operative_config.gin"
    ).read_text()
    assert f"ReplayBufferManager.capacity = {capacity}" in server_config
    # The point's output (the sweep keeps it) shows the job's steps (sacct).
    output = (point_dir.parent.parent / "logs" / f"{point_dir.name}.log").read_text()
    assert "server" in output and "node1" in output
    return train["slurm_job"]


def test_two_point_sweep_of_distributed_runs_loses_nothing(slurm_multinode, tmp_path):
    # Two collectors on node2 per point, two points at once: eight processes
    # on three nodes.
    experiment = _experiment(tmp_path, "TrainConfig.num_train_steps = 40")
    root = tmp_path / "sweep"
    process = _launch(
        [
            "launchers.sweep",
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--mode=distributed",
            "--executor=slurm",
            "--max_parallel=2",
            "--gin_bindings=DistributedTopology.num_collectors = 2",
            # Both far above what the collectors write while the trainer takes
            # its 40 steps (41,000 items at most so far, on a loaded machine),
            # so that nothing is evicted and every item can be counted.
            "--sweep=ReplayBufferManager.capacity=[300000, 400000]",
        ],
        slurm_multinode,
    )
    output, _ = process.communicate(timeout=1700)
    assert process.returncode == 0, output[-5000:] + slurm_multinode.logs()
    jobs = {
        _assert_point_lost_nothing(root / "points" / point, capacity)
        for point, capacity in (("p000", 300000), ("p001", 400000))
    }
    # Two Slurm jobs, one per point.
    assert len(jobs) == 2
