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

Seeds: experiments define `SEED = 0` and wire it to every stage's seed.
`--seeds=5` runs seed 5 in the layout above; several seeds run one after the
other, each an ordinary run directory with `SEED = k` bound (and so its own
starter buffer), then the launcher writes the across-seed summary:

    python -m launchers.run_experiment --gin_file=experiments/quickstart.gin \
        --root_dir=runs/quickstart_seeds --seeds=0,1,2

    <root_dir>/
      run.json                the seeds and each seed's status (launchers/seed_runs.py)
      summary.md              across seeds: mean, IQM and bootstrap 95% intervals,
                              the schedule, each seed's verdict (launchers/summary.py)
      results.csv             one row per seed, then one per across-seed statistic
      seed_<k>/               seed k's run directory (the layout above)

The terminal summary of one run is its per-season table against the
schedule and the verdict: does the policy beat the schedule on year-round
cost with comfort no worse (launchers/verdict.py); when it does not, how far
it got and the longer experiment to run (NEXT_EXPERIMENT). Of several
seeds: per metric, overall and per season, the policy's mean, IQM and 95%
bootstrap interval across seeds, the schedule's value, and each seed's
verdict.

Re-running into a finished root_dir does nothing and says so; into an
interrupted one, it resumes: finished stages are skipped, populate resumes
from its last complete run and train from its last commit; of several seeds,
complete seeds are skipped.

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

from launchers import distributed, experiment, run_records, seed_runs, summary
from smart_control.reinforcement_learning.scripts import gin_checks
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
# When a run of one of these experiments does not beat the schedule, its
# summary names the longer shipped experiment to run instead. Keyed by the
# experiment file as given to --gin_file (its path from `experiments/` on).
# `expected_wall_time_min`: measured wall time of the make target on 2 cores
# (end to end, minutes); None prints "not measured yet".
NEXT_EXPERIMENT: Dict[str, summary.NextExperiment] = {
    "experiments/quickstart.gin": summary.NextExperiment(
        gin_file="experiments/building_sac_long.gin",
        make_target="make run-long",
        # 20k train steps took 27-34 min with two runs sharing 2 cores (issue
        # 13's measurement), plus about 2 min of populate and evaluation.
        expected_wall_time_min=35,
    ),
}
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
        "seeds",
        None,
        "Seeds to run, e.g. 0,1,2 (binds the experiment's SEED macro); several "
        "seeds run in <root_dir>/seed_<k>/ and are summarized across seeds. "
        "Default: the experiment's SEED only.",
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
    name: str,
    command: List[str],
    log_path: str,
    record: Dict[str, Any],
    save,
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
                if echo and not _ABSL_INFO.match(line):  # details stay in the log
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
            log_path = os.path.join(logs, "eval.log")
            print(
                "[eval] the policy and the schedule on the evaluation set "
                f"(output: {log_path}; the table follows in the summary)",
                flush=True,
            )
            run_stage("eval", command, log_path, record, save, echo=False)
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
    seeds = seed_runs.parse_seeds(FLAGS.seeds)
    bindings = FLAGS.gin_bindings + binary.flag_bindings(_FLAG_TO_GIN)
    if seeds is not None and seed_runs.binds_seed(bindings):
        raise binary.UserError(
            "give the seed once: --seeds or a --gin_bindings of SEED, not both"
        )
    cache = (
        os.path.abspath(FLAGS.starter_buffer_cache)
        if FLAGS.starter_buffer_cache
        else None
    )
    # Parsing the experiment imports TensorFlow and the stages' modules: their
    # C++ logs go to <root_dir>/logs/native.log.
    with binary.quiet_native_logs(None):
        plans = plan_seeds(FLAGS.gin_file, bindings, seeds)
    several = len(plans) > 1
    seed_runs.check_layout(os.path.abspath(FLAGS.root_dir), several)
    # Only a checked experiment creates its run directory.
    root_dir = binary.make_output_dir(FLAGS.root_dir)
    binary.attach_native_log(root_dir)
    next_experiment = next_experiment_for(FLAGS.gin_file)
    if not several:
        (plan,) = plans.values()
        record = run(
            root_dir,
            plan,
            cache,
            FLAGS.stages,
            mode=FLAGS.mode,
            executor=FLAGS.executor,
        )
        _print_summary(root_dir, record, next_experiment)
        return 0
    record = run_seeds(
        root_dir, plans, cache, FLAGS.stages, mode=FLAGS.mode, executor=FLAGS.executor
    )
    _print_seeds_summary(root_dir, record, next_experiment)
    failed = [s for s, r in record["runs"].items() if r["status"] == "failed"]
    if failed:
        raise binary.UserError(
            f"seed(s) {', '.join(failed)} failed; see "
            f"{os.path.join(run_files.seed_run_dir(root_dir, int(failed[0])), run_files.LOGS_DIR)}"
        )
    return 0


def plan_seeds(
    gin_files: List[str], bindings: List[str], seeds: Optional[List[int]]
) -> Dict[Optional[int], experiment.Plan]:
    """The experiment planned once per seed ({None: plan} without --seeds).

    Raises:
      binary.UserError: if seeds are given but the experiment has no SEED
        macro to bind them to, or a seed's experiment does not plan.
    """
    if seeds is None:
        return {None: experiment.plan(gin_files, bindings)}
    if experiment.plan(gin_files, bindings).seed is None:
        raise binary.UserError(
            "--seeds: the experiment defines no SEED macro (experiments bind "
            "SEED = 0 and wire %SEED to every stage's seed)"
        )
    return {
        seed: experiment.plan(gin_files, bindings + [seed_runs.seed_binding(seed)])
        for seed in seeds
    }


def next_experiment_for(gin_files: List[str]) -> Optional[summary.NextExperiment]:
    """NEXT_EXPERIMENT's entry for the run's experiment files, if any."""
    for gin_file in gin_files:
        path = os.path.normpath(gin_file).replace(os.sep, "/")
        marker = path.rfind("experiments/")
        key = path[marker:] if marker >= 0 else path
        if key in NEXT_EXPERIMENT:
            return NEXT_EXPERIMENT[key]
    return None


def run_seeds(
    root_dir: str,
    plans: Dict[int, experiment.Plan],
    cache: Optional[str],
    stages: List[str],
    mode: str = "embedded",
    executor: str = "local",
) -> Dict[str, Any]:
    """Runs each seed's plan into seed_<k>/ (complete seeds skipped); returns run.json.

    A seed that fails is recorded and the next one runs; Ctrl-C stops them
    all. The across-seed summary.md and results.csv are written at the end
    from every seed evaluated so far.

    Raises:
      binary.UserError: if the seeds were evaluated on other episodes.
    """
    seeds = list(plans)
    fields = {
        "command": sys.argv,
        "gin_files": next(iter(plans.values())).gin_files,
        "gin_bindings": [
            b
            for b in next(iter(plans.values())).bindings
            if not seed_runs.binds_seed([b])
        ],
        "mode": mode,
        "host": socket.gethostname(),
        "git_commit": run_records.git_commit(),
    }
    record = seed_runs.write_record(root_dir, seeds, fields)
    try:
        for index, (seed, plan) in enumerate(plans.items(), start=1):
            seed_dir = run_files.seed_run_dir(root_dir, seed)
            if seed_runs.run_status(seed_dir) == "complete":
                print(f"[seed {seed}] complete: skipped ({seed_dir})", flush=True)
                continue
            print(f"[seed {seed}] run {index} of {len(seeds)}: {seed_dir}", flush=True)
            os.makedirs(seed_dir, exist_ok=True)
            try:
                run(seed_dir, plan, cache, stages, mode=mode, executor=executor)
            except binary.UserError as e:
                print(f"[seed {seed}] failed: {e}", file=sys.stderr, flush=True)
            record = seed_runs.write_record(root_dir, seeds)
    finally:
        record = seed_runs.write_record(root_dir, seeds, ended=True)
    try:
        outputs = summary.write_seed_outputs(
            root_dir,
            f"{root_dir}: seeds {', '.join(str(s) for s in seeds)}",
            seed_runs.seed_dirs(root_dir, seeds),
            seed_runs.statuses(root_dir, seeds),
        )
    except ValueError as e:
        raise binary.UserError(str(e)) from None
    record["summary"] = {
        "summary": outputs["summary"],
        "results": outputs["results"],
        "seeds_evaluated": sorted(outputs["reports"]),
    }
    run_records.write_json(os.path.join(root_dir, RUN_FILE), record)
    return record


def _ordered_stages(record: Dict[str, Any]) -> List[Any]:
    """(name, stage) in run order (run.json is written with sorted keys)."""
    order = list(experiment.STAGES)
    return sorted(
        record.get("stages", {}).items(),
        key=lambda item: order.index(item[0]) if item[0] in order else len(order),
    )


def _stage_times(record: Dict[str, Any]) -> str:
    parts = []
    for name, stage in _ordered_stages(record):
        took = f" {stage['wall_time_s']:.0f} s" if "wall_time_s" in stage else ""
        status = "" if stage["status"] == "complete" else f" {stage['status']}"
        parts.append(f"{name}{status}{took}")
    return ", ".join(parts)


def _print_summary(
    root_dir: str,
    record: Dict[str, Any],
    next_experiment: Optional[summary.NextExperiment] = None,
) -> None:
    print(f"Run {record['status']}: {root_dir}")
    for name, stage in _ordered_stages(record):
        took = f" in {stage['wall_time_s']} s" if "wall_time_s" in stage else ""
        print(f"  {name:9s} {stage['status']}{took}")
        if stage.get("mode") == "distributed":
            _print_distributed_summary(stage)
    report = summary.load_report(root_dir)
    if report:
        print()
        print(
            summary.format_one_run(
                report, summary.training_progress(root_dir), next_experiment
            ),
            end="",
        )
        print(f"  metrics: {summary.eval_report_path(root_dir)}")
    print(f"  TensorBoard: tensorboard --logdir={os.path.join(root_dir, 'train')}")


def _print_seeds_summary(
    root_dir: str,
    record: Dict[str, Any],
    next_experiment: Optional[summary.NextExperiment] = None,
) -> None:
    seeds = record["seeds"]
    print(f"Run {record['status']}: {root_dir} (seeds {', '.join(map(str, seeds))})")
    for seed in seeds:
        seed_dir = run_files.seed_run_dir(root_dir, seed)
        seed_record = run_records.read_json(os.path.join(seed_dir, RUN_FILE)) or {}
        status = seed_record.get("status", seed_runs.NOT_RUN)
        print(f"  seed {seed:<5d} {status:9s} {_stage_times(seed_record)}")
    reports = summary.load_seed_reports(seed_runs.seed_dirs(root_dir, seeds))
    if reports:
        print()
        print(summary.format_seed_table(summary.aggregate_seeds(reports)))
        print(summary.format_seed_verdicts(reports, next_experiment), end="")
    outputs = record.get("summary", {})
    for name in ("summary", "results"):
        if name in outputs:
            print(f"  {name}: {outputs[name]}")
    print(
        f"  TensorBoard: tensorboard --logdir={root_dir} (each seed_<k>/train is a run)"
    )


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
    binary.run(main, network=_network_default, gin_checks=gin_checks.GIN_CHECKS)


def _network_default() -> str:
    """private; shared with --executor=slurm (sbatch, and servers on other nodes)."""
    return binary.SHARED if FLAGS.executor == "slurm" else binary.PRIVATE


if __name__ == "__main__":
    run_main()
