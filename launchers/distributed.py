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

import os
import socket
import sys
from typing import Any, Callable, Dict, List, Optional

from launchers import supervisor
from smart_control.reinforcement_learning.distributed import topology as topology_lib
from smart_control.reinforcement_learning.utils import json_files, run_files

SCRIPTS = "smart_control.reinforcement_learning.scripts"
SERVER_FILE = run_files.SERVER_FILE


def free_port() -> int:
    """A port free right now (the OS's pick); the server binds it moments later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def process_specs(
    train_dir: str,
    logs_dir: str,
    gin: List[str],
    num_collectors: int,
    restart: bool,
    starter_buffer: Optional[str],
    ports: Dict[str, int],
) -> List[supervisor.ProcessSpec]:
    """The server, the collectors and the trainer, in start order.

    Args:
      gin: The experiment's --gin_file/--gin_bindings flags, for every process.
    """
    buffer_dir = os.path.join(train_dir, run_files.REPLAY_BUFFER_DIR)
    replay = f"localhost:{ports['replay']}"
    variables = f"localhost:{ports['variables']}"
    python = [sys.executable, "-m"]
    server_command = [
        *python,
        f"{SCRIPTS}.reverb_server",
        f"--root_dir={buffer_dir}",
        f"--port={ports['replay']}",
        f"--variable_container_port={ports['variables']}",
        *gin,
    ]
    if starter_buffer:
        server_command.append(f"--starter_buffer={starter_buffer}")
    specs = [
        supervisor.ProcessSpec(
            name="server",
            command=server_command,
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
                    *python,
                    f"{SCRIPTS}.collect",
                    f"--root_dir={train_dir}",
                    f"--task={task}",
                    f"--replay_buffer_server_address={replay}",
                    f"--variable_container_server_address={variables}",
                    *gin,
                ],
                log_path=os.path.join(logs_dir, f"collector-{task}.log"),
                restart=restart,
                stop_timeout_s=60.0,
            )
        )
    specs.append(
        supervisor.ProcessSpec(
            name="trainer",
            command=[
                *python,
                f"{SCRIPTS}.train",
                f"--root_dir={train_dir}",
                f"--replay_buffer_server_address={replay}",
                f"--variable_container_server_address={variables}",
                *gin,
            ],
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
