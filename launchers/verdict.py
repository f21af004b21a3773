"""Whether a policy beats the schedule: cost lower, comfort no worse.

One definition, used by the run summary (the quickstart's verdict), sweeps
and the bench's learning row. It reads the paired difference policy -
schedule of one evaluation (per episode, on the same episodes), as flat
columns (`metric_table.report_columns`, the `columns` of a train loop's
eval/metrics.jsonl record), over the year-round evaluation set or over one
season's episodes:

  * cost lower: the 95% interval of the cost difference lies below zero
    (`difference/cost/ci_high < 0`): the policy is cheaper, beyond the
    episode-to-episode noise;
  * comfort no worse: the mean comfort-violation difference is not above
    zero (`difference/comfort_kh/mean <= 0`). Not the interval: comfort
    violation is concentrated in a few summer episodes, so its interval is
    wide (hundreds of K·h over 12 episodes) and "does not lie above zero"
    let an untrained policy with more violation pass.

The policy beats the schedule when both hold. With a single episode there
is no interval, hence no verdict (None).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional

from smart_control.reinforcement_learning.evaluation import metric_table

COST = "cost"
COMFORT = "comfort_kh"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The comparison of one evaluation with the schedule, in one scope.

    Attributes:
      season: None for the whole evaluation set, else the season.
      beats: Cost lower and comfort no worse; None without intervals.
      cost_lower: The cost difference's interval lies below zero.
      comfort_no_worse: The mean comfort difference is not above zero.
      cost: The cost difference policy - schedule: mean, ci_low, ci_high.
      comfort: The comfort-violation difference: mean, ci_low, ci_high.
      policy_cost: The policy's mean cost per episode.
      schedule_cost: The schedule's mean cost per episode.
    """

    season: Optional[str]
    beats: Optional[bool]
    cost_lower: Optional[bool]
    comfort_no_worse: Optional[bool]
    cost: Dict[str, Optional[float]]
    comfort: Dict[str, Optional[float]]
    policy_cost: Optional[float]
    schedule_cost: Optional[float]

    @property
    def relative_cost(self) -> Optional[float]:
        """The cost difference as a fraction of the schedule's cost."""
        if self.schedule_cost in (None, 0) or self.cost["mean"] is None:
            return None
        return self.cost["mean"] / self.schedule_cost


def _difference(
    columns: Mapping[str, Any], key: str, season: Optional[str]
) -> Dict[str, Optional[float]]:
    return {
        statistic: _number(
            columns.get(
                metric_table.column_name(
                    metric_table.DIFFERENCE, key, statistic, season
                )
            )
        )
        for statistic in ("mean", "ci_low", "ci_high")
    }


def _number(value: Any) -> Optional[float]:
    """A float from a JSON number or a CSV cell ('' and None: missing)."""
    if value is None or value == "":
        return None
    return float(value)


def from_columns(
    columns: Mapping[str, Any], season: Optional[str] = None
) -> Optional[Verdict]:
    """The verdict of an evaluation's flat columns, overall or in one season.

    Args:
      columns: Flat columns of every role (`metric_table.report_columns`).
      season: A season of the evaluation set; None for all of it.

    Returns:
      The verdict; None when the columns hold no cost and comfort
      difference (no schedule baseline, or not the building).
    """
    cost = _difference(columns, COST, season)
    comfort = _difference(columns, COMFORT, season)
    if cost["mean"] is None or comfort["mean"] is None:
        return None
    cost_lower = None if cost["ci_high"] is None else cost["ci_high"] < 0
    # Without an interval (one episode) there is no verdict, as for the cost.
    comfort_no_worse = None if comfort["ci_low"] is None else comfort["mean"] <= 0
    beats = (
        None
        if cost_lower is None or comfort_no_worse is None
        else cost_lower and comfort_no_worse
    )
    return Verdict(
        season=season,
        beats=beats,
        cost_lower=cost_lower,
        comfort_no_worse=comfort_no_worse,
        cost=cost,
        comfort=comfort,
        policy_cost=_number(
            columns.get(
                metric_table.column_name(metric_table.POLICY, COST, "mean", season)
            )
        ),
        schedule_cost=_number(
            columns.get(
                metric_table.column_name(metric_table.BASELINE, COST, "mean", season)
            )
        ),
    )


def report_columns(report: Mapping[str, Any]) -> Dict[str, Any]:
    """Every role's flat columns of a metrics.json."""
    columns: Dict[str, Any] = {}
    for role in metric_table.ROLES:
        columns.update(metric_table.report_columns(report, role))
    return columns


def from_report(
    report: Mapping[str, Any], season: Optional[str] = None
) -> Optional[Verdict]:
    """`from_columns` of a parsed metrics.json."""
    return from_columns(report_columns(report), season)


def _signed(value: Optional[float], key: str) -> str:
    text = metric_table.format_value(value, key)
    return text if value is None or text.startswith("-") else "+" + text


def _interval(
    values: Mapping[str, Optional[float]], key: str, relative: Optional[float] = None
) -> str:
    metric = metric_table.metric(key)
    text = f"{metric.label} {_signed(values['mean'], key)} {metric.unit}"
    if relative is not None:
        text += f" ({100 * relative:+.1f}%)"
    if values["ci_low"] is not None:
        text += (
            f" [95% CI {_signed(values['ci_low'], key)}, "
            f"{_signed(values['ci_high'], key)}]"
        )
    return text


def describe_differences(verdict: Verdict) -> str:
    """'cost -63.0 $ (-13.1%) [95% CI ...], comfort violation -189 K·h [...]'."""
    return (
        f"{_interval(verdict.cost, COST, verdict.relative_cost)}, "
        f"{_interval(verdict.comfort, COMFORT)}"
    )


def describe(verdict: Verdict) -> str:
    """One plain sentence: does it beat the schedule, and by how much.

    'beats the schedule: cost -63.0 $ (-13.1%) [95% CI -70.2, -55.8],
    comfort violation -189 K·h [95% CI ...] (policy - schedule per episode)'.
    """
    differences = describe_differences(verdict) + " (policy - schedule, per episode)"
    if verdict.beats is None:
        return (
            f"no verdict: a single episode gives no confidence interval; {differences}"
        )
    if verdict.beats:
        return f"beats the schedule: {differences}"
    reasons = []
    if not verdict.cost_lower:
        reasons.append("cost not lower")
    if not verdict.comfort_no_worse:
        reasons.append("comfort worse")
    return f"does not beat the schedule ({' and '.join(reasons)}): {differences}"
