"""PNG plots of an evaluation: temperatures, setpoints, cumulative reward."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

KELVIN_OFFSET = 273.15


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    return plt


def write_plots(evaluations: List[Any], plots_dir: str) -> Dict[str, str]:
    """Writes the plots of the first episode of each policy; returns name -> path."""
    import os

    os.makedirs(plots_dir, exist_ok=True)
    plt = _pyplot()
    written = {}

    figure, axis = plt.subplots(figsize=(10, 4))
    for evaluation in evaluations:
        for index, episode in enumerate(evaluation.episodes):
            label = evaluation.name if index == 0 else None
            axis.plot(
                np.cumsum(episode.rewards),
                label=label,
                alpha=1.0 if index == 0 else 0.35,
                color="tab:blue" if evaluation.name == "policy" else "tab:gray",
            )
    axis.set_xlabel("step")
    axis.set_ylabel("cumulative reward")
    axis.set_title("Cumulative reward per episode (first episode solid)")
    axis.legend()
    written["cumulative_reward"] = _save(
        figure, plots_dir, "cumulative_reward.png", plt
    )

    for evaluation in evaluations:
        episode = evaluation.episodes[0]
        if not episode.infos:
            continue
        infos = episode.infos
        steps = np.arange(len(infos))
        zones = (
            np.array([info.zone_air_temperatures_k for info in infos]) - KELVIN_OFFSET
        )
        low = np.array([info.comfort_low_k for info in infos]) - KELVIN_OFFSET
        high = np.array([info.comfort_high_k for info in infos]) - KELVIN_OFFSET
        outdoor = (
            np.array([info.outdoor_temperature_k for info in infos]) - KELVIN_OFFSET
        )

        figure, axis = plt.subplots(figsize=(10, 4))
        axis.fill_between(
            steps, low, high, color="tab:green", alpha=0.2, label="comfort band"
        )
        axis.plot(steps, zones, linewidth=0.7, color="tab:red", alpha=0.6)
        axis.plot([], [], color="tab:red", label="zone air temperatures")
        axis.plot(steps, outdoor, color="tab:blue", linewidth=0.8, label="outdoor")
        axis.set_xlabel("step")
        axis.set_ylabel("°C")
        axis.set_title(f"{evaluation.name}: zone temperatures, episode 1")
        axis.legend(loc="upper right")
        written[f"{evaluation.name}_temperatures"] = _save(
            figure, plots_dir, f"{evaluation.name}_temperatures.png", plt
        )

        figure, axis = plt.subplots(figsize=(10, 4))
        water = np.array([info.supply_water_setpoint_k for info in infos])
        air = np.array([info.supply_air_heating_setpoint_k for info in infos])
        axis.plot(steps, water, label="supply water setpoint (K)")
        axis.plot(steps, air, label="supply air heating setpoint (K)")
        axis.set_xlabel("step")
        axis.set_ylabel("K")
        axis.set_title(f"{evaluation.name}: setpoints, episode 1")
        axis.legend(loc="upper right")
        written[f"{evaluation.name}_setpoints"] = _save(
            figure, plots_dir, f"{evaluation.name}_setpoints.png", plt
        )
    return written


def _save(figure, plots_dir: str, name: str, plt) -> str:
    import os

    path = os.path.join(plots_dir, name)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
