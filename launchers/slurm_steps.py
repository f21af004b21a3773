"""The steps of a distributed run's Slurm job: how one is started, found, stopped.

The in-job driver (launchers/slurm_job_driver.py) decides when a step starts,
restarts or stops; this module does it:

  * `start` runs a role's process as a job step, `srun --het-group=<component>
    --exact ...`, its placeholders replaced and SMART_CONTROL_* variables set
    (launchers/slurm_job.py), its output appended to logs/<step>.log after a
    "[driver] ... start" line;
  * `stop` stops steps with `scancel --signal=TERM <step>` (SIGTERM to srun
    itself would make srun SIGKILL the tasks), found by name with `squeue
    --steps`, and cancels them outright after the role's stop timeout;
  * `server_host` reads the server's node from the allocation.

Standard library only: it runs inside the job. Messages go to stdout
(logs/driver.log) through `log`.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import time
from typing import Optional

from launchers import slurm_commands

# Seconds srun gets to exit after its step was cancelled outright.
_KILL_WAIT_S = 60
# Times the step list is read again while a step to stop is not in it.
_STEP_LOOKUPS = 4


class Step:
    """One process of a role, run as a job step; restarted as a new step."""

    def __init__(self, role: dict, task: int):
        """Initializes the step; nothing starts yet.

        Args:
          role: The role's entry of job.json (launchers/slurm_job_script.py).
          task: The process's index in its role.
        """
        self.role = role
        self.task = task
        # Collectors are numbered even when there is one: logs and sacct
        # lines keep their names whatever the count.
        name = role["name"]
        self.name = f"{name}-{task}" if name == "collector" else name
        self.policy = role["policy"]
        self.log_path = ""
        self.process: Optional[subprocess.Popen] = None
        self.starts = 0
        self.restarts = 0
        self.restart_at: Optional[float] = None
        self.dropped = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def start(
    step: Step, values: dict[str, str], logs_dir: str, job_id: str, run: int
) -> None:
    """Starts `step` as a new job step (srun), in the background.

    Args:
      step: The step; its process, log path and start count are updated.
      values: The placeholders' values: server_host, run_dir, <name>_port.
      logs_dir: The directory of the step logs.
      job_id: The job's id, for the log.
      run: The job's run (1 + requeues so far), for the log.
    """
    step.restart_at = None
    role = step.role
    resources = role["resources"]
    values = dict(values, task=str(step.task))
    command = [substitute(arg, values) for arg in role["command"]]
    step.log_path = os.path.join(logs_dir, f"{step.name}.log")
    step.starts += 1
    env = dict(os.environ)
    env.update(role["env"])
    env.update(
        SMART_CONTROL_ROLE=role["name"],
        SMART_CONTROL_TASK=str(step.task),
        SMART_CONTROL_SERVER_HOST=values["server_host"],
        SMART_CONTROL_RUN_DIR=values["run_dir"],
    )
    for name, value in values.items():
        if name.endswith("_port"):
            env[f"SMART_CONTROL_{name.upper()}"] = value
    mem_per_cpu = slurm_commands.mem_per_cpu(resources["mem_mb"], resources["cpus"])
    argv = [
        "srun",
        f"--het-group={role['group']}",
        "--ntasks=1",
        "--nodes=1",
        f"--cpus-per-task={resources['cpus']}",
        f"--mem-per-cpu={mem_per_cpu}",
        # Only what this step asks for, so the other steps fit beside it.
        "--exact",
        f"--job-name={step.name}",
        f"--output={step.log_path}",
        "--open-mode=append",
        *([f"--gres={resources['gres']}"] if resources["gres"] else []),
        *command,
    ]
    with open(step.log_path, "a") as f:
        f.write(
            f"[driver] {now()} start {step.starts} of {step.name} (job "
            f"{job_id}, run {run}): {' '.join(command)}\n"
        )
    log(f"starting {step.name} (start {step.starts})")
    step.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env)


def stop(steps: list[Step], job_id: str) -> None:
    """Stops running steps at once: SIGTERM, cancelled after the stop timeout."""
    ids = step_ids(job_id)
    for _ in range(_STEP_LOOKUPS):
        # A step started a moment ago may not be listed yet.
        if all(step.name in ids for step in steps):
            break
        time.sleep(0.5)
        ids = step_ids(job_id)
    for step in steps:
        step_id = ids.get(step.name)
        log(f"stopping {step.name} (step {step_id}) with SIGTERM")
        if step_id:
            slurm(["scancel", "--signal=TERM", step_id])
        else:
            # Never registered: srun kills what it may have started.
            step.process.terminate()
    timeout = max(step.policy["stop_timeout_s"] for step in steps)
    deadline = time.monotonic() + timeout
    for step in steps:
        try:
            step.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            log(f"{step.name} stopped ({step.process.returncode})")
        except subprocess.TimeoutExpired:
            log(f"{step.name} still running after {timeout} s: cancelling it")
            step_id = ids.get(step.name)
            if step_id:
                slurm(["scancel", step_id])
            try:
                step.process.wait(timeout=_KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                step.process.kill()
                step.process.wait()


def server_host() -> str:
    """The first node of het component 0 (the server's), as Slurm names it."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST_HET_GROUP_0") or os.environ.get(
        "SLURM_JOB_NODELIST", ""
    )
    done = slurm(["scontrol", "show", "hostnames", nodelist])
    hosts = done.stdout.split()
    if done.returncode != 0 or not hosts:
        raise RuntimeError(f"cannot expand node list {nodelist!r}: {done.stderr}")
    return hosts[0]


def step_ids(job_id: str) -> dict[str, str]:
    """Running steps of the job by name, e.g. {"collector-0": "44.2"}.

    squeue lists a heterogeneous job's steps under each component's own job
    id (the leader's id + offset), so every component is asked for.
    """
    components = sorted(
        value
        for name, value in os.environ.items()
        if name.startswith("SLURM_JOB_ID_HET_GROUP_")
    )
    jobs = ",".join(components or [job_id])
    done = slurm(
        ["squeue", "--steps", f"--jobs={jobs}", "--noheader", "--format=%i|%j"]
    )
    ids: dict[str, str] = {}
    for line in done.stdout.splitlines():
        step_id, _, name = line.strip().partition("|")
        # A restarted step's predecessor may still be listed: keep the newest.
        if name and not step_id.endswith(".batch"):
            previous = ids.get(name)
            if previous is None or _step_number(step_id) > _step_number(previous):
                ids[name] = step_id
    return ids


def _step_number(step_id: str) -> int:
    try:
        return int(step_id.rsplit(".", 1)[1])
    except (IndexError, ValueError):
        return -1


def substitute(arg: str, values: dict) -> str:
    """Replaces {name} for the known names only; other braces stay as they are."""
    for name, value in values.items():
        arg = arg.replace("{" + name + "}", value)
    return arg


def slurm(argv: list[str]) -> subprocess.CompletedProcess:
    """Runs a Slurm client command; one that does not answer in time failed.

    Never raises for the command's sake: the driver must go on stopping the
    other steps whatever Slurm answers.
    """
    try:
        return slurm_commands.run(argv)
    except slurm_commands.CommandTimeoutError:
        return subprocess.CompletedProcess(argv, 1, "", "timed out")


def now() -> str:
    """Local time to the second, as the driver's log lines show it."""
    return datetime.datetime.now().isoformat(sep=" ", timespec="seconds")


def log(message: str) -> None:
    """A line of the driver's log (its stdout)."""
    print(f"{now()} {message}", flush=True)
