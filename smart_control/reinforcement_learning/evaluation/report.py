"""Summaries of an evaluation: metrics.json's content and the printed table.

For each role ("policy", "baseline") every metric of the table gets its mean
and 95% interval over all episodes ("overall") and over the episodes of each
season; "difference" holds the same for the per-episode differences policy
minus baseline, which pair the two on identical episodes and so have much
tighter intervals than the two means side by side.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.evaluation import statistics as stats
from smart_control.reinforcement_learning.evaluation.runner import EpisodeResult

FORMAT_VERSION = 2
OVERALL_LABEL = "all year"


def _summarize(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> Dict[str, Any]:
    """overall / seasons intervals of `keys` over episode rows."""
    seasons = [row["season"] for row in rows]
    seasonal = all(season is not None for season in seasons)
    overall = {}
    for key in keys:
        values = [row[key] for row in rows]
        interval = (
            stats.stratified_mean_interval(values, seasons)
            if seasonal
            else stats.mean_interval(values)
        )
        overall[key] = interval.as_dict()
    by_season: Dict[str, Any] = {}
    if seasonal:
        for season in metric_table.SEASONS:
            subset = [row for row in rows if row["season"] == season]
            if subset:
                by_season[season] = {
                    key: stats.mean_interval([row[key] for row in subset]).as_dict()
                    for key in keys
                }
    return {"overall": overall, "seasons": by_season}


def _keys(results: Sequence[EpisodeResult]) -> List[str]:
    present = set(results[0].metrics())
    return [m.key for m in metric_table.METRICS if m.key in present]


def role_summary(results: Sequence[EpisodeResult]) -> Dict[str, Any]:
    """One role's entry of metrics.json: overall, seasons, mean, episodes.

    Raises:
      ValueError: naming `results` when empty.
    """
    if not results:
        raise ValueError("results is empty")
    keys = _keys(results)
    rows = [{**r.episode.as_dict(), **r.metrics()} for r in results]
    summary = _summarize(rows, keys)
    summary["mean"] = {key: summary["overall"][key]["mean"] for key in keys}
    summary["episodes"] = rows
    return summary


def difference_summary(
    policy: Sequence[EpisodeResult], baseline: Sequence[EpisodeResult]
) -> Dict[str, Any]:
    """Intervals of the per-episode differences policy - baseline.

    Raises:
      ValueError: if the two did not run the same episodes.
    """
    if [r.episode for r in policy] != [r.episode for r in baseline]:
        raise ValueError("policy and baseline ran different episodes")
    keys = [
        k
        for k in _keys(policy)
        if k in baseline[0].metrics() and metric_table.BY_KEY[k].better != "neither"
    ]
    rows = []
    for ours, theirs in zip(policy, baseline):
        a, b = ours.metrics(), theirs.metrics()
        rows.append({"season": ours.episode.season, **{k: a[k] - b[k] for k in keys}})
    return _summarize(rows, keys)


def build_report(
    policy_name: str,
    evaluation_set: Mapping[str, Any],
    policy_results: Sequence[EpisodeResult],
    baseline_name: Optional[str] = None,
    baseline_results: Optional[Sequence[EpisodeResult]] = None,
) -> Dict[str, Any]:
    """The metrics.json content (see `evaluate.py` for its layout)."""
    results = {metric_table.POLICY: role_summary(policy_results)}
    report: Dict[str, Any] = {
        "format": FORMAT_VERSION,
        "policy": policy_name,
        "baseline": baseline_name if baseline_results else None,
        "evaluation_set": dict(evaluation_set),
        "metrics": metric_table.table_json(
            metric_table.ordered_keys(results["policy"]["overall"])
        ),
        "results": results,
    }
    if baseline_results:
        results[metric_table.BASELINE] = role_summary(baseline_results)
        report[metric_table.DIFFERENCE] = difference_summary(
            policy_results, baseline_results
        )
    return report


# ---------------------------------------------------------------- printing


def display_name(report: Mapping[str, Any], role: str) -> str:
    """'schedule' for the schedule, else the role ('policy' for a SavedModel)."""
    name = report.get(role)
    return name if name and "/" not in name and os.sep not in name else role


def _cell(interval: Optional[Mapping[str, Any]], key: str, signed: bool = False) -> str:
    if interval is None:
        return "-"
    mean = metric_table.format_value(interval["mean"], key)
    if signed and not mean.startswith("-"):
        mean = "+" + mean
    if interval["ci_low"] is None:
        return mean
    half = 0.5 * (interval["ci_high"] - interval["ci_low"])
    return f"{mean} ± {metric_table.format_value(half, key)}"


def verdict(interval: Mapping[str, Any], key: str) -> str:
    """'better' / 'worse' when the difference's interval excludes 0, else ''."""
    better = metric_table.BY_KEY[key].better
    low, high = interval["ci_low"], interval["ci_high"]
    if low is None or better == metric_table.NEUTRAL:
        return ""
    if low > 0 or high < 0:
        improved = (low > 0) == (better == metric_table.HIGHER)
        return "better" if improved else "worse"
    return ""


def format_table(
    report: Mapping[str, Any], keys: Optional[Sequence[str]] = None
) -> str:
    """The per-season table the eval binary prints (one block per metric).

    Each cell is the mean ± the 95% interval's half-width over episodes; the
    difference column (policy - baseline, paired per episode) says 'better'
    or 'worse' when its interval excludes zero.
    """
    results = report["results"]
    policy = results[metric_table.POLICY]
    baseline = results.get(metric_table.BASELINE)
    difference = report.get(metric_table.DIFFERENCE)
    keys = [
        k
        for k in (keys or metric_table.ordered_keys(policy["overall"]))
        if k in policy["overall"]
    ]
    scopes = [(OVERALL_LABEL, "overall", None)] + [
        (season, "seasons", season)
        for season in metric_table.ordered_seasons(policy["seasons"])
    ]
    roles = [(display_name(report, metric_table.POLICY), policy)]
    if baseline:
        roles.append((display_name(report, metric_table.BASELINE), baseline))
    lines = []
    for key in keys:
        metric = metric_table.BY_KEY[key]
        lines.append(metric.axis_label)
        header = f"  {'':10s}" + "".join(f"{name[:22]:>24s}" for name, _ in roles)
        if difference and key in difference["overall"]:
            header += f"{'difference':>24s}"
        lines.append(header)
        for label, part, season in scopes:
            row = f"  {label:10s}"
            for _, summary in roles:
                values = summary[part] if season is None else summary[part][season]
                row += f"{_cell(values.get(key), key):>24s}"
            if difference and key in difference["overall"]:
                values = (
                    difference["overall"]
                    if season is None
                    else difference["seasons"][season]
                )
                row += f"{_cell(values[key], key, signed=True):>24s}"
                row += f"  {verdict(values[key], key)}"
            lines.append(row.rstrip())
        lines.append("")
    return "\n".join(lines)


def describe(report: Mapping[str, Any]) -> str:
    """One line for progress bars.

    'eval return -53.7 vs -65.0, cost 417.2 vs 480.1, comfort_kh 21.0 vs
    210.0 (policy vs baseline)', or without the 'vs' parts with no baseline.
    """
    policy = report["results"][metric_table.POLICY]["mean"]
    baseline = (report["results"].get(metric_table.BASELINE) or {}).get("mean", {})
    parts = []
    for key in ("return", "cost", "comfort_kh"):
        if key in policy:
            text = f"{key} {metric_table.format_value(policy[key], key)}"
            if key in baseline:
                text += f" vs {metric_table.format_value(baseline[key], key)}"
            parts.append(text)
    suffix = " (policy vs baseline)" if baseline else ""
    return "eval " + ", ".join(parts) + suffix
