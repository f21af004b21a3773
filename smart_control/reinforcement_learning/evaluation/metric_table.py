"""The one table of evaluation metrics, and every name derived from it.

Each metric has a key (used in metrics.json, flat columns and TensorBoard
tags), a label and a unit (tables and plots), the direction that is better,
and the `StepInfo` fields of the building environment summed per episode to
compute it (none for the return and the episode length, which every
environment has).

Names built here, and nowhere else:

    metrics.json      results.<role>.overall.<key>.{mean,ci_low,ci_high,n}
                      results.<role>.seasons.<season>.<key>.{...}
    flat columns      <role>/<key>/mean, <role>/<key>/<season>/ci_low, ...
                      (`report_columns`; the sweep's results.csv)
    TensorBoard       Eval/<key>, Eval_<season>/<key> (`summary_tag`); the
                      baseline writes the same tags into its own run
                      directory, so TensorBoard overlays the two curves

Roles are "policy", "baseline" (the schedule) and "difference" (policy minus
baseline, paired per episode).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

POLICY = "policy"
BASELINE = "baseline"
DIFFERENCE = "difference"
ROLES = (POLICY, BASELINE, DIFFERENCE)

HIGHER = "higher"
LOWER = "lower"
NEUTRAL = "neither"

# Meteorological seasons of the northern hemisphere (the default site is
# Chicago), in the order reports list them.
SEASON_MONTHS: Mapping[str, Tuple[int, ...]] = {
    "winter": (12, 1, 2),
    "spring": (3, 4, 5),
    "summer": (6, 7, 8),
    "autumn": (9, 10, 11),
}
SEASONS: Tuple[str, ...] = tuple(SEASON_MONTHS)

# Statistics of one metric over episodes, in metrics.json and flat columns.
EPISODE_STATISTICS = ("mean", "ci_low", "ci_high", "n")


@dataclasses.dataclass(frozen=True)
class Metric:
    """One evaluation metric.

    Attributes:
      key: Identifier in metrics.json, columns and TensorBoard tags.
      label: Human-readable name for tables and plot axes.
      unit: Unit of an episode total ("" for the dimensionless return).
      better: `HIGHER`, `LOWER` or `NEUTRAL`.
      info_fields: `StepInfo` fields summed over an episode; empty for the
        metrics every environment reports (return, length).
    """

    key: str
    label: str
    unit: str
    better: str
    info_fields: Tuple[str, ...] = ()

    @property
    def axis_label(self) -> str:
        """'cost ($, lower is better)' for plot axes."""
        parts = [self.unit] if self.unit else []
        if self.better != NEUTRAL:
            parts.append(f"{self.better} is better")
        return f"{self.label} ({', '.join(parts)})" if parts else self.label

    @property
    def heading(self) -> str:
        """'cost $' for table headers."""
        return f"{self.label} {self.unit}".strip()


METRICS: Tuple[Metric, ...] = (
    Metric("return", "return", "", HIGHER),
    Metric("electricity_kwh", "electricity", "kWh", LOWER, ("electricity_kwh",)),
    Metric("gas_kwh", "gas", "kWh", LOWER, ("gas_kwh",)),
    Metric("cost", "cost", "$", LOWER, ("cost",)),
    Metric("carbon_kg", "CO2", "kg", LOWER, ("carbon_kg",)),
    Metric(
        "comfort_kh",
        "comfort violation",
        "K·h",
        LOWER,
        ("comfort_violation_degree_hours",),
    ),
    Metric("length", "episode length", "steps", NEUTRAL),
)
BY_KEY: Mapping[str, Metric] = {m.key: m for m in METRICS}
INFO_FIELDS: Tuple[str, ...] = tuple(f for m in METRICS for f in m.info_fields)


def ordered_keys(values: Mapping[str, Any]) -> List[str]:
    """The metric keys of `values` in table order (JSON files sort keys)."""
    return [m.key for m in METRICS if m.key in values]


def ordered_seasons(values: Mapping[str, Any]) -> List[str]:
    """The seasons of `values` in `SEASONS` order (JSON files sort keys)."""
    return [s for s in SEASONS if s in values]


def metric(key: str) -> Metric:
    """The table's entry for `key`.

    Raises:
      ValueError: naming `key` if the table has no such metric.
    """
    if key not in BY_KEY:
        raise ValueError(f"key={key!r} is not an evaluation metric: {sorted(BY_KEY)}")
    return BY_KEY[key]


def episode_info_metrics() -> Dict[str, Tuple[str, ...]]:
    """{key: info fields} of the building metrics.

    The same sums for the train loop's collect-side summaries:
    `metrics.EpisodeInfoTotals(env, metrics=episode_info_metrics())`.
    """
    return {m.key: m.info_fields for m in METRICS if m.info_fields}


def table_json(keys: Sequence[str]) -> Dict[str, Dict[str, str]]:
    """The table rows of `keys`, as written into metrics.json."""
    return {
        k: {
            "label": BY_KEY[k].label,
            "unit": BY_KEY[k].unit,
            "better": BY_KEY[k].better,
        }
        for k in keys
    }


def summary_tag(key: str, season: Optional[str] = None) -> str:
    """TensorBoard tag: 'Eval/cost' overall, 'Eval_winter/cost' per season."""
    metric(key)
    return f"Eval/{key}" if season is None else f"Eval_{season}/{key}"


def column_name(
    role: str, key: str, statistic: str = "mean", season: Optional[str] = None
) -> str:
    """Flat column: 'policy/cost/mean', 'baseline/cost/winter/ci_low'."""
    return "/".join([role, key] + ([season] if season else []) + [statistic])


def report_columns(report: Mapping[str, Any], role: str = POLICY) -> Dict[str, Any]:
    """One role of a metrics.json (or `PeriodicEvaluation` report) as flat columns.

    Args:
      report: The parsed metrics.json.
      role: "policy", "baseline" or "difference".

    Returns:
      {'policy/cost/mean': 417.2, 'policy/cost/ci_low': ..., 'policy/cost/n':
      12, 'policy/cost/winter/mean': ..., ...} in table order, overall first
      then seasons in `SEASONS` order; empty if the report has no such role.

    Raises:
      ValueError: naming `role` if it is not one of `ROLES`.
    """
    if role not in ROLES:
        raise ValueError(f"role={role!r} must be one of {ROLES}")
    if role == DIFFERENCE:
        result = report.get(DIFFERENCE)
    else:
        result = (report.get("results") or {}).get(role)
    if not result:
        return {}
    columns: Dict[str, Any] = {}
    scopes = [(None, result["overall"])] + [
        (s, result["seasons"][s]) for s in ordered_seasons(result.get("seasons", {}))
    ]
    for season, values in scopes:
        for key in ordered_keys(values):
            for statistic in EPISODE_STATISTICS:
                columns[column_name(role, key, statistic, season)] = values[key][
                    statistic
                ]
    return columns


def format_value(value: Optional[float], key: str) -> str:
    """A number at a precision fit for the metric ('-' for None)."""
    if value is None:
        return "-"
    if key == "length":
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
