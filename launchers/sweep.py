r"""Sweeps gin bindings: each point is a run_experiment job in its own run dir.

    python -m launchers.sweep --gin_file=experiments/quickstart.gin \
        --sweep='ReplayBufferManager.capacity=[10000, 50000, 200000]' \
        --root_dir=runs/capacity_sweep [--executor=local --max_parallel=2]

`--sweep` is repeatable (the points are the Cartesian product); `--sweep_file`
reads the same `name=[values]` lines from a file. A swept name is any gin
setting (`Configurable.param`, `scope/Configurable.param`) or macro (`SEED`);
each point's bindings reach every stage process of its run. Every point is
checked before anything runs. Points whose populate stage would be the same
(launchers/experiment.py: a dry run's operative config) share one starter
buffer, populated once before the points run; a sweep over the building
populates one buffer per building.
`--executor=slurm` submits the same jobs as a Slurm job array (submitit); its
knobs are gin (`SlurmExecutor.*`), the --slurm_* flags set them, and the
operative values are written into sweep.json.

    <root_dir>/
      sweep.json              the sweep: experiment, bindings, points, status
      starter_buffers/<key>/  shared starter buffers, by populate key
      points/p000/ ...        one run_experiment run directory per point
      logs/p000.log ...       each job's output
      results.csv             one row per point: swept values, status, metrics
      <metric>.png            the chosen metric against the swept value(s)
      summary.md              the table, the best point, failed points

Re-running the same command resumes: finished points are skipped (their
run.json says complete, written last); failed or interrupted points run again.
"""

from __future__ import annotations

import ast
import csv
import itertools
import os
import re
import sys
from typing import Any, Dict, List, Sequence, Tuple

from absl import flags

from launchers import executors, experiment, run_records
from smart_control.reinforcement_learning.utils import binary, run_files

FLAGS = flags.FLAGS
SWEEP_FILE = run_files.SWEEP_FILE
METRICS = {
    "return": ("policy", "return"),
    "comfort": ("policy", "comfort_violation_degree_hours"),
    "cost": ("policy", "cost"),
    "carbon": ("policy", "carbon_kg"),
    "energy": ("policy", "electricity_kwh"),
    "schedule_return": ("schedule", "return"),
}


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
    flags.DEFINE_enum(
        "metric", "return", sorted(METRICS), "Metric for the plot and the best point."
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
_NAME = re.compile(
    r"^([A-Za-z_][\w.]*/)*[A-Za-z_][\w.]*\.[A-Za-z_]\w*$|^[A-Z_][A-Z0-9_]*$"
)


def parse_sweep_line(line: str) -> Tuple[str, List[Any]]:
    """'A.b=[1, 2]' -> ('A.b', [1, 2]); raises UserError naming the line.

    Names are gin settings (`Configurable.param`, `scope/Configurable.param`)
    or macros (`SEED`).
    """
    name, sep, values = line.partition("=")
    name = name.strip()
    if not sep or not name or not _NAME.match(name):
        raise binary.UserError(
            "--sweep must look like 'Configurable.param=[v1, v2]' or "
            f"'MACRO=[v1, v2]', got {line!r}"
        )
    try:
        parsed = ast.literal_eval(values.strip())
    except (ValueError, SyntaxError):
        raise binary.UserError(
            f"--sweep values must be a Python list literal, got {values.strip()!r}"
        ) from None
    if not isinstance(parsed, (list, tuple)) or not parsed:
        raise binary.UserError(
            f"--sweep values must be a non-empty list, got {values.strip()!r}"
        )
    return name, list(parsed)


def sweep_axes(lines: Sequence[str]) -> List[Tuple[str, List[Any]]]:
    axes = [
        parse_sweep_line(line)
        for line in lines
        if line.strip() and not line.strip().startswith("#")
    ]
    names = [name for name, _ in axes]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise binary.UserError(f"swept twice: {sorted(duplicated)}")
    if not axes:
        raise binary.UserError("nothing to sweep: give --sweep or --sweep_file")
    return axes


def points_of(axes: List[Tuple[str, List[Any]]]) -> List[Dict[str, Any]]:
    names = [name for name, _ in axes]
    return [
        dict(zip(names, values)) for values in itertools.product(*(v for _, v in axes))
    ]


def point_bindings(point: Dict[str, Any]) -> List[str]:
    return [f"{name} = {value!r}" for name, value in point.items()]


def plan_points(
    gin_files: List[str],
    base_bindings: List[str],
    points: Dict[str, Dict[str, Any]],
) -> Dict[str, experiment.Plan]:
    """Checks every point's experiment; raises UserError naming the first bad one."""
    plans = {}
    for name, point in points.items():
        try:
            plans[name] = experiment.plan(
                gin_files, base_bindings + point_bindings(point)
            )
        except binary.UserError as e:
            raise binary.UserError(f"point {name} ({point}): {e}") from None
    return plans


def run_sweep(
    root_dir: str,
    gin_files: List[str],
    base_bindings: List[str],
    axes: List[Tuple[str, List[Any]]],
    executor,
    metric: str,
    point_flags: Sequence[str] = (),
) -> Dict[str, Any]:
    """Runs every point not complete yet; returns rows, failures and outputs.

    Args:
      point_flags: More run_experiment flags for every point (its topology).
    """
    points = points_of(axes)
    spec = {
        "gin_files": gin_files,
        "gin_bindings": base_bindings,
        "axes": [[name, values] for name, values in axes],
    }
    sweep_path = os.path.join(root_dir, SWEEP_FILE)
    record = run_records.read_json(sweep_path)
    if record and record["spec"] != spec:
        raise binary.UserError(
            f"{root_dir} holds another sweep ({record['spec']}); use a new --root_dir"
        )
    record = record or {"spec": spec, "started_at": run_records.now()}
    named = {f"p{i:03d}": p for i, p in enumerate(points)}
    plans = plan_points(gin_files, base_bindings, named)
    record.update(
        status="running",
        points=named,
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
        if _populated(cache, key):
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

    # Wave 2: the points that are not complete yet.
    jobs, skipped = [], []
    for name in record["points"]:
        point_dir = os.path.join(root_dir, "points", name)
        run = run_records.read_json(os.path.join(point_dir, run_files.RUN_FILE))
        if run and run.get("status") == "complete":
            skipped.append(name)
            continue
        jobs.append(
            executors.Job(
                name=name,
                argv=[
                    *base,
                    f"--root_dir={point_dir}",
                    f"--starter_buffer_cache={cache}",
                    *[f"--gin_bindings={b}" for b in plans[name].bindings],
                ],
                log_path=os.path.join(logs, f"{name}.log"),
            )
        )
    print(
        f"{len(record['points'])} points: {len(skipped)} already complete, {len(jobs)} to run.",
        flush=True,
    )
    results = {r.name: r for r in executor.run(jobs)} if jobs else {}

    rows = collect_results(root_dir, record["points"], results)
    outputs = write_outputs(root_dir, axes, rows, metric)
    failed = [row for row in rows if row["status"] != "complete"]
    record.update(
        status="complete" if not failed else "incomplete",
        ended_at=run_records.now(),
        outputs=outputs,
    )
    run_records.write_json(sweep_path, record)
    return {"rows": rows, "failed": failed, "outputs": outputs, "skipped": skipped}


def _populated(cache: str, key: str) -> bool:
    state = run_records.read_json(
        os.path.join(cache, key, run_files.POPULATE_STATE_FILE)
    )
    return bool(state) and state.get("status") == "complete"


def collect_results(
    root_dir: str, points: Dict[str, Dict[str, Any]], results
) -> List[Dict[str, Any]]:
    rows = []
    for name, point in points.items():
        point_dir = os.path.join(root_dir, "points", name)
        run = run_records.read_json(os.path.join(point_dir, run_files.RUN_FILE)) or {}
        metrics = run_records.read_json(
            os.path.join(
                point_dir, run_files.EVAL_REPORT_DIR, run_files.EVAL_METRICS_FILE
            )
        )
        row = {
            "point": name,
            **point,
            "status": run.get("status", "not run"),
            "log": os.path.join(root_dir, "logs", f"{name}.log"),
        }
        if (
            name in results
            and results[name].returncode not in (0, None)
            and row["status"] == "complete"
        ):
            row["status"] = "failed"
        for metric, (policy, key) in METRICS.items():
            value = None
            if metrics and policy in metrics["results"]:
                value = metrics["results"][policy]["mean"].get(key)
            row[metric] = value
        rows.append(row)
    return rows


def write_outputs(
    root_dir: str, axes, rows: List[Dict[str, Any]], metric: str
) -> Dict[str, str]:
    names = [name for name, _ in axes]
    columns = ["point", *names, "status", *METRICS, "log"]
    csv_path = os.path.join(root_dir, "results.csv")
    tmp = csv_path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)
    plot_path = os.path.join(root_dir, f"{metric}.png")
    _plot(rows, names, metric, plot_path)
    summary_path = os.path.join(root_dir, "summary.md")
    with open(summary_path, "w") as f:
        f.write(_summary(rows, names, metric))
    return {"results": csv_path, "plot": plot_path, "summary": summary_path}


def _plot(rows, names, metric, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    x_name, others = names[0], names[1:]
    groups: Dict[Tuple, List] = {}
    for row in rows:
        if row[metric] is not None:
            groups.setdefault(tuple(row[n] for n in others), []).append(
                (row[x_name], row[metric])
            )
    for group, values in groups.items():
        values.sort(key=lambda v: (str(type(v[0])), v[0]))
        label = ", ".join(f"{n}={v}" for n, v in zip(others, group)) or metric
        xs = [v[0] for v in values]
        numeric = all(isinstance(x, (int, float)) for x in xs)
        axis.plot(
            xs if numeric else [str(x) for x in xs],
            [v[1] for v in values],
            marker="o",
            label=label,
        )
        if numeric and len(xs) > 1 and min(xs) > 0 and max(xs) / min(xs) >= 10:
            axis.set_xscale("log")
    axis.set_xlabel(x_name)
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} against {x_name}")
    axis.grid(True, alpha=0.3)
    if len(groups) > 1:
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _summary(rows, names, metric) -> str:
    lines = [
        f"# Sweep over {', '.join(names)}",
        "",
        f"Metric: `{metric}` (mean over eval episodes).",
        "",
    ]
    header = ["point", *names, "status", metric, "schedule_return"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for row in rows:
        cells = [
            row["point"],
            *[str(row[n]) for n in names],
            row["status"],
            _fmt(row[metric]),
            _fmt(row["schedule_return"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    done = [r for r in rows if r[metric] is not None]
    if done:
        best = (min if metric in ("comfort", "cost", "carbon", "energy") else max)(
            done, key=lambda r: r[metric]
        )
        lines += [
            "",
            f"Best: {best['point']} ({', '.join(f'{n}={best[n]}' for n in names)}), "
            f"{metric} {_fmt(best[metric])}.",
        ]
    failed = [r for r in rows if r["status"] != "complete"]
    if failed:
        lines += ["", "Not complete:"] + [
            f"- {r['point']}: {r['status']}, log {r['log']}" for r in failed
        ]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "" if value is None else f"{value:.3f}"


def executor_bindings() -> List[str]:
    """The --slurm_* flags given, as SlurmExecutor bindings."""
    return binary.flag_bindings(
        {flag: gin_name for flag, (gin_name, _, _) in _SLURM_FLAGS.items()}
    )


def make_executor(root_dir: str):
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


def executor_settings(executor) -> Dict[str, Any]:
    """What the executor runs with (recorded in sweep.json)."""
    settings = {"type": type(executor).__name__}
    settings.update(
        {k: v for k, v in vars(executor).items() if isinstance(v, (int, float, str))}
    )
    return settings


def main(argv):
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
    axes = sweep_axes(lines)
    bindings = FLAGS.gin_bindings + executor_bindings()
    # The base experiment with the launcher's bindings: checks them and
    # configures the executor (each point is checked again in run_sweep).
    # Parsing imports TensorFlow: its C++ logs go to <root_dir>/logs/native.log.
    with binary.quiet_native_logs(None):
        experiment.plan(FLAGS.gin_file, bindings)
    # Only a checked experiment creates the sweep directory.
    root_dir = binary.make_output_dir(FLAGS.root_dir)
    binary.attach_native_log(root_dir)
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
    )
    print(
        f"Sweep of {len(outcome['rows'])} points ({len(outcome['skipped'])} skipped as complete):"
    )
    print(open(outcome["outputs"]["summary"]).read())
    for name, path in outcome["outputs"].items():
        print(f"  {name}: {path}")
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
    binary.run(main)


if __name__ == "__main__":
    run_main()
