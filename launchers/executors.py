"""Executors that run sweep points as jobs: locally, or as one Slurm job array.

A `Job` is a command line and a log path; an executor runs a list of them and
returns one `JobResult` per job, in the same order, once every job has ended.
Both executors write each job's stdout and stderr to its `log_path` (parent
directories are created, an old log is overwritten) and nothing else there:
whether a job's own outputs are complete is for the job to record (a sentinel
written last), never inferred from the log.

`SlurmExecutor` also keeps submitit's bookkeeping under its `folder`:

    folder/
      <array_id>_submission.sh           the sbatch script of the array
      <array_id>_<task>_submitted.pkl    the pickled Job of each array task
      <array_id>_<task>_0_log.out, .err  submitit's own logs of each array task
      <array_id>_<task>_0_result.pkl     each task's return code (written last)

(A single job is submitted as a plain job: <job_id>_submission.sh, ...)

Interrupting `run` (Ctrl-C) stops the jobs it started, the local children by
SIGTERM then SIGKILL after a grace period, the Slurm array by `scancel`, and
re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Sequence

import gin
from absl import logging

from launchers import output_tee, process_utils, slurm_commands

# Part of this module's API (launchers/slurm_commands.py has them).
SlurmUnavailableError = slurm_commands.SlurmUnavailableError
check_slurm_reachable = slurm_commands.check_reachable

COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"

# Seconds between two checks of the local children.
_LOCAL_POLL_INTERVAL_S = 0.1
# Seconds a job started by a Slurm task gets between SIGTERM and SIGKILL when
# the task is stopped (submitit's time-out signal).
_SLURM_TASK_KILL_GRACE_S = 10.0
# Seconds to wait for cancelled jobs to leave squeue after an interrupt (they
# get Slurm's KillWait between SIGTERM and SIGKILL).
_SLURM_CANCEL_WAIT_S = 120
# Signals by which a job is stopped from outside rather than failing itself.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGKILL, signal.SIGHUP)


@dataclasses.dataclass
class Job:
    """One command to run.

    Attributes:
      name: Short unique name, e.g. "point-003".
      argv: The full command, e.g. [sys.executable, "-m",
        "launchers.run_experiment", "--root_dir=...", ...].
      log_path: File receiving the command's stdout and stderr.
      cwd: Working directory of the command; None: the executor's.
    """

    name: str
    argv: list[str]
    log_path: str
    cwd: str | None = None


@dataclasses.dataclass
class JobResult:
    """How a job ended.

    Attributes:
      name: The job's name.
      returncode: The command's exit code; None when it did not finish by
        itself (cancelled, killed by a signal, timed out, or never started).
      log_path: The job's log (stdout and stderr).
      state: COMPLETED (exit code 0), FAILED (any other exit code, or the
        command could not run), CANCELLED (stopped by a signal or `scancel`),
        or another Slurm state such as TIMEOUT, OUT_OF_MEMORY or NODE_FAIL.
    """

    name: str
    returncode: int | None
    log_path: str
    state: str


@gin.configurable
class LocalExecutor:
    """Runs jobs as subprocesses of this process, at most `max_parallel` at once.

    Each job runs in its own session (process group), so Ctrl-C in a terminal
    reaches only this process, which then stops every running job's process
    group: SIGTERM, then SIGKILL after `kill_grace_s`.
    """

    def __init__(self, max_parallel: int = 1, kill_grace_s: float = 10.0):
        """Initializes the executor.

        Args:
          max_parallel: Most jobs running at once.
          kill_grace_s: Seconds between SIGTERM and SIGKILL when jobs are
            stopped by an interrupt; 0: SIGKILL at once.

        Raises:
          ValueError: If `max_parallel` < 1 or `kill_grace_s` < 0.
        """
        if max_parallel < 1:
            raise ValueError(f"max_parallel must be >= 1, got {max_parallel}")
        if kill_grace_s < 0:
            raise ValueError(f"kill_grace_s must be >= 0, got {kill_grace_s}")
        self.max_parallel = max_parallel
        self.kill_grace_s = kill_grace_s

    def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Runs every job and waits for all of them.

        Args:
          jobs: The jobs, started in this order.

        Returns:
          One result per job, in the order of `jobs`.

        Raises:
          KeyboardInterrupt: Re-raised after the running jobs were stopped.
        """
        results: dict[int, JobResult] = {}
        running: dict[int, subprocess.Popen] = {}
        pending = collections.deque(enumerate(jobs))
        # Ctrl-C is raised here, between two polls, never inside Popen.poll().
        with process_utils.DeferredSignals() as signals:
            try:
                while pending or running:
                    signals.deliver()
                    while pending and len(running) < self.max_parallel:
                        index, job = pending.popleft()
                        try:
                            running[index] = _start(job)
                        except OSError:
                            results[index] = JobResult(
                                job.name, None, job.log_path, FAILED
                            )
                    for index, process in list(running.items()):
                        if process.poll() is not None:
                            del running[index]
                            results[index] = _result(jobs[index], process.returncode)
                    if running:
                        time.sleep(_LOCAL_POLL_INTERVAL_S)
            except BaseException as error:
                # A second Ctrl-C cuts the grace period short.
                process_utils.stop_groups(
                    running.values(), self.kill_grace_s, hurry=signals.pending
                )
                for index in running:
                    _note(jobs[index], f"stopped by the executor: {error!r}")
                raise
        return [results[index] for index in range(len(jobs))]


@gin.configurable(denylist=["folder"])
class SlurmExecutor:
    """Submits jobs as one Slurm job array through submitit and waits for them.

    Each array task runs one job's argv as a subprocess (output to its
    log_path) and returns its exit code. Job states come from Slurm
    accounting (`sacct`), so the cluster needs slurmdbd.
    """

    def __init__(
        self,
        folder: str,
        partition: str | None = None,
        timeout_min: int = 24 * 60,
        cpus_per_task: int = 2,
        mem_gb: float = 8.0,
        array_parallelism: int = 256,
        job_name: str = "smart_control",
        poll_interval_s: float = 10.0,
    ):
        """Initializes the executor; nothing is checked on the cluster yet.

        Args:
          folder: Directory for submitit's scripts, pickles and logs.
          partition: Slurm partition; None: the cluster's default partition.
          timeout_min: Time limit of each array task, in minutes.
          cpus_per_task: CPUs of each array task.
          mem_gb: Memory of each array task, in GB.
          array_parallelism: Most array tasks running at once.
          job_name: Slurm job name of the array (shown by squeue and sacct).
          poll_interval_s: Seconds between two `sacct` queries while waiting;
            also the longest delay before a cancelled task is noticed.

        Raises:
          ValueError: If a number is out of range or `folder` is empty.
        """
        if not folder:
            raise ValueError(f"folder must be a directory path, got {folder!r}")
        for name, value in (
            ("timeout_min", timeout_min),
            ("cpus_per_task", cpus_per_task),
            ("mem_gb", mem_gb),
            ("array_parallelism", array_parallelism),
            ("poll_interval_s", poll_interval_s),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.folder = folder
        self.partition = partition
        self.timeout_min = timeout_min
        self.cpus_per_task = cpus_per_task
        self.mem_gb = mem_gb
        self.array_parallelism = array_parallelism
        self.job_name = job_name
        self.poll_interval_s = poll_interval_s

    def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Submits every job as one array task and waits for all of them.

        Args:
          jobs: The jobs; task i of the array runs jobs[i].

        Returns:
          One result per job, in the order of `jobs`.

        Raises:
          SlurmUnavailableError: If `srun` is not on PATH, or the controller,
            the partition or the accounting database cannot be reached.
          KeyboardInterrupt: Re-raised after the array was cancelled.
        """
        if not jobs:
            return []
        submitit = _import_submitit()
        check_slurm_reachable(self.partition)
        executor = submitit.AutoExecutor(folder=self.folder, cluster="slurm")
        executor.update_parameters(
            name=self.job_name,
            timeout_min=self.timeout_min,
            cpus_per_task=self.cpus_per_task,
            mem_gb=self.mem_gb,
            slurm_partition=self.partition,
            slurm_array_parallelism=self.array_parallelism,
            # Tasks import this module to unpickle their Job, whatever
            # directory the sweep was started from.
            slurm_setup=[slurm_commands.PYTHONPATH_EXPORT],
        )
        tasks = executor.map_array(_run_in_slurm_task, list(jobs))
        try:
            self._wait(tasks)
        except BaseException:
            _cancel_and_wait(sorted({task.job_id.split("_")[0] for task in tasks}))
            raise
        return [_slurm_result(job, task, submitit) for job, task in zip(jobs, tasks)]

    def _wait(self, tasks: Sequence) -> None:
        """Returns when every task wrote its result or Slurm says it ended."""
        pending = list(tasks)
        while pending:
            # One `sacct` call refreshes the states of every unfinished task;
            # submitit's own schedule would wait up to 10 minutes between calls.
            pending[0].get_info(mode="force")
            pending = [task for task in pending if not task.done()]
            if pending:
                time.sleep(self.poll_interval_s)


def slurm_defaults() -> dict:
    """SlurmExecutor's code defaults, by argument name (what runs unbound)."""
    import inspect

    return {
        name: parameter.default
        for name, parameter in inspect.signature(
            SlurmExecutor.__init__
        ).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def _cancel_and_wait(array_ids: list[str]) -> None:
    """Cancels Slurm jobs and waits (bounded) until squeue no longer lists them.

    Waiting keeps a resume started right after an interrupt from running a
    point whose cancelled task is still being killed.
    """
    logging.warning("Cancelling Slurm job(s) %s; waiting for them to end.", array_ids)
    try:
        slurm_commands.run(["scancel", *array_ids])
        deadline = time.monotonic() + _SLURM_CANCEL_WAIT_S
        while time.monotonic() < deadline:
            if not slurm_commands.queued(array_ids):
                return
            time.sleep(1)
    except slurm_commands.CommandTimeoutError as error:
        logging.warning("%s", error)
    logging.warning("Slurm job(s) %s still listed by squeue.", array_ids)


def _import_submitit():
    try:
        import submitit
    except ImportError as error:
        raise ImportError(
            "SlurmExecutor needs submitit: pip install 'submitit>=1.5.4,<2'"
        ) from error
    return submitit


def _start(job: Job) -> subprocess.Popen:
    """Starts a job in its own session, output to its log.

    Raises:
      OSError: If the log cannot be written or the command cannot start (the
        error is written to the log when possible).
    """
    os.makedirs(os.path.dirname(os.path.abspath(job.log_path)), exist_ok=True)
    with open(job.log_path, "wb") as log:
        try:
            return process_utils.start_in_session(job.argv, log, cwd=job.cwd)
        except OSError as error:
            log.write(f"[executor] cannot start {job.argv!r}: {error}\n".encode())
            raise


def _note(job: Job, message: str) -> None:
    """Appends an executor message to a job's log."""
    output_tee.append_to_log(job.log_path, f"\n[executor] {message}\n")


def _result(job: Job, returncode: int) -> JobResult:
    """Maps a subprocess exit code (negative: killed by that signal) to a result."""
    if returncode == 0:
        return JobResult(job.name, 0, job.log_path, COMPLETED)
    if returncode > 0:
        return JobResult(job.name, returncode, job.log_path, FAILED)
    state = CANCELLED if -returncode in _STOP_SIGNALS else FAILED
    return JobResult(job.name, None, job.log_path, state)


def _run_in_slurm_task(job: Job) -> int:
    """Runs one job inside a Slurm array task; returns its exit code.

    If submitit interrupts the task (its time-out signal raises an exception
    here), the job is stopped before the exception reaches submitit, so no job
    outlives its task's result.
    """
    process = _start(job)
    try:
        return process.wait()
    except BaseException as error:
        process_utils.stop_groups([process], _SLURM_TASK_KILL_GRACE_S)
        _note(job, f"stopped by the Slurm task: {error!r}")
        raise


def _slurm_result(job: Job, task, submitit) -> JobResult:
    """Maps a finished submitit array task to a result."""
    # "CANCELLED by 0" -> "CANCELLED"; UNKNOWN while sacct has no record yet.
    state = slurm_commands.base_state(task.state)
    if not task.paths.result_pickle.exists() and state not in (COMPLETED, "UNKNOWN"):
        # Ended from outside (scancel, time limit, node failure): no result will
        # come, so do not let submitit wait for one.
        return JobResult(job.name, None, job.log_path, state)
    try:
        returncode = task.result()
    except submitit.core.utils.UncompletedJobError:
        # No result although Slurm may say COMPLETED: the task did not finish.
        state = slurm_commands.base_state(task.state)
        return JobResult(
            job.name, None, job.log_path, FAILED if state == COMPLETED else state
        )
    except submitit.core.utils.FailedJobError:
        # The task raised: the command could not start, or submitit stopped the
        # task (time-out); the reason is at the end of the job's log.
        return JobResult(job.name, None, job.log_path, FAILED)
    return _result(job, returncode)
