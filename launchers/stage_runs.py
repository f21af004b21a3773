"""One experiment's stages as processes: their commands, running them, recording them.

run_experiment (launchers/run_experiment.py) decides which stages a run
needs; this module builds each stage's command line (every stage gets the
run's gin files and bindings), runs it with its output teed to the terminal
and to logs/<stage>.log, and records its status, times, command and exit
code in the run's run.json as it goes, so that an interrupted run resumes
where it stopped. The distributed train stage (server, collectors, trainer)
is launchers/distributed.py's; here it is started, awaited and recorded like
the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from launchers import distributed, experiment, output_tee, run_records
from smart_control.reinforcement_learning.utils import binary, run_files

# The stage binaries' package (one name for every launcher's commands).
SCRIPTS = distributed.SCRIPTS


def gin_args(plan: experiment.Plan) -> List[str]:
    """The gin flags every stage process of the run gets."""
    return [f"--gin_file={f}" for f in plan.gin_files] + [
        f"--gin_bindings={b}" for b in plan.bindings
    ]


def starter_buffer_dir(root_dir: str, cache: Optional[str], key: str) -> str:
    """The starter buffer of populate key `key`: in `cache`, else the run's own."""
    return (
        os.path.join(cache, key)
        if cache
        else os.path.join(root_dir, run_files.STARTER_BUFFER_DIR)
    )


def populate_command(plan: experiment.Plan, buffer_dir: str) -> List[str]:
    """The populate stage's command (resuming a buffer that already exists)."""
    resume = ["--resume"] if os.path.exists(buffer_dir) else []
    return [
        sys.executable,
        "-m",
        f"{SCRIPTS}.populate_starter_buffer",
        f"--root_dir={buffer_dir}",
        "--noprogress",
        *resume,
        *gin_args(plan),
    ]


def train_command(
    plan: experiment.Plan, train_dir: str, starter_buffer: Optional[str]
) -> List[str]:
    """The embedded train stage's command (from `starter_buffer` if given)."""
    command = [
        sys.executable,
        "-m",
        f"{SCRIPTS}.train",
        f"--root_dir={train_dir}",
        *gin_args(plan),
    ]
    if starter_buffer:
        command.append(f"--starter_buffer={starter_buffer}")
    return command


def eval_command(plan: experiment.Plan, policy: str, report_dir: str) -> List[str]:
    """The eval stage's command: `policy` (a saved policy or "schedule")."""
    return [
        sys.executable,
        "-m",
        f"{SCRIPTS}.eval",
        f"--policy={policy}",
        f"--root_dir={report_dir}",
        *gin_args(plan),
    ]


def buffer_is_complete(buffer_dir: str) -> bool:
    """Whether populate finished the starter buffer in `buffer_dir`."""
    state = run_records.read_json(
        os.path.join(buffer_dir, run_files.POPULATE_STATE_FILE)
    )
    return bool(state) and state.get("status") == "complete"


def run_stage(
    name: str,
    command: List[str],
    log_path: str,
    record: Dict[str, Any],
    save: Callable[[], None],
    echo: bool = True,
) -> None:
    """Runs one stage binary, teeing its output to the terminal and its log.

    With `echo` False its output goes to the log only (the eval stage: its
    table is the run's summary, printed once at the end).
    """
    stage = record["stages"].setdefault(name, {})
    stage.update(
        status="running", command=command, log=log_path, started_at=run_records.now()
    )
    save()
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    started = time.time()
    print(f"[{name}] {' '.join(command[2:4])} ...", flush=True)
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        try:
            for line in process.stdout:
                log.write(line)
                # absl INFO lines are details: they stay in the log
                if echo and not output_tee.ABSL_INFO.match(line):
                    sys.stdout.write(f"[{name}] {line}")
            returncode = process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait(timeout=60)
            stage.update(status="interrupted", ended_at=run_records.now())
            save()
            raise
    stage.update(
        ended_at=run_records.now(),
        wall_time_s=round(time.time() - started, 1),
        returncode=returncode,
    )
    if returncode != 0:
        stage["status"] = "failed"
        save()
        raise binary.UserError(
            f"stage {name} failed (exit {returncode}); see {log_path}"
        )
    stage["status"] = "complete"
    save()


def run_distributed_stage(
    root_dir: str,
    plan: experiment.Plan,
    starter_buffer: Optional[str],
    record: Dict[str, Any],
    save: Callable[[], None],
    executor: str = "local",
) -> None:
    """The train stage as server + collectors + trainer processes.

    executor "local": on this machine under launchers/supervisor.py;
    "slurm": as one Slurm job (launchers/slurm_job.py).
    """
    train_dir = os.path.join(root_dir, run_files.TRAIN_STAGE_DIR)
    stage = record["stages"].setdefault("train", {})
    stage.update(status="running", started_at=run_records.now())
    stage.pop("ended_at", None)
    save()
    where = "one Slurm job" if executor == "slurm" else "this machine"
    print(
        f"[train] distributed on {where}: Reverb server, {plan.num_collectors} "
        f"collector(s), trainer (logs in {os.path.join(root_dir, run_files.LOGS_DIR)})",
        flush=True,
    )
    started = time.time()
    try:
        if executor == "slurm":
            summary = distributed.run_distributed_train_on_slurm(
                root_dir, gin_args(plan), starter_buffer, stage, save
            )
        else:
            summary = distributed.run_distributed_train(
                train_dir,
                os.path.join(root_dir, run_files.LOGS_DIR),
                gin_args(plan),
                starter_buffer,
                stage,
                save,
            )
    except KeyboardInterrupt:
        stage.update(status="interrupted", ended_at=run_records.now())
        save()
        raise
    except distributed.supervisor.StartupError as e:
        stage.update(status="failed", ended_at=run_records.now())
        save()
        raise binary.UserError(f"stage train failed to start: {e}") from None
    stage.update(
        ended_at=run_records.now(), wall_time_s=round(time.time() - started, 1)
    )
    if summary["outcome"] != distributed.supervisor.SUCCESS:
        stage["status"] = "failed"
        save()
        raise binary.UserError(
            f"stage train failed ({summary.get('reason')}); see "
            f"{os.path.join(root_dir, run_files.LOGS_DIR)}"
        )
    stage["status"] = "complete"
    save()
