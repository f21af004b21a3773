"""PNG plots of an evaluation.

    seasons.png            per metric: policy and baseline per season, mean
                           with 95% interval (building environments)
    cumulative_reward.png  cumulative reward of the policy against the
                           baseline, one panel per representative episode
    episode_<season>.png   one representative episode per season: zone air
                           temperatures against the comfort band (policy,
                           then baseline), and both policies' setpoints

Labels and units come from the metric table.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.evaluation import report as report_lib
from smart_control.reinforcement_learning.evaluation.runner import EpisodeResult

KELVIN_OFFSET = 273.15
SECONDS_PER_DAY = 86400.0
POLICY_COLOR = "tab:blue"
BASELINE_COLOR = "tab:gray"


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (servers have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: Any, path: str) -> str:
    """Writes and closes `figure`; returns `path`."""
    plt = pyplot()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _title(result: EpisodeResult) -> str:
    episode = result.episode
    if episode.start_date:
        return f"{episode.season}, from {episode.start_date}"
    return f"episode {episode.index + 1}"


def write_plots(
    report: Mapping[str, Any],
    policy_results: Sequence[EpisodeResult],
    baseline_results: Optional[Sequence[EpisodeResult]],
    traced: Sequence[int],
    plots_dir: str,
) -> Dict[str, str]:
    """Writes the evaluation's plots; returns {name: path}.

    Args:
      report: The metrics.json content (for the per-season summary).
      policy_results: The evaluated policy's episodes.
      baseline_results: The baseline's episodes (same order), or None.
      traced: Indices of the representative episodes (their StepInfos kept).
      plots_dir: Created if missing.
    """
    os.makedirs(plots_dir, exist_ok=True)
    written = {}
    if report["results"]["policy"]["seasons"]:
        written["seasons"] = _seasons(report, os.path.join(plots_dir, "seasons.png"))
    written["cumulative_reward"] = _cumulative_reward(
        policy_results,
        baseline_results,
        traced,
        report,
        os.path.join(plots_dir, "cumulative_reward.png"),
    )
    for index in traced:
        ours = policy_results[index]
        theirs = baseline_results[index] if baseline_results else None
        if not ours.infos:
            continue
        name = f"episode_{ours.episode.season or index + 1}"
        written[name] = _episode(
            ours, theirs, report, os.path.join(plots_dir, f"{name}.png")
        )
    return written


def _role_names(report: Mapping[str, Any]) -> List[str]:
    return [
        report_lib.display_name(report, metric_table.POLICY),
        report_lib.display_name(report, metric_table.BASELINE),
    ]


def _seasons(report: Mapping[str, Any], path: str) -> str:
    plt = pyplot()
    results = report["results"]
    keys = [
        k
        for k in metric_table.ordered_keys(results["policy"]["overall"])
        if k != "length"
    ]
    seasons = metric_table.ordered_seasons(results["policy"]["seasons"]) + ["overall"]
    roles = [r for r in ("policy", "baseline") if r in results]
    names = _role_names(report)
    columns = 3
    rows = (len(keys) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows))
    axes = np.atleast_1d(axes).reshape(-1)
    width = 0.8 / len(roles)
    for axis, key in zip(axes, keys):
        for r, role in enumerate(roles):
            summary = results[role]
            values = [
                summary["overall"][key]
                if s == "overall"
                else summary["seasons"][s][key]
                for s in seasons
            ]
            means = np.array([v["mean"] for v in values])
            errors = np.array(
                [
                    [v["mean"] - v["ci_low"], v["ci_high"] - v["mean"]]
                    if v["ci_low"] is not None
                    else [0.0, 0.0]
                    for v in values
                ]
            ).T
            axis.bar(
                np.arange(len(seasons)) + (r - (len(roles) - 1) / 2) * width,
                means,
                width,
                yerr=errors,
                capsize=3,
                color=POLICY_COLOR if role == "policy" else BASELINE_COLOR,
                label=names[r],
            )
        axis.set_xticks(np.arange(len(seasons)))
        axis.set_xticklabels(seasons, fontsize=8)
        axis.set_title(metric_table.BY_KEY[key].axis_label, fontsize=9)
        axis.grid(True, axis="y", alpha=0.3)
    for axis in axes[len(keys) :]:
        axis.set_visible(False)
    axes[0].legend(fontsize=8)
    figure.suptitle("Mean per episode with 95% interval")
    return save(figure, path)


def _cumulative_reward(
    policy_results: Sequence[EpisodeResult],
    baseline_results: Optional[Sequence[EpisodeResult]],
    traced: Sequence[int],
    report: Mapping[str, Any],
    path: str,
) -> str:
    plt = pyplot()
    names = _role_names(report)
    seasonal = policy_results[0].episode.season is not None
    panels = list(traced) if seasonal else [None]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.0 * len(panels), 3.4), squeeze=False
    )
    for axis, index in zip(axes[0], panels):
        chosen = range(len(policy_results)) if index is None else [index]
        for position, i in enumerate(chosen):
            label = position == 0
            axis.plot(
                np.cumsum(policy_results[i].rewards),
                color=POLICY_COLOR,
                label=names[0] if label else None,
                alpha=1.0 if index is not None else 0.5,
            )
            if baseline_results:
                axis.plot(
                    np.cumsum(baseline_results[i].rewards),
                    color=BASELINE_COLOR,
                    label=names[1] if label else None,
                    alpha=1.0 if index is not None else 0.5,
                )
        axis.set_title(
            _title(policy_results[index]) if index is not None else "all episodes",
            fontsize=9,
        )
        axis.set_xlabel("step")
        axis.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("cumulative reward")
    axes[0][0].legend(fontsize=8)
    return save(figure, path)


def _days(infos: Sequence[Any]) -> np.ndarray:
    start = np.array([info.start_utc_s for info in infos], dtype=np.float64)
    return (start - start[0]) / SECONDS_PER_DAY


def _temperatures(axis: Any, result: EpisodeResult, name: str) -> None:
    infos = result.infos
    days = _days(infos)
    zones = np.array([i.zone_air_temperatures_k for i in infos]) - KELVIN_OFFSET
    low = np.array([i.comfort_low_k for i in infos]) - KELVIN_OFFSET
    high = np.array([i.comfort_high_k for i in infos]) - KELVIN_OFFSET
    outdoor = np.array([i.outdoor_temperature_k for i in infos]) - KELVIN_OFFSET
    axis.fill_between(
        days, low, high, color="tab:green", alpha=0.2, label="comfort band"
    )
    axis.plot(days, zones, linewidth=0.6, color="tab:red", alpha=0.5)
    axis.plot([], [], color="tab:red", label="zone air")
    axis.plot(days, outdoor, color="tab:blue", linewidth=0.8, label="outdoor")
    metrics = result.metrics()
    axis.set_title(
        f"{name}: comfort violation {metrics['comfort_kh']:.1f} K·h, "
        f"cost ${metrics['cost']:.0f}",
        fontsize=9,
    )
    axis.set_ylabel("°C")
    axis.legend(loc="upper right", fontsize=7)
    axis.grid(True, alpha=0.3)


def _episode(
    ours: EpisodeResult,
    theirs: Optional[EpisodeResult],
    report: Mapping[str, Any],
    path: str,
) -> str:
    plt = pyplot()
    names = _role_names(report)
    panels = 3 if theirs is not None and theirs.infos else 2
    figure, axes = plt.subplots(panels, 1, figsize=(10, 2.8 * panels), sharex=True)
    _temperatures(axes[0], ours, names[0])
    runs = [(ours, names[0], "-")]
    if panels == 3:
        _temperatures(axes[1], theirs, names[1])
        runs.append((theirs, names[1], "--"))
    setpoints = axes[-1]
    for result, name, style in runs:
        days = _days(result.infos)
        water = np.array([i.supply_water_setpoint_k for i in result.infos])
        air = np.array([i.supply_air_heating_setpoint_k for i in result.infos])
        setpoints.plot(days, water - KELVIN_OFFSET, style, color="tab:purple",
                       linewidth=0.9, label=f"{name}: supply water")  # fmt: skip
        setpoints.plot(days, air - KELVIN_OFFSET, style, color="tab:orange",
                       linewidth=0.9, label=f"{name}: supply air heating")  # fmt: skip
    setpoints.set_ylabel("setpoint °C")
    setpoints.set_xlabel(f"days since {ours.episode.start_date or 'the start'}")
    setpoints.legend(loc="upper right", fontsize=7, ncol=2)
    setpoints.grid(True, alpha=0.3)
    figure.suptitle(_title(ours))
    return save(figure, path)
