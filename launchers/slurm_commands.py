"""Slurm's client commands as the launchers run them, written once.

Used by the sweep executor (launchers/executors.py), the submitter of a
distributed run (launchers/slurm_job.py) and its in-job driver
(launchers/slurm_job_driver.py, launchers/slurm_steps.py):

  * `run` runs a command with a time limit and returns what it printed;
  * `check_reachable` checks that jobs can be submitted and their states read;
  * `query` and `sacct` read the controller and the accounting database;
  * `queued` says whether squeue still lists a job; `base_state` normalises
    a state as sacct prints it;
  * `mem_per_cpu` and `PYTHONPATH_EXPORT` are what every job script needs.

Standard library only: the driver imports it inside the job.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from typing import Optional

# Seconds a Slurm client command may take.
COMMAND_TIMEOUT_S = 60
# The directory holding the `launchers` package: job scripts put it on
# PYTHONPATH, so that Slurm tasks import this project whatever directory
# they start in.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The line of a job script that does so.
PYTHONPATH_EXPORT = (
    f"export PYTHONPATH={shlex.quote(PROJECT_ROOT)}${{PYTHONPATH:+:$PYTHONPATH}}"
)


class SlurmUnavailableError(RuntimeError):
    """Slurm or its accounting cannot be reached from this machine."""


class CommandTimeoutError(RuntimeError):
    """A Slurm client command did not answer in time."""


def run(argv: list[str], cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    """Runs a Slurm client command; its output is captured as text.

    Raises:
      CommandTimeoutError: If it did not end within COMMAND_TIMEOUT_S.
    """
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise CommandTimeoutError(
            f"`{shlex.join(argv)}` did not answer within {COMMAND_TIMEOUT_S} s"
        ) from error


def query(argv: list[str], what: str) -> str:
    """Runs a Slurm client command that must succeed; returns its stdout.

    Args:
      argv: The command.
      what: What it reaches, for the error: "controller", "accounting".

    Raises:
      SlurmUnavailableError: If it fails or does not answer in time.
    """
    try:
        done = run(argv)
    except CommandTimeoutError as error:
        raise SlurmUnavailableError(
            f"Slurm {what} is not reachable: {error}"
        ) from error
    if done.returncode != 0:
        raise SlurmUnavailableError(
            f"Slurm {what} is not reachable: `{shlex.join(argv)}` exited "
            f"{done.returncode}: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


def check_reachable(partition: Optional[str] = None) -> None:
    """Checks that Slurm jobs can be submitted and their states read.

    Args:
      partition: Partition that must exist; None: any.

    Raises:
      SlurmUnavailableError: If `srun` is not on PATH, or `sinfo` or `sacct`
        fail, or `partition` does not exist.
    """
    if shutil.which("srun") is None:
        raise SlurmUnavailableError(
            "Slurm is not reachable: 'srun' is not on PATH (install the Slurm "
            "client, e.g. launchers/install_slurm.sh, or use --executor=local)"
        )
    partitions = query(["sinfo", "--noheader", "--format=%R"], "controller")
    if partition is not None and partition not in partitions.split():
        raise SlurmUnavailableError(
            f"Slurm partition {partition!r} does not exist; sinfo lists: "
            f"{', '.join(sorted(set(partitions.split()))) or 'none'}"
        )
    # Job states come from accounting: without it a cancelled job would be
    # waited for forever.
    query(["sacct", "--noheader", "--allocations", "--jobs=1"], "accounting")


def sacct(job_id: str, fields: Sequence[str], *options: str) -> list[list[str]]:
    """The job's sacct lines, each split into `fields` (others are skipped).

    Args:
      job_id: The job.
      fields: sacct's --format fields, e.g. ("JobID", "State").
      *options: More sacct options, e.g. "--allocations", "--duplicates".

    Raises:
      CommandTimeoutError: If sacct did not answer in time.
    """
    done = run(
        [
            "sacct",
            "--noheader",
            "--parsable2",
            *options,
            f"--jobs={job_id}",
            f"--format={','.join(fields)}",
        ]
    )
    rows = [line.split("|") for line in done.stdout.splitlines()]
    return [row for row in rows if len(row) == len(fields)]


def base_state(state: str) -> str:
    """A job state's first word: "CANCELLED by 0" -> "CANCELLED"; "" -> UNKNOWN."""
    return (state.split() or ["UNKNOWN"])[0]


def queued(job_ids: Sequence[str]) -> bool:
    """Whether squeue still lists any of the jobs (pending, running, completing).

    Raises:
      CommandTimeoutError: If squeue did not answer in time.
    """
    done = run(["squeue", "--noheader", "--format=%i", f"--jobs={','.join(job_ids)}"])
    return done.returncode == 0 and bool(done.stdout.strip())


def mem_per_cpu(mem_mb: int, cpus: int) -> int:
    """MB per CPU so that a process with `cpus` CPUs gets at least `mem_mb`."""
    return math.ceil(mem_mb / cpus)
