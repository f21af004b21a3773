r"""Runs one experiment: populate -> train -> eval, as separate processes.

    python -m launchers.run_experiment --gin_file=experiments/quickstart.gin \
        --root_dir=runs/quickstart [--gin_bindings='ReplayBufferManager.capacity = 10000']

Every stage process parses the same experiment files and the same bindings
(see launchers/experiment.py): a binding given here reaches every stage that
has its configurable, and a name no stage knows is an error before anything
starts. The run directory is the unit of reproducibility:

    <root_dir>/
      run.json                command line, gin files and bindings, seed,
                              package versions, git commit, host, start/end,
                              status, and per stage: status, times, command, log
      experiment.gin          the experiment as parsed (every setting)
      starter_buffer.json     which starter buffer the run used (path, populate
                              key, content hash)
      starter_buffer/         the starter buffer (unless --starter_buffer_cache
                              points to a shared one, as sweeps do)
      train/                  train.py's run directory (checkpoints, summaries,
                              policies, replay buffer, operative_config.gin)
      eval_report/            eval.py's metrics.json, plots/, operative_config.gin
      logs/<stage>.log        each stage's terminal output

With --mode=distributed the train stage is a Reverb server, collectors and a
trainer as separate processes (launchers/distributed.py; the topology is
gin: topology/distributed.gin, DistributedTopology.*):

    python -m launchers.run_experiment --gin_file=experiments/quickstart.gin \
        --root_dir=runs/dist --mode=distributed --num_collectors=2

It adds logs/server.log, logs/collector-<k>.log, logs/trainer.log and
train/collect/task_<k>/ (collector summaries and stats.json); run.json's
train stage records every process's pids, exit codes and restarts.

Re-running into a finished root_dir does nothing and says so; into an
interrupted one, it resumes: finished stages are skipped, populate resumes
from its last complete run and train from its last commit.

What is reproducible: the same experiment and seed give a starter buffer with
the same contents (populate.json's content hash) and the same schedule
baseline evaluation. Training is not bit-reproducible: Reverb samples items
with its own unseeded random generator and TF's CPU kernels run in parallel;
run.json records this.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from absl import flags

from launchers import distributed, experiment, run_records
from smart_control.reinforcement_learning.utils import binary, run_files

FLAGS = flags.FLAGS

SCRIPTS = "smart_control.reinforcement_learning.scripts"
_ABSL_INFO = re.compile(r"^I\d{4} ")
RUN_FILE = run_files.RUN_FILE
STARTER_BUFFER_FILE = run_files.STARTER_BUFFER_FILE
NOT_BIT_REPRODUCIBLE = (
    "Reverb samples items with an unseeded random generator and TensorFlow's CPU "
    "kernels reduce in parallel, so training differs between reruns; the starter "
    "buffer contents and the schedule-baseline evaluation are reproducible."
)
# Flags that name a gin setting of the experiment.
_FLAG_TO_GIN = {
    "num_collectors": "DistributedTopology.num_collectors",
    "restart": "DistributedTopology.restart",
}


def define_flags() -> None:
    binary.define_common_flags(
        root_dir_help="The run directory (created; resumed if it exists)."
    )
    flags.DEFINE_string(
        "starter_buffer_cache",
        None,
        "Directory of shared starter buffers, one per populate config "
        "(<cache>/<populate key>); default: the run's own starter_buffer/.",
    )
    flags.DEFINE_list(
        "stages",
        list(experiment.STAGES),
        "Stages to run, in order: populate,train,eval.",
    )
    flags.DEFINE_enum(
        "mode",
        "embedded",
        ["embedded", "distributed"],
        "embedded: train is one process (collect and learn in turn); distributed: "
        "a Reverb server, collectors and a trainer process.",
    )
    flags.DEFINE_enum(
        "executor",
        "local",
        ["local", "slurm"],
        "Where --mode=distributed runs its processes: local (this machine, "
        "under a supervisor) or slurm (one Slurm job whose steps Slurm places "
        "on its nodes; configs/topology/slurm.gin).",
    )
    flags.DEFINE_integer(
        "num_collectors",
        None,
        "Collector processes in --mode=distributed "
        f"(gin: {_FLAG_TO_GIN['num_collectors']}, default 2).",
    )
    flags.DEFINE_boolean(
        "restart",
        None,
        "In --mode=distributed, restart a process that dies (--norestart: report "
        "it; a dead trainer or server then fails the run) "
        f"(gin: {_FLAG_TO_GIN['restart']}, default True).",
    )


def gin_args(plan: experiment.Plan) -> List[str]:
    """The gin flags every stage process of the run gets."""
    return [f"--gin_file={f}" for f in plan.gin_files] + [
        f"--gin_bindings={b}" for b in plan.bindings
    ]


def starter_buffer_dir(root_dir: str, cache: Optional[str], key: str) -> str:
    return (
        os.path.join(cache, key)
        if cache
        else os.path.join(root_dir, run_files.STARTER_BUFFER_DIR)
    )


def populate_command(plan: experiment.Plan, buffer_dir: str) -> List[str]:
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


def buffer_is_complete(buffer_dir: str) -> bool:
    state = run_records.read_json(
        os.path.join(buffer_dir, run_files.POPULATE_STATE_FILE)
    )
    return bool(state) and state.get("status") == "complete"


def run_stage(
    name: str, command: List[str], log_path: str, record: Dict[str, Any], save
) -> None:
    """Runs one stage binary, teeing its output to the terminal and its log."""
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
                if not _ABSL_INFO.match(line):  # details stay in the log
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


def run(
    root_dir: str,
    plan: experiment.Plan,
    cache: Optional[str],
    stages: List[str],
    mode: str = "embedded",
    executor: str = "local",
) -> Dict[str, Any]:
    """Runs the stages of a planned experiment into `root_dir`; returns run.json."""
    run_path = os.path.join(root_dir, RUN_FILE)
    record = run_records.read_json(run_path)
    if record and record.get("status") == "complete":
        print(
            f"Run {root_dir} is already complete (finished {record.get('ended_at')}); nothing to do."
        )
        return record
    resumed = record is not None
    record = record or {"stages": {}, "started_at": run_records.now()}
    record.update(
        command=sys.argv,
        gin_files=plan.gin_files,
        gin_bindings=plan.bindings,
        seed=plan.seed,
        populate_key=plan.populate_key,
        mode=mode,
        executor=executor if mode == "distributed" else None,
        host=socket.gethostname(),
        versions=run_records.package_versions(),
        git_commit=run_records.git_commit(),
        reproducibility=NOT_BIT_REPRODUCIBLE,
        network=binary.network_status().to_json(),
        status="running",
        resumed_at=run_records.now() if resumed else None,
    )

    def save() -> None:
        run_records.write_json(run_path, record)

    os.makedirs(root_dir, exist_ok=True)
    save()
    with open(os.path.join(root_dir, run_files.EXPERIMENT_CONFIG_FILE), "w") as f:
        f.write(plan.config)
    buffer_dir = (
        starter_buffer_dir(root_dir, cache, plan.populate_key)
        if plan.populate_key
        else None
    )
    logs = os.path.join(root_dir, run_files.LOGS_DIR)
    train_dir = os.path.join(root_dir, run_files.TRAIN_STAGE_DIR)
    try:
        if "populate" in stages and buffer_dir is None:
            print("[populate] the experiment has no populate stage; skipped")
        elif "populate" in stages:
            if buffer_is_complete(buffer_dir):
                print(f"[populate] reusing the complete starter buffer {buffer_dir}")
                record["stages"]["populate"] = {
                    "status": "complete",
                    "reused": buffer_dir,
                }
            else:
                run_stage(
                    "populate",
                    populate_command(plan, buffer_dir),
                    os.path.join(logs, "populate.log"),
                    record,
                    save,
                )
            state = run_records.read_json(
                os.path.join(buffer_dir, run_files.POPULATE_STATE_FILE)
            )
            run_records.write_json(
                os.path.join(root_dir, STARTER_BUFFER_FILE),
                {
                    "path": buffer_dir,
                    "populate_key": plan.populate_key,
                    "content_hash": state["content_hash"],
                    "frames": state["frames"],
                },
            )
            record["starter_buffer"] = {
                "path": buffer_dir,
                "content_hash": state["content_hash"],
            }
        starter = buffer_dir if buffer_dir and buffer_is_complete(buffer_dir) else None
        if "train" in stages and mode == "distributed":
            run_distributed_stage(root_dir, plan, starter, record, save, executor)
        elif "train" in stages:
            command = [
                sys.executable,
                "-m",
                f"{SCRIPTS}.train",
                f"--root_dir={train_dir}",
                *gin_args(plan),
            ]
            if starter:
                command.append(f"--starter_buffer={starter}")
            run_stage("train", command, os.path.join(logs, "train.log"), record, save)
        if "eval" in stages:
            policy = os.path.join(train_dir, run_files.GREEDY_POLICY)
            if "train" not in stages and not os.path.isdir(policy):
                print(
                    "[eval] no trained policy in this run: evaluating the schedule baseline"
                )
                policy = "schedule"
            command = [
                sys.executable,
                "-m",
                f"{SCRIPTS}.eval",
                f"--policy={policy}",
                f"--root_dir={os.path.join(root_dir, run_files.EVAL_REPORT_DIR)}",
                *gin_args(plan),
            ]
            run_stage("eval", command, os.path.join(logs, "eval.log"), record, save)
    except BaseException:
        record["status"] = "interrupted" if not _failed(record) else "failed"
        record["ended_at"] = run_records.now()
        save()
        raise
    record["status"] = (
        "complete" if set(stages) == set(experiment.STAGES) else "partial"
    )
    record["ended_at"] = run_records.now()
    save()
    return record


def run_distributed_stage(
    root_dir: str,
    plan: experiment.Plan,
    starter_buffer: Optional[str],
    record: Dict[str, Any],
    save,
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


def _failed(record) -> bool:
    return any(s.get("status") == "failed" for s in record["stages"].values())


def main(argv):
    binary.check_no_arguments(argv)
    binary.require_gin_file("experiments/quickstart.gin")
    if not FLAGS.root_dir:
        raise binary.UserError("--root_dir is required")
    if FLAGS.executor == "slurm" and FLAGS.mode != "distributed":
        raise binary.UserError("--executor=slurm needs --mode=distributed")
    unknown = set(FLAGS.stages) - set(experiment.STAGES)
    if unknown:
        raise binary.UserError(f"--stages: unknown stage(s) {sorted(unknown)}")
    cache = (
        os.path.abspath(FLAGS.starter_buffer_cache)
        if FLAGS.starter_buffer_cache
        else None
    )
    # Parsing the experiment imports TensorFlow and the stages' modules: their
    # C++ logs go to <root_dir>/logs/native.log.
    with binary.quiet_native_logs(None):
        plan = experiment.plan(
            FLAGS.gin_file, FLAGS.gin_bindings + binary.flag_bindings(_FLAG_TO_GIN)
        )
    # Only a checked experiment creates its run directory.
    root_dir = binary.make_output_dir(FLAGS.root_dir)
    binary.attach_native_log(root_dir)
    record = run(
        root_dir, plan, cache, FLAGS.stages, mode=FLAGS.mode, executor=FLAGS.executor
    )
    _print_summary(root_dir, record)
    return 0


def _print_summary(root_dir: str, record: Dict[str, Any]) -> None:
    print(f"Run {record['status']}: {root_dir}")
    for name, stage in record["stages"].items():
        took = f" in {stage['wall_time_s']} s" if "wall_time_s" in stage else ""
        print(f"  {name:9s} {stage['status']}{took}")
        if stage.get("mode") == "distributed":
            _print_distributed_summary(stage)
    metrics = run_records.read_json(
        os.path.join(root_dir, "eval_report", "metrics.json")
    )
    if metrics:
        for name, result in metrics["results"].items():
            mean = result["mean"]
            print(
                f"  eval {name:9s} return {mean['return']:.2f}"
                + (
                    f", comfort {mean['comfort_violation_degree_hours']:.1f} K.h"
                    if "comfort_violation_degree_hours" in mean
                    else ""
                )
            )
    print(f"  TensorBoard: tensorboard --logdir={os.path.join(root_dir, 'train')}")


def _print_distributed_summary(stage: Dict[str, Any]) -> None:
    processes = (stage.get("processes") or {}).get("processes", {})
    collectors = stage.get("collectors") or {}
    for name, process in processes.items():
        text = f"    {name:12s} restarts {process['restarts']}"
        stats = collectors.get(name)
        if stats:
            text += (
                f", {stats['env_steps']:,} env steps, {stats['items_written']:,} items "
                f"written, {stats['weight_updates']} weight updates, "
                f"{stats['replay_server_outages']} server outages survived"
            )
        trainer = stage.get("trainer")
        if name == "trainer" and trainer:
            text += (
                f", {trainer['train_step']:,} train steps, "
                f"{trainer['weight_pushes']} weight pushes, buffer "
                f"{trainer['replay_buffer_frames']:,} items"
            )
        print(text)


def run_main() -> None:
    """Console entry point (smart-control-run-experiment)."""
    define_flags()
    # The run's Reverb servers (populate's, train's, a distributed run's
    # server) are reachable only by the run's own processes: the launcher
    # enters a private network namespace that every stage inherits; except
    # when Slurm places the processes on other machines.
    binary.run(main, network=_network_default)


def _network_default() -> str:
    """private; shared with --executor=slurm (sbatch, and servers on other nodes)."""
    return binary.SHARED if FLAGS.executor == "slurm" else binary.PRIVATE


if __name__ == "__main__":
    run_main()
