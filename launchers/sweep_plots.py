"""A sweep's plots: per metric, the policy across the first swept setting.

`write_plots` draws `<key>.png` for every metric of the run summary
(`summary.SUMMARY_KEYS`): the policy's mean across seeds against the first
swept value with its 95% bootstrap band, each seed a dot, one series per value
of the other swept settings, and the schedule as a dashed reference line (a
series of its own when the swept settings change it, e.g. the building).
`sweep_results.write_outputs` calls it for a sweep's root directory.
"""

from __future__ import annotations

import collections.abc
import math
import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from launchers import summary
from smart_control.reinforcement_learning.evaluation import metric_table

if TYPE_CHECKING:  # sweep_results imports this module
    from launchers.sweep_results import PointResult

# The metrics a sweep plots, in this order (the run summary's).
PLOTTED_KEYS = summary.SUMMARY_KEYS
SCHEDULE = "schedule"


def _hashable(value: Any) -> Any:
    return value if isinstance(value, collections.abc.Hashable) else repr(value)


def _overall(
    aggregate: Mapping[str, Any], role: str, key: str
) -> Optional[List[float]]:
    part = aggregate["results"].get(role)
    if not part or key not in part["overall"]:
        return None
    return list(part["overall"][key]["values"])


def plot_series(
    results: Sequence[PointResult], axis_names: Sequence[str], key: str
) -> Tuple[Dict[str, Dict[Any, List[float]]], Dict[str, float]]:
    """(series, reference lines) of one metric for `band_plot`.

    Series: the policy, one per value of the swept settings after the first,
    {x: per-seed values}. The schedule: one reference line when it is the
    same at every point, else a series of its own per group.
    """
    series: Dict[str, Dict[Any, List[float]]] = {}
    schedule: Dict[str, Dict[Any, List[float]]] = {}
    x_name, others = (axis_names[0], axis_names[1:]) if axis_names else (None, [])
    for result in results:
        if result.aggregate is None:
            continue
        policy = _overall(result.aggregate, metric_table.POLICY, key)
        if policy is None:
            continue
        x = _hashable(result.values[x_name]) if x_name else result.name
        group = ", ".join(f"{n}={result.values[n]}" for n in others)
        series.setdefault(group or "policy", {})[x] = policy
        baseline = _overall(result.aggregate, metric_table.BASELINE, key)
        if baseline is not None:
            label = f"{SCHEDULE}, {group}" if group else SCHEDULE
            schedule.setdefault(label, {})[x] = baseline
    values = [v for points in schedule.values() for vs in points.values() for v in vs]
    if values and _all_close(values):
        return series, {SCHEDULE: values[0]}
    series.update(schedule)
    return series, {}


def _all_close(values: Sequence[float]) -> bool:
    return all(math.isclose(v, values[0], rel_tol=1e-9, abs_tol=1e-9) for v in values)


def write_plots(
    root_dir: str, axis_names: Sequence[str], results: Sequence[PointResult]
) -> List[str]:
    """<key>.png for every plotted metric that some point has."""
    # band_plot imports the plotting module, which imports TensorFlow.
    from smart_control.reinforcement_learning.evaluation import band_plot

    paths = []
    x_label = axis_names[0] if axis_names else "point"
    for key in PLOTTED_KEYS:
        series, reference = plot_series(results, axis_names, key)
        if not series:
            continue
        label = metric_table.metric(key).label
        paths.append(
            band_plot.plot_confidence_bands(
                os.path.join(root_dir, f"{key}.png"),
                series,
                x_label=x_label,
                metric_key=key,
                statistic="mean",
                reference_lines=reference,
                title=f"{label}: mean across seeds, 95% bootstrap band",
            )
        )
    return paths
