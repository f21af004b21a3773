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
                              the schedule, each seed's verdict (launchers/seed_summary.py)
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

import functools
import os
import socket
import sys
from typing import Any, Dict, List, Optional

from absl import flags

from launchers import (
    experiment,
    run_records,
    run_report,
    seed_runs,
    stage_runs,
    summary,
)
from smart_control.reinforcement_learning.scripts import gin_checks
from smart_control.reinforcement_learning.utils import binary, native_logs, run_files

FLAGS = flags.FLAGS

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
        stage_runs.starter_buffer_dir(root_dir, cache, plan.populate_key)
        if plan.populate_key
        else None
    )
    logs = os.path.join(root_dir, run_files.LOGS_DIR)
    train_dir = os.path.join(root_dir, run_files.TRAIN_STAGE_DIR)
    try:
        if "populate" in stages and buffer_dir is None:
            print("[populate] the experiment has no populate stage; skipped")
        elif "populate" in stages:
            if stage_runs.buffer_is_complete(buffer_dir):
                print(f"[populate] reusing the complete starter buffer {buffer_dir}")
                record["stages"]["populate"] = {
                    "status": "complete",
                    "reused": buffer_dir,
                }
            else:
                stage_runs.run_stage(
                    "populate",
                    stage_runs.populate_command(plan, buffer_dir),
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
        starter = (
            buffer_dir
            if buffer_dir and stage_runs.buffer_is_complete(buffer_dir)
            else None
        )
        if "train" in stages and mode == "distributed":
            stage_runs.run_distributed_stage(
                root_dir, plan, starter, record, save, executor
            )
        elif "train" in stages:
            stage_runs.run_stage(
                "train",
                stage_runs.train_command(plan, train_dir, starter),
                os.path.join(logs, "train.log"),
                record,
                save,
            )
        if "eval" in stages:
            policy = os.path.join(train_dir, run_files.GREEDY_POLICY)
            if "train" not in stages and not os.path.isdir(policy):
                print(
                    "[eval] no trained policy in this run: evaluating the schedule baseline"
                )
                policy = "schedule"
            command = stage_runs.eval_command(
                plan, policy, os.path.join(root_dir, run_files.EVAL_REPORT_DIR)
            )
            log_path = os.path.join(logs, "eval.log")
            print(
                "[eval] the policy and the schedule on the evaluation set "
                f"(output: {log_path}; the table follows in the summary)",
                flush=True,
            )
            stage_runs.run_stage("eval", command, log_path, record, save, echo=False)
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
    with native_logs.quiet_native_logs(None):
        plans = seed_runs.plan_seeds(FLAGS.gin_file, bindings, seeds)
    several = len(plans) > 1
    seed_runs.check_layout(os.path.abspath(FLAGS.root_dir), several)
    # Only a checked experiment creates its run directory.
    root_dir = binary.make_output_dir(FLAGS.root_dir)
    native_logs.attach_native_log(root_dir)
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
        run_report.print_summary(root_dir, record, next_experiment)
        return 0
    run_one = functools.partial(
        run, cache=cache, stages=FLAGS.stages, mode=FLAGS.mode, executor=FLAGS.executor
    )
    record = seed_runs.run_seeds(root_dir, plans, run_one, mode=FLAGS.mode)
    run_report.print_seeds_summary(root_dir, record, next_experiment)
    failed = [s for s, r in record["runs"].items() if r["status"] == "failed"]
    if failed:
        raise binary.UserError(
            f"seed(s) {', '.join(failed)} failed; see "
            f"{os.path.join(run_files.seed_run_dir(root_dir, int(failed[0])), run_files.LOGS_DIR)}"
        )
    return 0


def next_experiment_for(gin_files: List[str]) -> Optional[summary.NextExperiment]:
    """NEXT_EXPERIMENT's entry for the run's experiment files, if any."""
    for gin_file in gin_files:
        path = os.path.normpath(gin_file).replace(os.sep, "/")
        marker = path.rfind("experiments/")
        key = path[marker:] if marker >= 0 else path
        if key in NEXT_EXPERIMENT:
            return NEXT_EXPERIMENT[key]
    return None


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
