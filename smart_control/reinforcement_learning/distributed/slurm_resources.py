"""What each role of a distributed run gets from Slurm: gin settings.

    server/RoleResources.mem_mb = 16000
    collector/RoleResources.cpus = 1
    trainer/RoleResources.gres = "gpu:1"
    collector/RestartPolicy.restart = False      # drop dead collectors
    server/RestartPolicy.stop_timeout_s = 300    # time for the final checkpoint
    SlurmJobSettings.partition = "cpu"
    SlurmJobSettings.time_limit_min = 720

TensorFlow-free records read by `launchers/slurm_job.py`, which submits a
distributed run as one Slurm job. They live here, beside
`DistributedTopology`, so that experiment files (configs/topology/slurm.gin)
may bind them: every stage process parses the experiment and must know every
name in it.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Optional

import gin


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RoleResources:
    """What one process of a role gets from Slurm (per process, not per role).

    Attributes:
      cpus: CPUs of each process (`--cpus-per-task`).
      mem_mb: Memory of each process, in MB (`--mem-per-cpu` = mem_mb / cpus).
      gres: Generic resources of each process, e.g. "gpu:1"; None: none.
      constraint: Node features the role's nodes must have (`--constraint`,
        e.g. "a100" or "skylake|icelake"); None: any node.
      partition: The role's partition; None: SlurmJobSettings.partition.
      extra_sbatch_args: More `#SBATCH` options for the role's component,
        e.g. ("--exclusive",).
    """

    cpus: int = 1
    mem_mb: int = 4096
    gres: Optional[str] = None
    constraint: Optional[str] = None
    partition: Optional[str] = None
    extra_sbatch_args: tuple[str, ...] = ()

    def __post_init__(self):
        if self.cpus < 1:
            raise ValueError(f"cpus must be >= 1, got {self.cpus}")
        if self.mem_mb < 1:
            raise ValueError(f"mem_mb must be >= 1, got {self.mem_mb}")
        for name in ("gres", "constraint", "partition"):
            _check_option_value(name, getattr(self, name))
        for arg in self.extra_sbatch_args:
            if not arg.startswith("-") or "\n" in arg:
                raise ValueError(f"extra_sbatch_args must be options, got {arg!r}")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RestartPolicy:
    """What the driver does when a process of the role exits unasked.

    Attributes:
      restart: Start it again (the program resumes from its own
        checkpoints); False: a collector is dropped (the run goes on with one
        collector fewer, logged), a server or trainer fails the run.
      max_restarts: Most restarts of each process per job run (a requeued
        job starts counting again); then as if restart were False.
      backoff_s: Seconds between the exit and the restart.
      stop_timeout_s: Seconds between SIGTERM and SIGKILL when the driver
        stops the process (the server's final checkpoint needs most).
    """

    restart: bool = True
    max_restarts: int = 3
    backoff_s: float = 5.0
    stop_timeout_s: float = 120.0

    def __post_init__(self):
        for name in ("max_restarts", "backoff_s", "stop_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class SlurmJobSettings:
    """Job-wide Slurm settings.

    Attributes:
      job_name: The job's name (squeue, sacct).
      partition: Partition of every role without its own; None: the
        cluster's default.
      account: Slurm account to charge; None: the user's default.
      qos: Quality of service; None: the default.
      time_limit_min: The job's time limit, in minutes. A job reaching it is
        signalled, checkpoints and requeues itself (`signal_before_end_s`).
      signal_before_end_s: Seconds before the time limit at which Slurm
        sends SIGUSR1 to the driver (`--signal=B:USR1@...`; Slurm may send it
        up to 60 s earlier). Must cover the roles' stop timeouts.
      max_requeues: Most times the job requeues itself; then it stops (and
        leaves a resumable run) instead.
      server_ready_timeout_s: Seconds the server gets to accept connections
        on its first port before the others start anyway.
      python: The Python interpreter running the driver on the nodes.
      extra_sbatch_args: More job-wide `#SBATCH` options.
    """

    job_name: str = "smart_control"
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    time_limit_min: int = 24 * 60
    signal_before_end_s: int = 600
    max_requeues: int = 20
    server_ready_timeout_s: float = 600.0
    python: str = sys.executable
    extra_sbatch_args: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("time_limit_min", "signal_before_end_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_requeues < 0:
            raise ValueError(f"max_requeues must be >= 0, got {self.max_requeues}")
        for name in ("job_name", "partition", "account", "qos"):
            _check_option_value(name, getattr(self, name))


def _check_option_value(name: str, value: Optional[str]) -> None:
    if value is not None and (not value or re.search(r"\s", value)):
        raise ValueError(f"{name} must be a non-empty word, got {value!r}")
