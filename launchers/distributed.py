"""The train stage of `run_experiment --mode=distributed`: server, collectors, trainer.

One Reverb server (reverb_server.py, replay table + policy weights table), N
collectors (collect.py) and the trainer (train.py --replay_buffer_server_address)
run as separate processes on this machine under `launchers/supervisor.py`:

  * the server starts first (from the run's starter buffer, or from its own
    newest checkpoint when resuming); the others once it has written
    server.json;
  * every process parses the experiment's gin files and bindings (and runs
    in gin scope `distributed`), so the table, the agent and its weights
    agree; the number of collectors, the ports and whether to restart come
    from `DistributedTopology` (topology/distributed.gin);
  * output goes to logs/<process>.log and, prefixed, to the terminal;
  * a collector (or the server, or the trainer) that dies is restarted
    unless `DistributedTopology.restart = False` (--norestart); the trainer
    resumes from its last commit, the server from its newest buffer checkpoint;
  * when the trainer finishes, collectors stop first and the server last,
    so its final checkpoint holds everything they wrote.

The run directory keeps the single-process layout: train/ is the trainer's
run directory, train/replay_buffer/ the server's buffer directory and
train/collect/task_<k>/ each collector's summaries and stats.json.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Union

from launchers import supervisor
from launchers.process_utils import free_port
from smart_control.reinforcement_learning.distributed import topology as topology_lib
from smart_control.reinforcement_learning.utils import json_files, run_files

SCRIPTS = "smart_control.reinforcement_learning.scripts"
SERVER_FILE = run_files.SERVER_FILE


@dataclasses.dataclass(frozen=True)
class RoleCommands:
    """The command line of each role of a distributed run, for every topology.

    Attributes:
      server: The Reverb server (replay table + weights table).
      collector: A collector; `{task}` stands for its index.
      trainer: The trainer.
    """

    server: List[str]
    collector: List[str]
    trainer: List[str]


def role_commands(
    train_dir: str,
    gin: List[str],
    starter_buffer: Optional[str],
    host: str,
    replay_port: Union[int, str],
    variables_port: Union[int, str],
    network: str,
) -> RoleCommands:
    """The server's, a collector's and the trainer's command lines.

    One definition for both placements: on this machine (`host` "localhost",
    concrete ports) and on Slurm (`host` "{server_host}" and ports
    "{replay_port}", "{variables_port}", filled by the job's driver).

    Args:
      train_dir: The trainer's run directory (the server's buffer is its
        replay_buffer/, collectors write under its collect/).
      gin: The experiment's --gin_file/--gin_bindings flags, for every process.
      starter_buffer: Loaded by the server when its buffer has no checkpoint.
      host: Where collectors and the trainer find the server.
      replay_port: The replay table's port.
      variables_port: The policy weights table's port.
      network: The server's --network: "shared" when other machines connect.
    """
    python = [sys.executable, "-m"]
    replay = f"{host}:{replay_port}"
    variables = f"{host}:{variables_port}"
    server = [
        *python,
        f"{SCRIPTS}.reverb_server",
        f"--root_dir={os.path.join(train_dir, run_files.REPLAY_BUFFER_DIR)}",
        f"--port={replay_port}",
        f"--variable_container_port={variables_port}",
        f"--network={network}",
        *gin,
    ]
    if starter_buffer:
        server.append(f"--starter_buffer={starter_buffer}")
    addresses = [
        f"--replay_buffer_server_address={replay}",
        f"--variable_container_server_address={variables}",
    ]
    return RoleCommands(
        server=server,
        collector=[
            *python,
            f"{SCRIPTS}.collect",
            f"--root_dir={train_dir}",
            "--task={task}",
            *addresses,
            *gin,
        ],
        trainer=[
            *python,
            f"{SCRIPTS}.train",
            f"--root_dir={train_dir}",
            *addresses,
            *gin,
        ],
    )


def process_specs(
    train_dir: str,
    logs_dir: str,
    gin: List[str],
    num_collectors: int,
    restart: bool,
    starter_buffer: Optional[str],
    ports: Dict[str, int],
) -> List[supervisor.ProcessSpec]:
    """The server, the collectors and the trainer on this machine, in start order.

    Args:
      gin: The experiment's --gin_file/--gin_bindings flags, for every process.
    """
    commands = role_commands(
        train_dir,
        gin,
        starter_buffer,
        "localhost",
        ports["replay"],
        ports["variables"],
        # The launcher's private network namespace, which every process
        # of the run shares (see utils/network_isolation.py).
        network="shared",
    )
    buffer_dir = os.path.join(train_dir, run_files.REPLAY_BUFFER_DIR)
    specs = [
        supervisor.ProcessSpec(
            name="server",
            command=commands.server,
            log_path=os.path.join(logs_dir, "server.log"),
            restart=restart,
            stop_order=1,
            # The final checkpoint of a large buffer takes a while.
            stop_timeout_s=300.0,
            ready=supervisor.PidInJsonFile(os.path.join(buffer_dir, SERVER_FILE)),
            ready_timeout_s=300.0,
        )
    ]
    for task in range(num_collectors):
        specs.append(
            supervisor.ProcessSpec(
                name=f"collector-{task}",
                command=[
                    arg.replace("{task}", str(task)) for arg in commands.collector
                ],
                log_path=os.path.join(logs_dir, f"collector-{task}.log"),
                restart=restart,
                stop_timeout_s=60.0,
            )
        )
    specs.append(
        supervisor.ProcessSpec(
            name="trainer",
            command=commands.trainer,
            log_path=os.path.join(logs_dir, "trainer.log"),
            restart=restart,
            primary=True,
            stop_timeout_s=120.0,
        )
    )
    return specs


def collector_stats(train_dir: str, num_collectors: int) -> Dict[str, Any]:
    """Each collector's stats.json (see distributed/collector.py), by task."""
    return {
        f"collector-{task}": json_files.read_json(
            os.path.join(
                run_files.collector_dir(train_dir, task), run_files.COLLECTOR_STATS_FILE
            )
        )
        for task in range(num_collectors)
    }


def run_distributed_train(
    train_dir: str,
    logs_dir: str,
    gin: List[str],
    starter_buffer: Optional[str],
    stage: Dict[str, Any],
    save: Callable[[], None],
    on_started: Optional[Callable[[supervisor.Supervisor], None]] = None,
) -> Dict[str, Any]:
    """Runs the group until the trainer finishes; returns the supervisor summary.

    The topology (collectors, ports, restarts) is `DistributedTopology()` of
    the experiment gin has parsed. `stage` (the run.json record of the train
    stage) is kept up to date with the processes' state at every start, exit
    and restart.
    """
    topology = topology_lib.DistributedTopology()
    num_collectors, restart = topology.num_collectors, topology.restart
    ports = {
        "replay": topology.replay_port or free_port(),
        "variables": topology.variable_port or free_port(),
    }
    specs = process_specs(
        train_dir,
        logs_dir,
        gin,
        num_collectors,
        restart,
        starter_buffer,
        ports,
    )
    stage.update(
        mode="distributed",
        num_collectors=num_collectors,
        restart=restart,
        replay_server_address=f"localhost:{ports['replay']}",
        variable_container_server_address=f"localhost:{ports['variables']}",
    )
    group: Optional[supervisor.Supervisor] = None

    def on_event(event: Dict[str, Any]) -> None:
        if group is not None:
            stage["processes"] = group.summary()
            save()

    group = supervisor.Supervisor(specs, on_event=on_event)
    try:
        group.start()
        if on_started is not None:
            on_started(group)
        summary = group.wait()
    finally:
        stage["processes"] = group.summary()
        stage["collectors"] = collector_stats(train_dir, num_collectors)
        stage["trainer"] = json_files.read_json(
            os.path.join(train_dir, run_files.DONE_FILE)
        )
        save()
    return summary


def run_distributed_train_on_slurm(
    run_dir: str,
    gin: List[str],
    starter_buffer: Optional[str],
    stage: Dict[str, Any],
    save: Callable[[], None],
    poll_interval_s: float = 10.0,
) -> Dict[str, Any]:
    """The same processes as ONE Slurm job (launchers/slurm_job.py); waits for it.

    The server, the collectors and the trainer are the job's steps, placed by
    Slurm on the nodes it allocates with each role's resources
    (`<role>/RoleResources.*`, configs/topology/slurm.gin); collectors and the
    trainer find the server from the allocation (`{server_host}`), and its
    ports are picked free on its node unless `DistributedTopology` fixes them.
    A run stopped by preemption or its time limit requeues itself and resumes
    from the trainer's last commit and the server's newest buffer checkpoint;
    submitting the same run directory again resumes it too.

    Returns:
      {"outcome": supervisor.SUCCESS or "failed", "reason", "job"}: the job's
      final state, requeues and every step's nodes and state.
    """
    from launchers import slurm_job

    topology = topology_lib.DistributedTopology()
    train_dir = os.path.join(run_dir, run_files.TRAIN_STAGE_DIR)
    commands = role_commands(
        train_dir,
        gin,
        starter_buffer,
        "{server_host}",
        "{replay_port}",
        "{variables_port}",
        # Collectors and the trainer connect from other nodes.
        network="shared",
    )
    roles = {
        name: slurm_job.make_role(name, command, count=count)
        for name, command, count in (
            (slurm_job.SERVER, commands.server, 1),
            (slurm_job.COLLECTOR, commands.collector, topology.num_collectors),
            (slurm_job.TRAINER, commands.trainer, 1),
        )
    }
    ports = {"replay": topology.replay_port, "variables": topology.variable_port}
    job_id = slurm_job.submit(
        run_dir,
        roles[slurm_job.SERVER],
        roles[slurm_job.COLLECTOR],
        roles[slurm_job.TRAINER],
        ports=ports,
    )
    stage.update(
        mode="distributed",
        executor="slurm",
        num_collectors=topology.num_collectors,
        slurm_job=job_id,
    )
    save()
    print(f"[train] submitted Slurm job {job_id}", flush=True)
    report = slurm_job.wait(
        job_id, run_dir, poll_interval_s=poll_interval_s, stream=sys.stdout
    )
    job = {
        "job_id": report.job_id,
        "state": report.state,
        "exit_code": report.exit_code,
        "requeues": report.requeues,
        "steps": [dataclasses.asdict(step) for step in report.steps],
    }
    stage["slurm"] = job
    stage["collectors"] = collector_stats(train_dir, topology.num_collectors)
    stage["trainer"] = json_files.read_json(
        os.path.join(train_dir, run_files.DONE_FILE)
    )
    save()
    print(report.steps_table(), flush=True)
    if report.state == "COMPLETED" and stage["trainer"]:
        return {"outcome": supervisor.SUCCESS, "reason": None, "job": job}
    return {
        "outcome": "failed",
        "reason": f"Slurm job {job_id} ended {report.state}",
        "job": job,
    }
