r"""Sweeps gin bindings: each point is a run_experiment job in its own run dir.

    python -m launchers.sweep --gin_file=experiments/quickstart.gin \
        --sweep='ReplayBufferManager.capacity=[10000, 50000, 200000]' \
        --root_dir=runs/capacity_sweep [--seeds=0,1,2] \
        [--executor=local --max_parallel=2]

`--sweep` is repeatable (the points are the Cartesian product); `--sweep_file`
reads the same `name=[values]` lines from a file. A swept name is any gin
setting (`Configurable.param`, `scope/Configurable.param`) or macro; each
point's bindings reach every stage process of its run. Every point is
checked before anything runs. Points whose populate stage would be the same
(launchers/experiment.py: a dry run's operative config) share one starter
buffer, populated once before the points run; a sweep over the building
populates one buffer per building.

Seeds: `--seeds=0,1,2`, or the same as an axis `--sweep='SEED=[0, 1, 2]'`,
runs every point with each seed (`SEED = k` bound; each seed its own starter
buffer). A point of several seeds is laid out as `run_experiment --seeds`
lays out a run (`points/p000/seed_<k>/`, and the point's across-seed
summary.md, results.csv, run.json); each seed is a job of its own, so seeds
run in parallel like points. The sweep's results.csv, plots and summary.md
give every point across its seeds (launchers/sweep_results.py).

`--executor=slurm` submits the same jobs as a Slurm job array (submitit); its
knobs are gin (`SlurmExecutor.*`), the --slurm_* flags set them, and the
operative values are written into sweep.json.

    <root_dir>/
      sweep.json              the sweep: experiment, bindings, points, status
      starter_buffers/<key>/  shared starter buffers, by populate key
      points/p000/ ...        one run_experiment run directory per point
                              (with seeds: points/p000/seed_<k>/ per seed)
      logs/p000.log ...       each job's output (p000-seed_<k>.log with seeds)
      results.csv             one row per point: swept values, seeds, status,
                              across its seeds the mean, IQM and 95% bootstrap
                              intervals of every metric of the policy, the
                              schedule and their difference, overall and per
                              season
      <metric>.png            each metric's mean across seeds against the first
                              swept value, 95% bootstrap band, the schedule
                              dashed (return.png, cost.png, comfort_kh.png, ...)
      summary.md              the table, the best point (by --metric's IQM),
                              failed points

Re-running the same command resumes: finished runs are skipped (their
run.json says complete, written last); failed or interrupted runs run again.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from absl import flags

from launchers import (
    executors,
    experiment,
    run_records,
    seed_runs,
    stage_runs,
    sweep_plan,
    sweep_results,
)
from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.scripts import gin_checks
from smart_control.reinforcement_learning.utils import binary, native_logs, run_files

FLAGS = flags.FLAGS
# Both run a list of jobs and return their results; the sweep needs no more.
Executor = Union[executors.LocalExecutor, executors.SlurmExecutor]
SWEEP_FILE = run_files.SWEEP_FILE
# Metrics that rank points (summary.md's best point): the metric table's
# keys that have a better direction.
RANKED_METRICS = [
    m.key for m in metric_table.METRICS if m.better != metric_table.NEUTRAL
]


def define_flags() -> None:
    binary.define_common_flags(
        root_dir_help="The sweep directory (created; resumed if it exists)."
    )
    flags.DEFINE_multi_string(
        "sweep", [], "A swept binding: 'Configurable.param=[v1, v2, ...]'."
    )
    flags.DEFINE_string("sweep_file", None, "File of 'Configurable.param=[...]' lines.")
    flags.DEFINE_enum(
        "executor",
        "local",
        ["local", "slurm"],
        "Where the points run: local (processes here) or slurm (a job array; with "
        "--mode=distributed, each point is one Slurm job of its own).",
    )
    flags.DEFINE_enum(
        "mode",
        "embedded",
        ["embedded", "distributed"],
        "Each point's topology (run_experiment --mode).",
    )
    flags.DEFINE_integer("max_parallel", 2, "Local executor: points running at once.")
    flags.DEFINE_list(
        "seeds",
        None,
        "Seeds of every point, e.g. 0,1,2 (binds SEED; same as "
        "--sweep='SEED=[0, 1, 2]'); results are aggregated across them. "
        "Default: the experiment's SEED only.",
    )
    flags.DEFINE_enum(
        "metric",
        "return",
        RANKED_METRICS,
        "Metric (metric table key) that picks summary.md's best point.",
    )
    defaults = executors.slurm_defaults()
    for flag_name, (gin_name, kind, help_text) in _SLURM_FLAGS.items():
        define = {
            "string": flags.DEFINE_string,
            "integer": flags.DEFINE_integer,
            "float": flags.DEFINE_float,
        }[kind]
        default = defaults[gin_name.split(".")[1]]
        shown = "the cluster's default" if default is None else default
        define(flag_name, None, f"{help_text} (gin: {gin_name}; default {shown}).")


# --slurm_* flags: the SlurmExecutor setting each one binds.
_SLURM_FLAGS = {
    "slurm_partition": ("SlurmExecutor.partition", "string", "Slurm partition"),
    "slurm_timeout_min": (
        "SlurmExecutor.timeout_min",
        "integer",
        "Slurm time limit per point, minutes",
    ),
    "slurm_cpus_per_task": ("SlurmExecutor.cpus_per_task", "integer", "CPUs per point"),
    "slurm_mem_gb": ("SlurmExecutor.mem_gb", "float", "Memory per point, GB"),
    "slurm_poll_interval_s": (
        "SlurmExecutor.poll_interval_s",
        "float",
        "Seconds between two sacct queries while waiting",
    ),
}


def run_sweep(
    root_dir: str,
    gin_files: List[str],
    base_bindings: List[str],
    axes: List[Tuple[str, List[Any]]],
    executor: Executor,
    metric: str,
    point_flags: Sequence[str] = (),
    seeds: Optional[List[int]] = None,
) -> Dict[str, Any]:
    """Runs every run not complete yet; returns rows, failures and outputs.

    Args:
      axes: The swept settings as given (a SEED axis gives the seeds).
      point_flags: More run_experiment flags for every point (its topology).
      seeds: The seeds of every point (--seeds); None: the experiment's.
    """
    spec = {
        "gin_files": gin_files,
        "gin_bindings": base_bindings,
        "axes": [[name, values] for name, values in axes],
    }
    if seeds is not None:
        spec["seeds"] = seeds
    axes, seeds = sweep_plan.split_seeds(axes, seeds)
    several = sweep_plan.several_seeds(seeds)
    sweep_path = os.path.join(root_dir, SWEEP_FILE)
    record = run_records.read_json(sweep_path)
    if record and record["spec"] != spec:
        raise binary.UserError(
            f"{root_dir} holds another sweep ({record['spec']}); use a new --root_dir"
        )
    record = record or {"spec": spec, "started_at": run_records.now()}
    named = {f"p{i:03d}": p for i, p in enumerate(sweep_plan.points_of(axes))}
    plans = sweep_plan.plan_points(gin_files, base_bindings, named, seeds)
    # Every point is checked: only now is the sweep directory created (a
    # refused sweep leaves nothing), and the native log moved into it.
    os.makedirs(root_dir, exist_ok=True)
    native_logs.attach_native_log(root_dir)
    record.update(
        status="running",
        points=named,
        seeds=seeds,
        populate_keys={name: plan.populate_key for name, plan in plans.items()},
        executor=executor_settings(executor),
    )
    run_records.write_json(sweep_path, record)

    cache = os.path.join(root_dir, "starter_buffers")
    logs = os.path.join(root_dir, "logs")
    base = [
        sys.executable,
        "-m",
        "launchers.run_experiment",
        *point_flags,
        *[f"--gin_file={f}" for f in gin_files],
    ]

    # Wave 1: one populate per distinct populate stage.
    keys = {}
    for name, plan in plans.items():
        if plan.populate_key is not None:
            keys.setdefault(plan.populate_key, name)
    populate_jobs = []
    for key, name in keys.items():
        if stage_runs.buffer_is_complete(os.path.join(cache, key)):
            continue
        bindings = plans[name].bindings
        populate_jobs.append(
            executors.Job(
                name=f"populate-{key}",
                argv=[
                    *base,
                    f"--root_dir={os.path.join(root_dir, 'populate', key)}",
                    f"--starter_buffer_cache={cache}",
                    "--stages=populate",
                    *[f"--gin_bindings={b}" for b in bindings],
                ],
                log_path=os.path.join(logs, f"populate-{key}.log"),
            )
        )
    if populate_jobs:
        print(f"Populating {len(populate_jobs)} starter buffer(s) ...", flush=True)
        failed = [r for r in executor.run(populate_jobs) if r.returncode != 0]
        if failed:
            raise binary.UserError(f"populate failed; see {failed[0].log_path}")

    # Wave 2: the runs (points, times seeds) that are not complete yet.
    jobs, skipped = [], []
    for name in named:
        for seed in seeds or [None]:
            run = sweep_results.run_name(name, seed, several)
            directory = sweep_results.run_dir(root_dir, name, seed, several)
            if seed_runs.run_status(directory) == "complete":
                skipped.append(run)
                continue
            jobs.append(
                executors.Job(
                    name=run,
                    argv=[
                        *base,
                        f"--root_dir={directory}",
                        f"--starter_buffer_cache={cache}",
                        *[f"--gin_bindings={b}" for b in plans[run].bindings],
                    ],
                    log_path=sweep_results.log_path(root_dir, run),
                )
            )
    runs = len(plans)
    shape = f"{len(named)} points" + (
        f" x {len(seeds)} seeds ({runs} runs)" if several else ""
    )
    print(f"{shape}: {len(skipped)} already complete, {len(jobs)} to run.", flush=True)
    results = {r.name: r for r in executor.run(jobs)} if jobs else {}

    points = sweep_results.collect(root_dir, named, seeds, results)
    if several:
        sweep_results.write_point_summaries(root_dir, points, seeds)
    outputs = sweep_results.write_outputs(
        root_dir, [name for name, _ in axes], points, metric, seeds
    )
    rows = [point.row() for point in points]
    failed = [row for row in rows if row["status"] != "complete"]
    record.update(
        status="complete" if not failed else "incomplete",
        ended_at=run_records.now(),
        outputs=outputs,
    )
    run_records.write_json(sweep_path, record)
    return {
        "rows": rows,
        "failed": failed,
        "outputs": outputs,
        "skipped": skipped,
        "runs": runs,
    }


def executor_bindings() -> List[str]:
    """The --slurm_* flags given, as SlurmExecutor bindings."""
    return binary.flag_bindings(
        {flag: gin_name for flag, (gin_name, _, _) in _SLURM_FLAGS.items()}
    )


def make_executor(root_dir: str) -> Executor:
    """The executor, configured by gin (parsed with the experiment's bindings).

    Distributed points on Slurm are jobs of their own (each point's
    run_experiment submits one and waits for it), so their launchers run here.
    """
    if FLAGS.executor == "local" or FLAGS.mode == "distributed":
        return executors.LocalExecutor(max_parallel=FLAGS.max_parallel)
    return executors.SlurmExecutor(folder=os.path.join(root_dir, "slurm"))


def point_flags() -> List[str]:
    """run_experiment's topology flags for every point."""
    if FLAGS.mode == "embedded":
        return []
    return ["--mode=distributed", f"--executor={FLAGS.executor}"]


def executor_settings(executor: Executor) -> Dict[str, Any]:
    """What the executor runs with (recorded in sweep.json)."""
    settings = {"type": type(executor).__name__}
    settings.update(
        {k: v for k, v in vars(executor).items() if isinstance(v, (int, float, str))}
    )
    return settings


def main(argv: Sequence[str]) -> int:
    binary.check_no_arguments(argv)
    binary.require_gin_file("experiments/quickstart.gin")
    if FLAGS.max_parallel < 1:
        raise binary.UserError(f"--max_parallel must be >= 1, got {FLAGS.max_parallel}")
    lines = list(FLAGS.sweep)
    if FLAGS.sweep_file:
        if not os.path.isfile(FLAGS.sweep_file):
            raise binary.UserError(f"sweep file not found: {FLAGS.sweep_file}")
        with open(FLAGS.sweep_file) as f:
            lines += f.read().splitlines()
    axes = sweep_plan.sweep_axes(lines)
    seeds = seed_runs.parse_seeds(FLAGS.seeds)
    sweep_plan.split_seeds(axes, seeds)  # checks the seeds before anything is created
    bindings = FLAGS.gin_bindings + executor_bindings()
    # The base experiment with the launcher's bindings: checks them and
    # configures the executor (each point is checked again in run_sweep).
    # Parsing imports TensorFlow: its C++ logs go to <root_dir>/logs/native.log.
    with native_logs.quiet_native_logs(None):
        base = experiment.plan(FLAGS.gin_file, bindings)
    seeded = seeds is not None or seed_runs.SEED_MACRO in dict(axes)
    if seeded and base.seed is None:
        raise binary.UserError(
            "seeds: the experiment defines no SEED macro (experiments bind "
            "SEED = 0 and wire %SEED to every stage's seed)"
        )
    if seeded and seed_runs.binds_seed(bindings):
        raise binary.UserError(
            "give the seeds once: a SEED axis or --seeds, or a --gin_bindings "
            "of SEED, not both"
        )
    # Created by run_sweep once every point is checked.
    root_dir = binary.check_output_dir(FLAGS.root_dir)
    executor = make_executor(root_dir)
    stage_bindings = [b for b in bindings if not experiment.is_launcher_binding(b)]
    outcome = run_sweep(
        root_dir,
        FLAGS.gin_file,
        stage_bindings,
        axes,
        executor,
        FLAGS.metric,
        point_flags=point_flags(),
        seeds=seeds,
    )
    print(
        f"Sweep of {len(outcome['rows'])} points, {outcome['runs']} runs "
        f"({len(outcome['skipped'])} skipped as complete):"
    )
    print(open(outcome["outputs"]["summary"]).read())
    outputs = outcome["outputs"]
    print(f"  results: {outputs['results']}")
    print(f"  summary: {outputs['summary']}")
    if outputs["plots"]:
        print(f"  plots:   {', '.join(outputs['plots'])}")
    if outcome["failed"]:
        for row in outcome["failed"]:
            print(
                f"  not complete: {row['point']} ({row['status']}), log {row['log']}",
                file=sys.stderr,
            )
        return 1
    return 0


def run_main() -> None:
    """Console entry point (smart-control-sweep)."""
    define_flags()
    binary.run(main, gin_checks=gin_checks.GIN_CHECKS)


if __name__ == "__main__":
    run_main()
