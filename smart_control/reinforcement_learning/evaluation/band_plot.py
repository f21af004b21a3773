"""A metric against a swept value (or env steps), mean or IQM with a 95% band.

For sweeps with several seeds per point and for learning curves over seeds:

    plot_confidence_bands(
        "sweep/cost.png",
        {"SAC": {1e-4: [412.0, 430.5, 419.2], 3e-4: [...]},
         "residual SAC": {...}},
        x_label="learning rate",
        metric_key="cost",
        reference_lines={"schedule": 480.1},
    )

Each series is drawn as its statistic across seeds (line and markers), the
percentile-bootstrap 95% interval as a shaded band, and every seed's value
as a dot, so a band from two seeds is not mistaken for certainty.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from smart_control.reinforcement_learning.evaluation import metric_table, plots
from smart_control.reinforcement_learning.evaluation import statistics as stats


def _numeric(xs: Sequence[Any]) -> bool:
    return all(
        isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
        for x in xs
    )


def plot_confidence_bands(
    path: str,
    series: Mapping[str, Mapping[Any, Sequence[float]]],
    x_label: str,
    metric_key: Optional[str] = None,
    y_label: Optional[str] = None,
    statistic: str = "iqm",
    reference_lines: Optional[Mapping[str, float]] = None,
    title: Optional[str] = None,
    log_x: Optional[bool] = None,
    reps: int = 10_000,
) -> str:
    """Draws each series' statistic across seeds against x with a 95% band.

    Args:
      path: PNG to write.
      series: {label: {x value: [one value per seed]}}; x values numeric
        (drawn to scale) or anything else (drawn as categories in the order
        of first appearance).
      x_label: The x axis (e.g. the swept binding, or "env steps").
      metric_key: A metric table key; gives the y label (unit, direction).
      y_label: The y label when `metric_key` is None.
      statistic: "iqm" or "mean".
      reference_lines: {label: y} horizontal dashed lines (e.g. the
        schedule's level).
      title: Figure title; default "<statistic> of <y> across seeds".
      log_x: Log-scale x; None for automatic (positive, spanning 10x).
      reps: Bootstrap resamples.

    Returns:
      `path`.

    Raises:
      ValueError: naming `statistic`, `series` or `metric_key`.
    """
    if statistic not in ("iqm", "mean"):
        raise ValueError(f"statistic={statistic!r} must be 'iqm' or 'mean'")
    if not series or not any(series.values()):
        raise ValueError("series is empty")
    y_label = (
        metric_table.metric(metric_key).axis_label if metric_key else (y_label or "")
    )
    all_xs = [x for points in series.values() for x in points]
    numeric = _numeric(all_xs)
    categories = list(dict.fromkeys(all_xs))
    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    for index, (label, points) in enumerate(series.items()):
        color = f"C{index}"
        xs = sorted(points) if numeric else [x for x in categories if x in points]
        position = np.array(xs if numeric else [categories.index(x) for x in xs], float)
        centers, lows, highs = [], [], []
        for x in xs:
            values = list(points[x])
            result = stats.seed_statistics(values, reps=reps)
            center = result.iqm if statistic == "iqm" else result.mean
            interval = result.iqm_ci if statistic == "iqm" else result.mean_ci
            centers.append(center)
            lows.append(interval[0] if interval else center)
            highs.append(interval[1] if interval else center)
            axis.scatter(
                np.full(len(values), position[xs.index(x)]),
                values,
                s=10,
                color=color,
                alpha=0.4,
                linewidths=0,
            )
        counts = sorted({len(points[x]) for x in xs})
        seeds = "/".join(str(c) for c in counts)
        axis.plot(
            position, centers, marker="o", color=color, label=f"{label} ({seeds} seeds)"
        )
        axis.fill_between(position, lows, highs, color=color, alpha=0.2, linewidth=0)
    for index, (label, value) in enumerate((reference_lines or {}).items()):
        axis.axhline(
            value, linestyle="--", color=f"C{len(series) + index}", label=label
        )
    if not numeric:
        axis.set_xticks(range(len(categories)))
        axis.set_xticklabels([str(c) for c in categories])
    elif log_x or (
        log_x is None and min(all_xs) > 0 and max(all_xs) / min(all_xs) >= 10
    ):
        axis.set_xscale("log")
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    axis.set_title(
        title or f"{statistic.upper()} across seeds, 95% bootstrap band", fontsize=10
    )
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    return plots.save(figure, path)
