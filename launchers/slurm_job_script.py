"""What launchers/slurm_job.py submits: the roles, the driver's spec, the script.

A `Role` is a command line run by `count` processes with its resources and
restart policy (from gin scope `<role>` by `make_role`); `validate` checks a
run's three roles and ports; `job_spec` is the content of slurm/job.json,
which the in-job driver (launchers/slurm_job_driver.py) reads; and
`batch_script` is the sbatch script: one heterogeneous component per role,
then the driver. launchers/slurm_job.py documents the placeholders, files and
gin settings.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import gin

from launchers import slurm_commands
from smart_control.reinforcement_learning.distributed.slurm_resources import (
    RestartPolicy,
    RoleResources,
    SlurmJobSettings,
)

SERVER = "server"
COLLECTOR = "collector"
TRAINER = "trainer"
DRIVER_LOG = "driver.log"
_PORT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclasses.dataclass(frozen=True)
class Role:
    """One role of the run: a command line run by `count` processes.

    Attributes:
      name: "server", "collector" or "trainer": names the gin scope, the
        steps (collector-<k> for collectors) and their logs.
      command: The command line, with placeholders (launchers/slurm_job.py).
      count: Processes of the role (1 for the server and the trainer).
      resources: What each process gets.
      policy: What happens when a process exits unasked.
      env: Environment variables added to each process's environment.
    """

    name: str
    command: tuple[str, ...]
    count: int = 1
    resources: RoleResources = dataclasses.field(default_factory=RoleResources)
    policy: RestartPolicy = dataclasses.field(default_factory=RestartPolicy)
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "command", tuple(self.command))
        if not self.command:
            raise ValueError(f"command of role {self.name!r} is empty")
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")


def make_role(name: str, command: Sequence[str], count: int = 1, env=None) -> Role:
    """A Role whose resources and policy come from gin scope `name`.

    Args:
      name: The role, e.g. "collector": `collector/RoleResources.cpus = 2`
        applies to it, unscoped `RoleResources.cpus` to every role.
      command: The command line, with placeholders.
      count: Processes of the role.
      env: Environment variables added to each process's environment.

    Returns:
      The role.
    """
    with gin.config_scope(name):
        return Role(
            name=name,
            command=tuple(command),
            count=count,
            resources=RoleResources(),
            policy=RestartPolicy(),
            env=dict(env or {}),
        )


def validate(server: Role, collectors: Role, trainer: Role, ports: dict) -> None:
    """Checks the roles' names and counts, the port names and placeholders.

    Raises:
      ValueError: If a role's count or name is wrong, a port name is not a
        lowercase identifier, or a command uses an unknown `{..._port}`.
    """
    for role, name in ((server, SERVER), (collectors, COLLECTOR), (trainer, TRAINER)):
        if role.name != name:
            raise ValueError(
                f"the {name} role must be named {name!r}, got {role.name!r}"
            )
    for role in (server, trainer):
        if role.count != 1:
            raise ValueError(f"{role.name} count must be 1, got {role.count}")
    for name, port in ports.items():
        if not _PORT_NAME.match(name):
            raise ValueError(f"port names must be lowercase identifiers, got {name!r}")
        if not 0 <= port < 65536:
            raise ValueError(f"port {name!r} must be in [0, 65535], got {port}")
    known = {"server_host", "task", "run_dir", *(f"{name}_port" for name in ports)}
    for role in (server, collectors, trainer):
        for arg in role.command:
            for placeholder in _PLACEHOLDER.findall(arg):
                if placeholder.endswith("_port") and placeholder not in known:
                    raise ValueError(
                        f"{role.name}'s command uses {{{placeholder}}} but ports "
                        f"are {sorted(ports)}"
                    )


def job_spec(
    run_dir: str,
    logs_dir: str,
    groups: Sequence[Role],
    ports: Mapping[str, int],
    settings: SlurmJobSettings,
) -> dict[str, Any]:
    """The content of job.json: what the driver starts, where, and how.

    Args:
      run_dir: The run directory (absolute).
      logs_dir: The directory of the step logs (absolute).
      groups: The roles with processes, in component order (server first).
      ports: The server's ports by name.
      settings: Job-wide settings.
    """
    return {
        "run_dir": run_dir,
        "logs_dir": logs_dir,
        "ports": dict(ports),
        "max_requeues": settings.max_requeues,
        "server_ready_timeout_s": settings.server_ready_timeout_s,
        "roles": [
            {
                "name": role.name,
                "group": group,
                "command": list(role.command),
                "count": role.count,
                "env": dict(role.env),
                "resources": dataclasses.asdict(role.resources),
                "policy": dataclasses.asdict(role.policy),
            }
            for group, role in enumerate(groups)
        ],
    }


def batch_script(
    groups: Sequence[Role],
    settings: SlurmJobSettings,
    spec_path: str,
    logs_dir: str,
) -> str:
    """The sbatch script: one heterogeneous component per role, then the driver.

    Args:
      groups: The roles with processes, in component order (server first).
      settings: Job-wide settings.
      spec_path: The driver's spec (job.json).
      logs_dir: Where the driver's log goes.

    Returns:
      The script's text.
    """
    job_wide = [
        f"--job-name={settings.job_name}",
        f"--output={os.path.join(logs_dir, DRIVER_LOG)}",
        "--open-mode=append",
        "--requeue",
        # B: only the driver gets it; it stops the steps in order itself.
        f"--signal=B:USR1@{settings.signal_before_end_s}",
    ]
    for name in ("account", "qos"):
        if getattr(settings, name):
            job_wide.append(f"--{name}={getattr(settings, name)}")
    job_wide += list(settings.extra_sbatch_args)
    lines = ["#!/bin/bash"]
    for group, role in enumerate(groups):
        if group:
            lines.append("#SBATCH hetjob")
        resources = role.resources
        options = job_wide if group == 0 else []
        options = options + [
            f"--time={settings.time_limit_min}",
            f"--ntasks={role.count}",
            f"--cpus-per-task={resources.cpus}",
            # Per CPU, not --mem: a component's tasks may span nodes, and
            # sbatch rejects --mem in one component with --mem-per-cpu in
            # another.
            f"--mem-per-cpu={mem_per_cpu(resources)}",
        ]
        partition = resources.partition or settings.partition
        if partition:
            options.append(f"--partition={partition}")
        if resources.gres:
            options.append(f"--gres={resources.gres}")
        if resources.constraint:
            options.append(f"--constraint={resources.constraint}")
        options += list(resources.extra_sbatch_args)
        lines += [f"#SBATCH {option}" for option in options]
    lines += [
        # The driver is run from this project, whatever directory the job
        # starts in.
        slurm_commands.PYTHONPATH_EXPORT,
        # exec: SIGUSR1 (B:) must reach the driver, not a waiting shell.
        f"exec {shlex.quote(settings.python)} -m launchers.slurm_job_driver "
        f"{shlex.quote(spec_path)}",
    ]
    return "\n".join(lines) + "\n"


def mem_per_cpu(resources: RoleResources) -> int:
    """MB per CPU so that each process gets at least `resources.mem_mb`."""
    return slurm_commands.mem_per_cpu(resources.mem_mb, resources.cpus)
