r"""Sweeps gin bindings: each point is a run_experiment job in its own run dir.

    python -m launchers.sweep --gin_file=experiments/quickstart.gin \
        --sweep='ReplayBufferManager.capacity=[10000, 50000, 200000]' \
        --root_dir=runs/capacity_sweep [--executor=local --max_parallel=2]

`--sweep` is repeatable (the points are the Cartesian product); `--sweep_file`
reads the same `name=[values]` lines from a file. Points whose populate config
is equal share one starter buffer, populated once before the points run.
`--executor=slurm` submits the same jobs as a Slurm job array (submitit).

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
import signal
import sys
from typing import Any, Dict, List, Sequence, Tuple

from absl import flags

from launchers import executors, experiment_config, run_records
from smart_control.reinforcement_learning.utils import binary

FLAGS = flags.FLAGS
SWEEP_FILE = "sweep.json"
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
    flags.DEFINE_enum("executor", "local", ["local", "slurm"], "Where the points run.")
    flags.DEFINE_integer("max_parallel", 2, "Local executor: points running at once.")
    flags.DEFINE_enum(
        "metric", "return", sorted(METRICS), "Metric for the plot and the best point."
    )
    flags.DEFINE_string(
        "slurm_partition", None, "Slurm partition (default: the cluster's)."
    )
    flags.DEFINE_integer(
        "slurm_timeout_min", 120, "Slurm time limit per point, minutes."
    )
    flags.DEFINE_integer("slurm_cpus_per_task", 2, "Slurm CPUs per point.")
    flags.DEFINE_float("slurm_mem_gb", 8, "Slurm memory per point, GB.")


def parse_sweep_line(line: str) -> Tuple[str, List[Any]]:
    """'A.b=[1, 2]' -> ('A.b', [1, 2]); raises UserError naming the line."""
    name, sep, values = line.partition("=")
    name = name.strip()
    if not sep or not name or "." not in name:
        raise binary.UserError(
            f"--sweep must look like 'Configurable.param=[v1, v2]', got {line!r}"
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


def run_sweep(
    root_dir: str,
    gin_files: List[str],
    base_bindings: List[str],
    axes: List[Tuple[str, List[Any]]],
    executor,
    metric: str,
) -> Dict[str, Any]:
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
    record.update(
        status="running", points={f"p{i:03d}": p for i, p in enumerate(points)}
    )
    run_records.write_json(sweep_path, record)

    cache = os.path.join(root_dir, "starter_buffers")
    logs = os.path.join(root_dir, "logs")
    base = [
        sys.executable,
        "-m",
        "launchers.run_experiment",
        *[f"--gin_file={f}" for f in gin_files],
    ]

    # Wave 1: one populate per distinct populate config.
    keys = {}
    for name, point in record["points"].items():
        bindings = base_bindings + point_bindings(point)
        config = experiment_config.load(gin_files, bindings)
        keys.setdefault(
            experiment_config.populate_key(config, binary.resolve_gin_file), name
        )
    populate_jobs = []
    for key, name in keys.items():
        if os.path.exists(os.path.join(cache, key, "populate.json")) and _populated(
            cache, key
        ):
            continue
        bindings = base_bindings + point_bindings(record["points"][name])
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
    for name, point in record["points"].items():
        point_dir = os.path.join(root_dir, "points", name)
        run = run_records.read_json(os.path.join(point_dir, "run.json"))
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
                    *[
                        f"--gin_bindings={b}"
                        for b in base_bindings + point_bindings(point)
                    ],
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
    state = run_records.read_json(os.path.join(cache, key, "populate.json"))
    return bool(state) and state.get("status") == "complete"


def collect_results(
    root_dir: str, points: Dict[str, Dict[str, Any]], results
) -> List[Dict[str, Any]]:
    rows = []
    for name, point in points.items():
        point_dir = os.path.join(root_dir, "points", name)
        run = run_records.read_json(os.path.join(point_dir, "run.json")) or {}
        metrics = run_records.read_json(
            os.path.join(point_dir, "eval_report", "metrics.json")
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


def make_executor():
    if FLAGS.executor == "local":
        return executors.LocalExecutor(max_parallel=FLAGS.max_parallel)
    # Only flags given on the command line are passed, so gin bindings of
    # SlurmExecutor.* hold otherwise.
    given = {
        "partition": "slurm_partition",
        "timeout_min": "slurm_timeout_min",
        "cpus_per_task": "slurm_cpus_per_task",
        "mem_gb": "slurm_mem_gb",
    }
    kwargs = {
        arg: FLAGS[flag].value for arg, flag in given.items() if FLAGS[flag].present
    }
    return executors.SlurmExecutor(
        folder=os.path.join(os.path.abspath(FLAGS.root_dir), "slurm"), **kwargs
    )


def main(argv):
    if len(argv) > 1:
        raise binary.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.gin_file:
        raise binary.UserError(
            "--gin_file is required, e.g. --gin_file=experiments/quickstart.gin"
        )
    if FLAGS.max_parallel < 1:
        raise binary.UserError(f"--max_parallel must be >= 1, got {FLAGS.max_parallel}")
    lines = list(FLAGS.sweep)
    if FLAGS.sweep_file:
        if not os.path.isfile(FLAGS.sweep_file):
            raise binary.UserError(f"sweep file not found: {FLAGS.sweep_file}")
        with open(FLAGS.sweep_file) as f:
            lines += f.read().splitlines()
    axes = sweep_axes(lines)
    root_dir = binary.make_output_dir(FLAGS.root_dir)
    # A cancelled batch job gets SIGTERM: stop the points as Ctrl-C would.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    outcome = run_sweep(
        root_dir,
        FLAGS.gin_file,
        FLAGS.gin_bindings,
        axes,
        make_executor(),
        FLAGS.metric,
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


if __name__ == "__main__":
    define_flags()
    binary.run(main)
