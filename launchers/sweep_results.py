"""A sweep's results: per point across its seeds, band plots, summary.md.

A point of a sweep is one run directory (`points/p000/`), or with several
seeds one run per seed (`points/p000/seed_<k>/`, with the point's across-seed
summary.md, results.csv and run.json beside them, as `run_experiment
--seeds` writes them). Every point's seeds are aggregated by the evaluation
library (`across_seeds`: mean, IQM and percentile-bootstrap 95% intervals;
it refuses runs evaluated on other episodes):

    results.csv   one row per point: the swept values, its seeds, status,
                  runs complete, then `across_seeds.aggregate_columns` of the
                  policy, the schedule ("baseline") and their paired
                  difference, overall and per season:
                  <role>/<key>[/<season>]/{n, mean, iqm, std, mean_ci_low,
                  mean_ci_high, iqm_ci_low, iqm_ci_high} (one seed: n = 1,
                  mean = iqm, no intervals)
    <key>.png     (sweep_plots.py) per metric (return, cost, comfort_kh, electricity_kwh,
                  gas_kwh, carbon_kg): the policy's mean across seeds against
                  the first swept value with its 95% bootstrap band, each seed
                  a dot, one series per value of the other swept settings;
                  the schedule as a dashed reference line (a series of its
                  own when the swept settings change it, e.g. the building)
    summary.md    the table of points (IQM [95% CI] across seeds), how many
                  seeds beat the schedule, the best point, failed points

Metric names, units and columns come from `metric_table` only.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from launchers import (
    run_records,
    seed_runs,
    seed_summary,
    summary,
    sweep_plots,
    verdict,
)
from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.utils import binary, run_files

# numpy (across_seeds) and TensorFlow (band_plot) load where they are used:
# launchers import no numerical library at import time (see summary.py).

POINTS_DIR = "points"
LOGS_DIR = "logs"


def point_dir(root_dir: str, point: str) -> str:
    return os.path.join(root_dir, POINTS_DIR, point)


def run_name(point: str, seed: Optional[int], several_seeds: bool) -> str:
    """'p000' (one run per point) or 'p000-seed_3' (a job and log name)."""
    if not several_seeds:
        return point
    return f"{point}-{run_files.SEED_RUN_DIR_PREFIX}{seed}"


def run_dir(root_dir: str, point: str, seed: Optional[int], several_seeds: bool) -> str:
    """points/p000 (one run per point) or points/p000/seed_3."""
    directory = point_dir(root_dir, point)
    return run_files.seed_run_dir(directory, seed) if several_seeds else directory


def log_path(root_dir: str, name: str) -> str:
    return os.path.join(root_dir, LOGS_DIR, f"{name}.log")


@dataclasses.dataclass
class PointResult:
    """One point of a sweep: its runs (one per seed) and their aggregate.

    Attributes:
      name: 'p000'.
      values: The swept settings' values {name: value}.
      seeds: The seed each run ran with (from its run.json), in run order.
      statuses: {run name: status}.
      logs: {run name: log path}.
      reports: {run name: metrics.json} of the runs evaluated.
      aggregate: `across_seeds.aggregate_reports` of `reports`; None before
        any evaluation.
    """

    name: str
    values: Dict[str, Any]
    seeds: List[Optional[int]]
    statuses: Dict[str, str]
    logs: Dict[str, str]
    reports: Dict[str, Dict[str, Any]]
    aggregate: Optional[Dict[str, Any]]

    @property
    def status(self) -> str:
        return seed_runs.overall_status(self.statuses)

    @property
    def log(self) -> str:
        """The log of the first run not complete, else of the first run."""
        for name, status in self.statuses.items():
            if status != "complete":
                return self.logs[name]
        return next(iter(self.logs.values()))

    def beats(self) -> Tuple[int, int]:
        """(runs whose policy beats the schedule, runs with a verdict)."""
        results = [verdict.from_report(r) for r in self.reports.values()]
        judged = [r for r in results if r is not None and r.beats is not None]
        return sum(1 for r in judged if r.beats), len(judged)

    def row(self) -> Dict[str, Any]:
        """The point's results.csv row."""
        complete = sum(1 for s in self.statuses.values() if s == "complete")
        row = {
            "point": self.name,
            **self.values,
            "seeds": " ".join("" if s is None else str(s) for s in self.seeds),
            "status": self.status,
            "runs_complete": f"{complete}/{len(self.statuses)}",
        }
        if self.aggregate is not None:
            from smart_control.reinforcement_learning.evaluation import across_seeds

            for role in metric_table.ROLES:
                row.update(across_seeds.aggregate_columns(self.aggregate, role))
        row["log"] = self.log
        return row


def collect(
    root_dir: str,
    points: Mapping[str, Mapping[str, Any]],
    seeds: Optional[Sequence[int]],
    job_results: Mapping[str, Any],
) -> List[PointResult]:
    """Reads every point's runs and aggregates each point across its seeds.

    Args:
      root_dir: The sweep directory.
      points: {point name: swept values}.
      seeds: The seeds of every point; None or one seed: one run per point.
      job_results: {run name: executor result} of the jobs run now (a run
        whose job failed is 'failed' whatever its run.json says).

    Raises:
      binary.UserError: if a point's seeds were evaluated on other episodes.
    """
    from smart_control.reinforcement_learning.evaluation import across_seeds

    several = seeds is not None and len(seeds) > 1
    results = []
    for name, values in points.items():
        statuses, logs, reports, run_seeds = {}, {}, {}, []
        for seed in seeds if several else [None]:
            run = run_name(name, seed, several)
            directory = run_dir(root_dir, name, seed, several)
            record = run_records.read_json(os.path.join(directory, run_files.RUN_FILE))
            status = (record or {}).get("status", seed_runs.NOT_RUN)
            job = job_results.get(run)
            if job is not None and job.returncode not in (0, None):
                status = "failed" if status == "complete" else status
            statuses[run], logs[run] = status, log_path(root_dir, run)
            run_seeds.append((record or {}).get("seed", seed))
            report = summary.load_report(directory)
            if report is not None:
                reports[run] = report
        try:
            aggregate = (
                across_seeds.aggregate_reports(
                    list(reports.values()), names=list(reports)
                )
                if reports
                else None
            )
        except ValueError as e:
            raise binary.UserError(f"point {name}: {e}") from None
        results.append(
            PointResult(
                name, dict(values), run_seeds, statuses, logs, reports, aggregate
            )
        )
    return results


def write_point_summaries(
    root_dir: str, results: Sequence[PointResult], seeds: Sequence[int]
) -> None:
    """Each point's run.json, summary.md and results.csv across its seeds."""
    for result in results:
        directory = point_dir(root_dir, result.name)
        seed_runs.write_record(directory, seeds, {"swept": result.values})
        seed_summary.write_seed_outputs(
            directory,
            f"Point {result.name} ({_describe_values(result.values)}): seeds "
            f"{', '.join(str(s) for s in seeds)}",
            seed_runs.seed_dirs(directory, seeds),
            seed_runs.statuses(directory, seeds),
        )


def _describe_values(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{n}={v}" for n, v in values.items()) or "no swept setting"


# ------------------------------------------------------------- results.csv


def write_results_csv(
    path: str, axis_names: Sequence[str], results: Sequence[PointResult]
) -> str:
    rows = [result.row() for result in results]
    metric_columns: Dict[str, None] = {}
    for row in rows:
        metric_columns.update(dict.fromkeys(k for k in row if k.count("/") >= 2))
    columns = [
        "point",
        *axis_names,
        "seeds",
        "status",
        "runs_complete",
        *metric_columns,
        "log",
    ]
    seed_summary.write_csv(path, columns, rows)
    return path


# ------------------------------------------------------------------ plots


# -------------------------------------------------------------- summary.md


def _entry(
    aggregate: Optional[Mapping[str, Any]], role: str, key: str
) -> Optional[Mapping[str, Any]]:
    if aggregate is None:
        return None
    part = aggregate["results"].get(role)
    return part["overall"].get(key) if part else None


def _iqm_cell(entry: Optional[Mapping[str, Any]], key: str) -> str:
    if entry is None:
        return ""
    text = metric_table.format_value(entry["iqm"], key)
    if entry["iqm_ci_low"] is not None:
        text += (
            f" [{metric_table.format_value(entry['iqm_ci_low'], key)}, "
            f"{metric_table.format_value(entry['iqm_ci_high'], key)}]"
        )
    return text


def format_summary(
    axis_names: Sequence[str],
    results: Sequence[PointResult],
    metric: str,
    seeds: Optional[Sequence[int]],
    plots: Sequence[str],
) -> str:
    """summary.md: one line per point, the best point, what is not complete."""
    keys = list(dict.fromkeys([metric, "cost", "comfort_kh"]))
    several = seeds is not None and len(seeds) > 1
    title = f"# Sweep over {', '.join(axis_names) or 'seeds only'}"
    if several:
        title += f" ({len(seeds)} seeds per point: {', '.join(map(str, seeds))})"
    lines = [
        title,
        "",
        "Per point: each seed's mean over the evaluation episodes; across seeds "
        "the IQM with its 95% bootstrap interval (results.csv: mean, IQM and "
        "intervals of every metric, overall and per season). The schedule runs "
        "the same episodes. Beats: runs whose policy beats the schedule on "
        "year-round cost with comfort no worse (paired 95% intervals).",
        "",
    ]
    header = ["point", *axis_names, "status", "seeds"]
    header += [f"{metric_table.metric(k).heading} IQM [95% CI]" for k in keys]
    header += [f"schedule {metric_table.metric(k).heading}" for k in keys]
    header.append("beats schedule")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for result in results:
        beating, judged = result.beats()
        cells = [
            result.name,
            *[str(result.values[n]) for n in axis_names],
            result.status,
            " ".join("" if s is None else str(s) for s in result.seeds),
            *[
                _iqm_cell(_entry(result.aggregate, metric_table.POLICY, k), k)
                for k in keys
            ],
            *[
                metric_table.format_value(
                    (_entry(result.aggregate, metric_table.BASELINE, k) or {}).get(
                        "mean"
                    ),
                    k,
                )
                for k in keys
            ],
            f"{beating}/{judged}" if judged else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    ranked = [r for r in results if _entry(r.aggregate, metric_table.POLICY, metric)]
    if ranked:
        better = metric_table.metric(metric).better
        pick = min if better == metric_table.LOWER else max
        best = pick(
            ranked,
            key=lambda r: _entry(r.aggregate, metric_table.POLICY, metric)["iqm"],
        )
        lines += [
            "",
            f"Best: {best.name} ({_describe_values(best.values)}), "
            f"{metric_table.metric(metric).label} IQM "
            f"{_iqm_cell(_entry(best.aggregate, metric_table.POLICY, metric), metric)} "
            f"({'lowest' if pick is min else 'highest'} of the points).",
        ]
    if plots:
        lines += [
            "",
            "Plots (mean across seeds, 95% bootstrap band, each seed a dot; the "
            "schedule dashed): " + ", ".join(os.path.basename(p) for p in plots),
        ]
    failed = [r for r in results if r.status != "complete"]
    if failed:
        lines += ["", "Not complete:"] + [
            f"- {r.name}: {r.status}, log {r.log}" for r in failed
        ]
    return "\n".join(lines) + "\n"


def write_outputs(
    root_dir: str,
    axis_names: Sequence[str],
    results: Sequence[PointResult],
    metric: str,
    seeds: Optional[Sequence[int]],
) -> Dict[str, Any]:
    """results.csv, the plots and summary.md; returns their paths."""
    csv_path = write_results_csv(
        os.path.join(root_dir, run_files.SWEEP_RESULTS_FILE), axis_names, results
    )
    plots = sweep_plots.write_plots(root_dir, axis_names, results)
    summary_path = os.path.join(root_dir, run_files.SWEEP_SUMMARY_FILE)
    with open(summary_path, "w") as f:
        f.write(format_summary(axis_names, results, metric, seeds, plots))
    return {"results": csv_path, "summary": summary_path, "plots": plots}
