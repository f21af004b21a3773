"""launchers/slurm_job.py and its driver without a cluster: script, gin, checks.

The runs themselves are tested on a real multi-node Slurm in
slurm_multinode_test.py.
"""

import gin
import pytest

from launchers import executors, slurm_job, slurm_job_driver


def _roles(collectors=2):
    return (
        slurm_job.Role("server", ["serve", "--port={replay_port}"]),
        slurm_job.Role(
            "collector",
            ["collect", "--task={task}", "--server={server_host}:{replay_port}"],
            count=collectors,
            resources=slurm_job.RoleResources(cpus=2, mem_mb=3000, constraint="cpu"),
        ),
        slurm_job.Role(
            "trainer",
            ["train"],
            resources=slurm_job.RoleResources(cpus=4, mem_mb=8000, gres="gpu:1"),
        ),
    )


def test_batch_script_has_one_component_per_role_then_execs_the_driver():
    settings = slurm_job.SlurmJobSettings(
        job_name="run7", partition="batch", time_limit_min=90, signal_before_end_s=300
    )

    script = slurm_job.batch_script(
        _roles(), settings, "/runs/r/slurm/job.json", "/runs/r/logs"
    )

    components = script.split("#SBATCH hetjob\n")
    assert len(components) == 3
    server, collectors, trainer = components
    for option in (
        "--job-name=run7",
        "--output=/runs/r/logs/driver.log",
        "--requeue",
        "--signal=B:USR1@300",
        "--ntasks=1",
    ):
        assert f"#SBATCH {option}\n" in server
    for option in ("--ntasks=2", "--cpus-per-task=2", "--mem-per-cpu=1500"):
        assert f"#SBATCH {option}\n" in collectors
    assert "#SBATCH --constraint=cpu\n" in collectors
    assert "#SBATCH --gres=gpu:1\n" in trainer
    assert "#SBATCH --mem-per-cpu=2000\n" in trainer
    for component in components:
        assert "#SBATCH --time=90\n" in component
        assert "#SBATCH --partition=batch\n" in component
    assert trainer.rstrip().endswith(
        "-m launchers.slurm_job_driver /runs/r/slurm/job.json"
    )
    assert "\nexec " in trainer


def test_batch_script_without_collectors_has_two_components():
    server, collectors, trainer = _roles(collectors=0)

    script = slurm_job.batch_script(
        [server, trainer], slurm_job.SlurmJobSettings(), "/s", "/l"
    )

    assert script.count("#SBATCH hetjob") == 1


def test_resources_and_policies_come_from_the_role_gin_scope():
    gin.parse_config(
        """
        RoleResources.mem_mb = 1000
        trainer/RoleResources.gres = "gpu:1"
        collector/RoleResources.cpus = 2
        collector/RestartPolicy.restart = False
        """
    )

    trainer = slurm_job.make_role("trainer", ["train"])
    collectors = slurm_job.make_role("collector", ["collect"], count=3)

    assert (trainer.resources.gres, trainer.resources.mem_mb) == ("gpu:1", 1000)
    assert trainer.policy.restart
    assert (collectors.resources.cpus, collectors.resources.gres) == (2, None)
    assert not collectors.policy.restart
    assert collectors.count == 3


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: slurm_job.RoleResources(cpus=0), "cpus"),
        (lambda: slurm_job.RoleResources(constraint="a b"), "constraint"),
        (lambda: slurm_job.RoleResources(extra_sbatch_args=("x",)), "options"),
        (lambda: slurm_job.RestartPolicy(backoff_s=-1), "backoff_s"),
        (lambda: slurm_job.SlurmJobSettings(time_limit_min=0), "time_limit_min"),
        (lambda: slurm_job.Role("server", []), "empty"),
    ],
)
def test_bad_settings_name_the_parameter(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_submit_checks_roles_and_ports_before_slurm(tmp_path):
    server, collectors, trainer = _roles()
    two_servers = slurm_job.Role("server", ["serve"], count=2)
    cases = [
        ((two_servers, collectors, trainer, {"replay": 0}), "count must be 1"),
        ((trainer, collectors, server, {"replay": 0}), "must be named"),
        ((server, collectors, trainer, {"Replay": 0}), "lowercase"),
        ((server, collectors, trainer, {"variables": 0}), "replay_port"),
    ]
    for (s, c, t, ports), message in cases:
        with pytest.raises(ValueError, match=message):
            slurm_job.submit(str(tmp_path), s, c, t, ports=ports)


def test_submit_without_slurm_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(executors.SlurmUnavailableError, match="srun"):
        slurm_job.submit(str(tmp_path), *_roles())


def test_driver_replaces_known_placeholders_only():
    values = {"server_host": "node4", "replay_port": "7000", "task": "3"}

    assert (
        slurm_job_driver._substitute("--address={server_host}:{replay_port}", values)
        == "--address=node4:7000"
    )
    binding = "--gin_bindings=f.x = {'a': {task}, 'b': {other_port}}"
    assert (
        slurm_job_driver._substitute(binding, values)
        == "--gin_bindings=f.x = {'a': 3, 'b': {other_port}}"
    )


def test_steps_table_aligns_columns():
    steps = [
        slurm_job.StepRecord("5+0.0", "server", "node1", "COMPLETED", "0:0", "t0"),
        slurm_job.StepRecord("5+1.1", "collector-0", "node2", "FAILED", "1:0", "t1"),
    ]

    lines = slurm_job.format_steps(steps).splitlines()

    assert lines[0].split() == ["JobID", "Name", "Nodes", "State", "ExitCode", "Start"]
    assert lines[2].split() == ["5+1.1", "collector-0", "node2", "FAILED", "1:0", "t1"]
    assert lines[1].index("node1") == lines[2].index("node2")
