r"""A distributed run as ONE Slurm job: a server, N collectors and a trainer.

`submit` writes a batch script and submits it as a heterogeneous job of up
to three components, one per role, each with its role's resources:

    component 0: the server    1 task   server/RoleResources.*
    component 1: collectors    N tasks  collector/RoleResources.*  (if N > 0)
    component 2: the trainer   1 task   trainer/RoleResources.*

The batch script runs on the server's node and execs the in-job driver
(launchers/slurm_job_driver.py), which starts every role as a job step with
`srun --het-group=<component> --exact` (one step per process, so each can be
signalled, restarted and accounted on its own): the server first, then,
once the server accepts TCP connections, the collectors and the trainer.
It restarts dying steps as configured and, when the trainer finishes, stops
the collectors first and the server last (so the server's final checkpoint
holds everything they wrote); see the driver's docstring for faults,
preemption and requeueing.

Finding the server: the driver reads the server's node from Slurm
(`SLURM_JOB_NODELIST_HET_GROUP_0`, expanded with `scontrol show hostnames`)
and picks the ports there (a port given as 0 is chosen free on that node at
every start; a fixed port is used as is). Each role's command may contain
these placeholders, replaced before the step starts (other braces, e.g. in gin
bindings, are left alone):

    {server_host}     the server's node name, e.g. "node17"
    {<name>_port}     the port named <name> in `ports`, e.g. {replay_port}
    {task}            the collector's index (0 for the server and trainer)
    {run_dir}         the run directory

and every step's environment has the same values as SMART_CONTROL_SERVER_HOST,
SMART_CONTROL_<NAME>_PORT, SMART_CONTROL_TASK, SMART_CONTROL_ROLE (plus
Slurm's own SLURM_RESTART_COUNT after a requeue).

Files, all under the run directory (which must be on a filesystem every node
shares):

    slurm/job.sbatch     the batch script (rewritten at every submit)
    slurm/job.json       the roles, ports and policies the driver reads
    slurm/jobs.jsonl     one line per submission: job id, time
    logs/driver.log      the driver's (and srun's) own messages
    logs/<name>.log      each step's output: server.log, collector-<k>.log,
                         trainer.log; appended across restarts and requeues

Resources are gin settings, scoped by role name:

    server/RoleResources.mem_mb = 16000
    collector/RoleResources.cpus = 1
    trainer/RoleResources.gres = "gpu:1"
    trainer/RoleResources.constraint = "a100"
    collector/RestartPolicy.restart = False      # drop dead collectors
    server/RestartPolicy.stop_timeout_s = 300    # time for the final checkpoint
    SlurmJobSettings.partition = "cpu"
    SlurmJobSettings.time_limit_min = 720

This module submits, waits and reports; the roles, job.json and the batch
script are launchers/slurm_job_script.py, the Slurm commands
launchers/slurm_commands.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Optional, TextIO

from absl import logging

from launchers import output_tee, slurm_commands, slurm_job_script

# The names below are part of this module's API.
from launchers.slurm_commands import SlurmUnavailableError  # noqa: F401
from launchers.slurm_job_script import (  # noqa: F401
    COLLECTOR,
    DRIVER_LOG,
    SERVER,
    TRAINER,
    Role,
    batch_script,
    make_role,
    mem_per_cpu,
)
from smart_control.reinforcement_learning.distributed.slurm_resources import (  # noqa: F401
    RestartPolicy,
    RoleResources,
    SlurmJobSettings,
)
from smart_control.reinforcement_learning.utils import clock, json_files, run_files

SLURM_DIR = "slurm"
LOGS_DIR = run_files.LOGS_DIR
SPEC_FILE = "job.json"
SCRIPT_FILE = "job.sbatch"
HISTORY_FILE = "jobs.jsonl"
# Job states after which the job will not run again (a requeued job goes
# back to PENDING under the same id).
FINAL_STATES = (
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """One line of `sacct` for the job: the allocation, the batch step or a role.

    Attributes:
      job_id: Slurm's id of the line, e.g. "42+1.3" (component 1, step 3),
        "42+0.batch" (the driver), "42+2" (component 2's allocation).
      name: The step's name: "server", "collector-0", "trainer", "batch", or
        the job's name for an allocation.
      nodes: The node(s) it ran on, e.g. "node2".
      state: COMPLETED, FAILED, CANCELLED, REQUEUED, RUNNING, ...
      exit_code: "code:signal" as sacct prints it.
      start: Start time as sacct prints it.
    """

    job_id: str
    name: str
    nodes: str
    state: str
    exit_code: str
    start: str


@dataclasses.dataclass(frozen=True)
class JobReport:
    """How a job ended.

    Attributes:
      job_id: The job's id (the het job's leader).
      state: The job's final state, e.g. COMPLETED, FAILED, CANCELLED,
        TIMEOUT (first word of sacct's state of component 0).
      exit_code: The driver's "code:signal".
      requeues: How many times it was requeued.
      steps: Every sacct line of the job, earlier (requeued) runs included.
      logs_dir: The directory of the step logs.
    """

    job_id: str
    state: str
    exit_code: str
    requeues: int
    steps: tuple[StepRecord, ...]
    logs_dir: str

    def steps_table(self) -> str:
        """The steps as aligned columns: id, name, nodes, state, exit code."""
        return format_steps(self.steps)


def submit(
    run_dir: str,
    server: Role,
    collectors: Role,
    trainer: Role,
    ports: Mapping[str, int] = None,
    settings: Optional[SlurmJobSettings] = None,
) -> str:
    """Writes the batch script and the driver's spec, and submits the job.

    Submitting again with the same run directory resumes the run: every
    role is started again and resumes from its own checkpoints.

    Args:
      run_dir: The run directory, on a filesystem every node shares.
      server: The server role (count 1).
      collectors: The collector role (count >= 0).
      trainer: The trainer role (count 1): the run ends when it exits 0.
      ports: The server's ports by name, e.g. {"replay": 0, "variables": 0};
        0: chosen free on the server's node at every start. The first one is
        the one the driver waits for before starting the others. Default:
        {"replay": 0}.
      settings: Job-wide settings; None: SlurmJobSettings() from gin.

    Returns:
      The job id (of the heterogeneous job's leader).

    Raises:
      ValueError: If a role's count or name is wrong, a port name is not a
        lowercase identifier, or a command uses an unknown `{..._port}`.
      SlurmUnavailableError: If the Slurm commands, the controller,
        the partition or the accounting database cannot be reached.
      RuntimeError: If sbatch fails (its message included).
    """
    settings = settings if settings is not None else SlurmJobSettings()
    ports = dict({"replay": 0} if ports is None else ports)
    slurm_job_script.validate(server, collectors, trainer, ports)
    # wait() reads job states from accounting: check it now, not after hours.
    slurm_commands.check_reachable(settings.partition)
    run_dir = os.path.abspath(run_dir)
    slurm_dir = os.path.join(run_dir, SLURM_DIR)
    logs_dir = os.path.join(run_dir, LOGS_DIR)
    os.makedirs(slurm_dir, exist_ok=True)
    os.makedirs(logs_dir, exist_ok=True)
    groups = [server, *([collectors] if collectors.count else []), trainer]
    spec = slurm_job_script.job_spec(run_dir, logs_dir, groups, ports, settings)
    spec_path = os.path.join(slurm_dir, SPEC_FILE)
    json_files.write_text_atomic(spec_path, json.dumps(spec, indent=2) + "\n")
    script_path = os.path.join(slurm_dir, SCRIPT_FILE)
    json_files.write_text_atomic(
        script_path, batch_script(groups, settings, spec_path, logs_dir)
    )
    done = slurm_commands.run(["sbatch", "--parsable", script_path], cwd=run_dir)
    if done.returncode != 0:
        raise RuntimeError(
            f"sbatch {script_path} failed ({done.returncode}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    job_id = done.stdout.strip().split(";")[0]
    with open(os.path.join(slurm_dir, HISTORY_FILE), "a") as f:
        f.write(json.dumps({"job_id": job_id, "submitted": clock.utc_now()}) + "\n")
    logging.info("Submitted Slurm job %s for %s; logs in %s", job_id, run_dir, logs_dir)
    return job_id


def wait(
    job_id: str,
    run_dir: str,
    poll_interval_s: float = 10.0,
    stream: Optional[TextIO] = None,
    stop_grace_s: float = 600.0,
) -> JobReport:
    """Waits until the job has ended for good (requeues are waited through).

    Args:
      job_id: The id `submit` returned.
      run_dir: The run directory given to `submit`.
      poll_interval_s: Seconds between two `sacct` queries.
      stream: If set, new lines of every log under logs/ are copied to it,
        prefixed with "[<log name>] ".
      stop_grace_s: On Ctrl-C: seconds the job gets to stop in order (and
        checkpoint) before it is cancelled outright.

    Returns:
      How the job ended, with every step's nodes and state.

    Raises:
      KeyboardInterrupt: Re-raised after the job was stopped; the run
        directory can then be resumed by submitting again.
    """
    logs_dir = os.path.join(os.path.abspath(run_dir), LOGS_DIR)
    follower = output_tee.LogFollower(logs_dir, stream) if stream is not None else None
    last_state = None
    try:
        while True:
            state, exit_code = job_state(job_id)
            if follower:
                follower.poll()
            if state != last_state:
                logging.info("Slurm job %s: %s", job_id, state)
                last_state = state
            # sacct may show the ended run of a job that Slurm is requeueing
            # (preempted, node failure) before its new record: final only
            # once squeue no longer lists the job.
            if state in FINAL_STATES and not slurm_commands.queued([job_id]):
                break
            time.sleep(poll_interval_s)
    except KeyboardInterrupt:
        logging.warning("Stopping Slurm job %s in order (it stays resumable).", job_id)
        stop(job_id, stop_grace_s)
        raise
    finally:
        if follower:
            follower.poll()
    steps = tuple(job_steps(job_id))
    requeues = sum(
        1
        for step in steps
        if _is_component(step.job_id, 0) and step.state == "REQUEUED"
    )
    report = JobReport(job_id, state, exit_code, requeues, steps, logs_dir)
    logging.info(
        "Slurm job %s ended %s after %d requeue(s); logs in %s\n%s",
        job_id,
        state,
        requeues,
        logs_dir,
        report.steps_table(),
    )
    return report


def run(
    run_dir: str,
    server: Role,
    collectors: Role,
    trainer: Role,
    ports: Mapping[str, int] = None,
    settings: Optional[SlurmJobSettings] = None,
    poll_interval_s: float = 10.0,
    stream: Optional[TextIO] = None,
) -> JobReport:
    """`submit`, then `wait`: returns once the run's job has ended for good."""
    job_id = submit(run_dir, server, collectors, trainer, ports, settings)
    return wait(job_id, run_dir, poll_interval_s=poll_interval_s, stream=stream)


def stop(job_id: str, grace_s: float = 600.0) -> None:
    """Stops a job in order (collectors, trainer, server), then cancels it.

    SIGUSR2 to the driver makes it stop the steps in order and cancel the
    job; if the job is still there after `grace_s`, it is cancelled outright
    (every step gets SIGTERM at once, SIGKILL after Slurm's KillWait). Either
    way the run can be resumed by submitting it again.
    """
    slurm_commands.run(["scancel", "--batch", "--signal=USR2", job_id])
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if job_state(job_id)[0] in FINAL_STATES:
            return
        time.sleep(1.0)
    slurm_commands.run(["scancel", job_id])


def job_state(job_id: str) -> tuple[str, str]:
    """The job's current state and exit code, from sacct (PENDING if unknown yet).

    The state is component 0's (the driver's): a requeued job shows its new
    run's state. "CANCELLED by 0" reads "CANCELLED".
    """
    rows = slurm_commands.sacct(job_id, ("JobID", "State", "ExitCode"), "--allocations")
    for job, state, exit_code in rows:
        if job in (job_id, f"{job_id}+0"):
            return slurm_commands.base_state(state), exit_code
    # sacct lags a moment behind sbatch.
    return "PENDING", ""


def job_steps(job_id: str) -> list[StepRecord]:
    """Every sacct line of the job, earlier (requeued) runs included, in order."""
    fields = ("JobID", "JobName", "NodeList", "State", "ExitCode", "Start")
    rows = slurm_commands.sacct(job_id, fields, "--duplicates")
    return [StepRecord(*row) for row in rows]


def format_steps(steps: Sequence[StepRecord]) -> str:
    """Steps as aligned columns, one per line, with a header."""
    rows = [("JobID", "Name", "Nodes", "State", "ExitCode", "Start")]
    rows += [(s.job_id, s.name, s.nodes, s.state, s.exit_code, s.start) for s in steps]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
        for row in rows
    )


def _is_component(job_id: str, component: int) -> bool:
    """Whether a sacct JobID is the allocation line of a het component."""
    return job_id.endswith(f"+{component}")
