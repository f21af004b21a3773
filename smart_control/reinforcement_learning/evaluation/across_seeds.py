"""Aggregates the metrics.json of several runs (seeds) of one configuration.

Each run contributes one value per metric and scope: its mean over the
evaluation set's episodes (overall, or over one season's episodes). Across
runs, `statistics.seed_statistics` gives the mean, the interquartile mean
and percentile-bootstrap 95% intervals of both (the rliable way). All runs
must have been evaluated on the same episodes.

    reports = load_reports(["runs/s0/eval_report", "runs/s1/eval_report", ...])
    aggregate = aggregate_reports(reports)
    aggregate_columns(aggregate, "policy")   # {'policy/cost/iqm': ..., ...}
    print(format_aggregate_table(aggregate))
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.evaluation import statistics as stats

AGGREGATE_FORMAT = 1


def load_reports(paths: Sequence[str]) -> List[Dict[str, Any]]:
    """Reads metrics.json files (a path may be the file or its directory).

    Raises:
      FileNotFoundError: naming the first missing file.
      ValueError: naming a file that is not a format-2 evaluation report.
    """
    reports = []
    for path in paths:
        if os.path.isdir(path):
            path = os.path.join(path, "metrics.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no metrics.json at {path}")
        with open(path) as f:
            report = json.load(f)
        if report.get("format") != 2 or "results" not in report:
            raise ValueError(f"{path} is not an evaluation report of format 2")
        reports.append(report)
    return reports


def _episode_keys(report: Mapping[str, Any]) -> List[tuple]:
    return [
        (e["index"], e["env_seed"], e["season"], e["start_date"])
        for e in report["evaluation_set"]["episodes"]
    ]


def check_same_episodes(
    reports: Sequence[Mapping[str, Any]], names: Optional[Sequence[str]] = None
) -> None:
    """Raises ValueError naming the first report evaluated on other episodes."""
    if not reports:
        raise ValueError("reports is empty")
    names = (
        list(names)
        if names is not None
        else [f"report {i}" for i in range(len(reports))]
    )
    first = _episode_keys(reports[0])
    for name, report in zip(names[1:], reports[1:]):
        if _episode_keys(report) != first:
            raise ValueError(
                f"{name} was evaluated on other episodes than {names[0]} "
                "(evaluation_set bindings differ); runs are not comparable"
            )


def _role(report: Mapping[str, Any], role: str) -> Optional[Mapping[str, Any]]:
    if role == metric_table.DIFFERENCE:
        return report.get(metric_table.DIFFERENCE)
    return report["results"].get(role)


def aggregate_reports(
    reports: Sequence[Mapping[str, Any]],
    names: Optional[Sequence[str]] = None,
    reps: int = 10_000,
    seed: int = 0,
) -> Dict[str, Any]:
    """Statistics across runs of every metric, role and season.

    Args:
      reports: Parsed metrics.json of each run (one per seed).
      names: Run names for error messages and the output (default "run i").
      reps: Bootstrap resamples.
      seed: Seed of the bootstrap.

    Returns:
      {"format", "num_runs", "runs", "evaluation_set", "results": {role:
      {"overall": {key: stats}, "seasons": {season: {key: stats}}}}} with
      stats as `SeedStatistics.as_dict()` plus "values" (one per run).
      Roles present in every report are included.

    Raises:
      ValueError: if `reports` is empty or the runs used other episodes.
    """
    check_same_episodes(reports, names)
    names = (
        list(names) if names is not None else [f"run {i}" for i in range(len(reports))]
    )
    results: Dict[str, Any] = {}
    for role in metric_table.ROLES:
        parts = [_role(report, role) for report in reports]
        if any(part is None for part in parts):
            continue
        scopes = {"overall": [part["overall"] for part in parts]}
        for season in metric_table.ordered_seasons(parts[0]["seasons"]):
            scopes[season] = [part["seasons"][season] for part in parts]
        role_result: Dict[str, Any] = {"overall": {}, "seasons": {}}
        for scope, values_per_run in scopes.items():
            target = (
                role_result["overall"]
                if scope == "overall"
                else role_result["seasons"].setdefault(scope, {})
            )
            for key in metric_table.ordered_keys(values_per_run[0]):
                values = [run[key]["mean"] for run in values_per_run]
                entry = stats.seed_statistics(values, reps=reps, seed=seed).as_dict()
                entry["values"] = values
                target[key] = entry
        results[role] = role_result
    return {
        "format": AGGREGATE_FORMAT,
        "num_runs": len(reports),
        "runs": names,
        "evaluation_set": reports[0]["evaluation_set"],
        "results": results,
    }


def aggregate_metrics_files(paths: Sequence[str], **kwargs: Any) -> Dict[str, Any]:
    """`aggregate_reports` of the metrics.json files at `paths` (runs named by path)."""
    return aggregate_reports(load_reports(paths), names=list(paths), **kwargs)


def aggregate_columns(
    aggregate: Mapping[str, Any], role: str = metric_table.POLICY
) -> Dict[str, Any]:
    """One role of an aggregate as flat columns.

    {'policy/cost/mean': ..., 'policy/cost/iqm': ..., 'policy/cost/iqm_ci_low':
    ..., 'policy/cost/n': 5, 'policy/cost/winter/iqm': ..., ...}; statistics
    in `statistics.SEED_STATISTICS` order; empty if the role is absent.

    Raises:
      ValueError: naming `role` if it is not one of `metric_table.ROLES`.
    """
    if role not in metric_table.ROLES:
        raise ValueError(f"role={role!r} must be one of {metric_table.ROLES}")
    result = aggregate["results"].get(role)
    if not result:
        return {}
    columns: Dict[str, Any] = {}
    scopes = [(None, result["overall"])] + [
        (s, result["seasons"][s])
        for s in metric_table.ordered_seasons(result["seasons"])
    ]
    for season, values in scopes:
        for key in metric_table.ordered_keys(values):
            for statistic in stats.SEED_STATISTICS:
                columns[metric_table.column_name(role, key, statistic, season)] = (
                    values[key][statistic]
                )
    return columns


def _cell(entry: Mapping[str, Any], statistic: str, key: str) -> str:
    value = metric_table.format_value(entry[statistic], key)
    low, high = entry[f"{statistic}_ci_low"], entry[f"{statistic}_ci_high"]
    if low is None:
        return value
    return (
        f"{value} [{metric_table.format_value(low, key)}, "
        f"{metric_table.format_value(high, key)}]"
    )


def format_aggregate_table(
    aggregate: Mapping[str, Any],
    keys: Optional[Sequence[str]] = None,
    statistic: str = "iqm",
) -> str:
    """Per metric: rows all year and seasons; columns policy, baseline, difference.

    Cells are `statistic` ("iqm" or "mean") across runs with its bootstrap
    95% interval in brackets.

    Raises:
      ValueError: naming `statistic` if it is neither "iqm" nor "mean".
    """
    if statistic not in ("iqm", "mean"):
        raise ValueError(f"statistic={statistic!r} must be 'iqm' or 'mean'")
    results = aggregate["results"]
    roles = [r for r in metric_table.ROLES if r in results]
    policy = results[metric_table.POLICY]
    keys = [
        k
        for k in (keys or metric_table.ordered_keys(policy["overall"]))
        if k in policy["overall"]
    ]
    lines = [
        f"{statistic.upper()} across {aggregate['num_runs']} runs "
        "[95% bootstrap interval]"
    ]
    for key in keys:
        lines.append(metric_table.BY_KEY[key].axis_label)
        lines.append(f"  {'':10s}" + "".join(f"{role:>30s}" for role in roles))
        scopes = [("all year", None)] + [
            (s, s) for s in metric_table.ordered_seasons(policy["seasons"])
        ]
        for label, season in scopes:
            row = f"  {label:10s}"
            for role in roles:
                part = (
                    results[role]["overall"]
                    if season is None
                    else results[role]["seasons"][season]
                )
                row += (
                    f"{_cell(part[key], statistic, key) if key in part else '-':>30s}"
                )
            lines.append(row)
        lines.append("")
    return "\n".join(lines)
