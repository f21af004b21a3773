"""What a run of several seeds writes and prints across its seeds.

Several seeds (each a run in `<root_dir>/seed_<k>/`): every seed contributes
its mean over the evaluation episodes; across seeds the library gives the
mean, the interquartile mean (IQM) and percentile-bootstrap 95% intervals
(`across_seeds.aggregate_reports`, which refuses runs evaluated on other
episodes). Written at the root:

    summary.md    the across-seed table, each seed's verdict
    results.csv   one row per seed (its flat metrics.json columns:
                  <role>/<key>[/<season>]/{mean,ci_low,ci_high,n}), then one
                  row per across-seed statistic (column `across_seeds`: n,
                  mean, iqm, std, mean_ci_low, ..., iqm_ci_high) whose
                  `.../mean` columns hold that statistic of the seeds' values

Each seed's report and the metrics shown are a single run's
(launchers/summary.py). Metric names, units and column names come from
`metric_table`.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from launchers import verdict
from launchers.summary import (
    OVERALL,
    SUMMARY_KEYS,
    NextExperiment,
    describe_evaluation_set,
    load_report,
)
from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.utils import json_files, run_files

# Not imported here: numpy (across_seeds, statistics). run_experiment imports
# this module before it enters its private network namespace, which must
# happen while the process has a single thread, and numpy's BLAS starts
# threads when it loads.

SEED_COLUMN = "seed"
STATISTIC_COLUMN = "across_seeds"


def load_seed_reports(seed_dirs: Mapping[int, str]) -> Dict[int, Dict[str, Any]]:
    """{seed: metrics.json} of the seeds whose eval stage wrote one."""
    reports = {}
    for seed, run_dir in seed_dirs.items():
        report = load_report(run_dir)
        if report is not None:
            reports[seed] = report
    return reports


def aggregate_seeds(reports: Mapping[int, Mapping[str, Any]]) -> Dict[str, Any]:
    """Across-seed statistics of `reports` (`across_seeds.aggregate_reports`).

    Raises:
      ValueError: if `reports` is empty or the seeds were evaluated on other
        episodes.
    """
    from smart_control.reinforcement_learning.evaluation import across_seeds

    return across_seeds.aggregate_reports(
        [reports[s] for s in reports], names=[f"seed {s}" for s in reports]
    )


def _scope(role_result: Mapping[str, Any], season: Optional[str]) -> Mapping[str, Any]:
    return role_result["overall"] if season is None else role_result["seasons"][season]


def _cell(entry: Mapping[str, Any], statistic: str, key: str, signed: bool) -> str:
    def number(value: Optional[float]) -> str:
        text = metric_table.format_value(value, key)
        return "+" + text if signed and value is not None and value >= 0 else text

    text = number(entry[statistic])
    if entry.get(f"{statistic}_ci_low") is not None:
        text += (
            f" [{number(entry[f'{statistic}_ci_low'])}, "
            f"{number(entry[f'{statistic}_ci_high'])}]"
        )
    return text


def format_seed_table(
    aggregate: Mapping[str, Any], keys: Sequence[str] = SUMMARY_KEYS
) -> str:
    """Per metric, all year and per season: the policy across seeds, the schedule.

    Columns: the policy's mean across seeds, its IQM with the bootstrap 95%
    interval, the schedule's value (its mean across seeds: the schedule does
    not learn, so every seed evaluates it alike), and the paired difference
    policy - schedule (IQM across seeds [95% interval]).
    """
    results = aggregate["results"]
    policy = results[metric_table.POLICY]
    baseline = results.get(metric_table.BASELINE)
    difference = results.get(metric_table.DIFFERENCE)
    seasons = metric_table.ordered_seasons(policy["seasons"])
    header = f"  {'':10s}{'policy mean':>13s}{'policy IQM [95% CI]':>30s}"
    if baseline:
        header += f"{'schedule':>12s}"
    if difference:
        header += f"{'policy - schedule IQM [95% CI]':>34s}"
    lines = [
        f"Across {aggregate['num_runs']} seeds (each seed: its mean over the "
        "evaluation episodes; [95% bootstrap interval] across seeds)",
        "",
    ]
    for key in [k for k in keys if k in policy["overall"]]:
        lines += [metric_table.metric(key).axis_label, header]
        for label, season in [(OVERALL, None)] + [(s, s) for s in seasons]:
            entry = _scope(policy, season)[key]
            row = f"  {label:10s}{metric_table.format_value(entry['mean'], key):>13s}"
            row += f"{_cell(entry, 'iqm', key, signed=False):>30s}"
            if baseline:
                value = _scope(baseline, season).get(key)
                row += f"{metric_table.format_value(value and value['mean'], key):>12s}"
            if difference:
                value = _scope(difference, season).get(key)
                row += f"{_cell(value, 'iqm', key, signed=True) if value else '':>34s}"
            lines.append(row.rstrip())
        lines.append("")
    return "\n".join(lines)


def format_seed_verdicts(
    reports: Mapping[int, Mapping[str, Any]],
    next_experiment: Optional[NextExperiment] = None,
) -> str:
    """Each seed's year-round verdict against the schedule, and the count."""
    results = {seed: verdict.from_report(report) for seed, report in reports.items()}
    if not results or any(r is None for r in results.values()):
        return ""
    lines = [
        "Against the schedule, per seed (beats it = cost lower and comfort no "
        "worse, paired 95% intervals over the episodes):"
    ]
    for seed, result in results.items():
        lines.append(f"  seed {seed:<5d} {verdict.describe(result)}")
    winners = [seed for seed, r in results.items() if r.beats]
    lines.append(
        f"Verdict: the learned policy beats the schedule in {len(winners)} of "
        f"{len(results)} seeds"
        + (f" ({', '.join(str(s) for s in winners)})." if winners else ".")
    )
    if len(winners) < len(results) and next_experiment is not None:
        lines.append(
            f"  A run long enough to beat the schedule: {next_experiment.describe()}."
        )
    return "\n".join(lines) + "\n"


def results_table(
    statuses: Mapping[int, str],
    reports: Mapping[int, Mapping[str, Any]],
    aggregate: Optional[Mapping[str, Any]],
) -> Tuple[List[str], List[Dict[str, Any]]]:
    """(columns, rows) of a run's results.csv: per seed, then across seeds."""
    from smart_control.reinforcement_learning.evaluation import statistics as stats

    rows: List[Dict[str, Any]] = []
    metric_columns: Dict[str, None] = {}
    for seed, status in statuses.items():
        row: Dict[str, Any] = {SEED_COLUMN: seed, "status": status}
        if seed in reports:
            columns = verdict.report_columns(reports[seed])
            metric_columns.update(dict.fromkeys(columns))
            row.update(columns)
        rows.append(row)
    if aggregate is not None:
        for statistic in stats.SEED_STATISTICS:
            row = {STATISTIC_COLUMN: statistic}
            for role, role_result in aggregate["results"].items():
                scopes = [(None, role_result["overall"])] + [
                    (s, role_result["seasons"][s])
                    for s in metric_table.ordered_seasons(role_result["seasons"])
                ]
                for season, values in scopes:
                    for key, entry in values.items():
                        column = metric_table.column_name(role, key, "mean", season)
                        row[column] = entry[statistic]
            rows.append(row)
    return [SEED_COLUMN, STATISTIC_COLUMN, "status", *metric_columns], rows


def write_csv(
    path: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Writes rows atomically (missing cells empty, None empty)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    json_files.write_text_atomic(path, text.getvalue())


def format_seed_markdown(
    title: str,
    statuses: Mapping[int, str],
    reports: Mapping[int, Mapping[str, Any]],
    aggregate: Optional[Mapping[str, Any]],
) -> str:
    """summary.md of a run of several seeds."""
    lines = [f"# {title}", ""]
    lines.append(
        "Seeds: "
        + ", ".join(f"{seed} ({status})" for seed, status in statuses.items())
        + "."
    )
    if reports:
        first = next(iter(reports.values()))
        lines.append(
            f"Evaluation set: {describe_evaluation_set(first)}, the same for every "
            "seed."
        )
    if aggregate is None:
        lines += ["", "No seed has an evaluation yet."]
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "## Across seeds",
        "",
        "```text",
        format_seed_table(aggregate).rstrip("\n"),
        "```",
    ]
    verdicts = format_seed_verdicts(reports)
    if verdicts:
        lines += [
            "",
            "## Against the schedule",
            "",
            "```text",
            verdicts.rstrip(),
            "```",
        ]
    lines += [
        "",
        "## Files",
        "",
        f"- `{run_files.RUN_RESULTS_FILE}`: one row per seed (each seed's "
        "metrics.json as flat columns), then one row per statistic across seeds "
        f"(column `{STATISTIC_COLUMN}`), whose `.../mean` columns hold that "
        "statistic of the seeds' values.",
        f"- `{run_files.SEED_RUN_DIR_PREFIX}<k>/`: each seed's run "
        "(`eval_report/metrics.json`, `train/` for TensorBoard).",
    ]
    return "\n".join(lines) + "\n"


def write_seed_outputs(
    root_dir: str, title: str, seed_dirs: Mapping[int, str], statuses: Mapping[int, str]
) -> Dict[str, Any]:
    """Writes results.csv and summary.md of a run of several seeds.

    Args:
      root_dir: Where they go.
      title: summary.md's heading.
      seed_dirs: {seed: its run directory}.
      statuses: {seed: its run's status}.

    Returns:
      {"aggregate": the across-seed statistics (None before any
      evaluation), "reports": {seed: metrics.json}, "results": path,
      "summary": path}.

    Raises:
      ValueError: if the seeds were evaluated on other episodes.
    """
    reports = load_seed_reports(seed_dirs)
    aggregate = aggregate_seeds(reports) if reports else None
    columns, rows = results_table(statuses, reports, aggregate)
    results_path = os.path.join(root_dir, run_files.RUN_RESULTS_FILE)
    write_csv(results_path, columns, rows)
    summary_path = os.path.join(root_dir, run_files.RUN_SUMMARY_FILE)
    json_files.write_text_atomic(
        summary_path, format_seed_markdown(title, statuses, reports, aggregate)
    )
    return {
        "aggregate": aggregate,
        "reports": reports,
        "results": results_path,
        "summary": summary_path,
    }
