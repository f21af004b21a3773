"""Observers the train loop feeds from its Actors, and the rates it reports.

`EpisodeInfoTotals` sums per-step components that an environment reports
through `get_info()` (the building's energy, cost, carbon and comfort
violation) over each episode. Environments without such info (Gym) are
detected from the first step and the observer then reports nothing.

`RunCounters` counts environment steps and episodes; the train loop stores
both in its checkpoint marker, so they continue across restarts (TF-Agents'
`EnvironmentSteps` metric would restart from zero).
"""

from __future__ import annotations

import collections
import time
from typing import Deque, Dict, Mapping, Optional, Sequence, Tuple

from tf_agents.environments import py_environment
from tf_agents.trajectories import trajectory as trajectory_lib

# Summary name -> the `get_info()` fields summed into it (per episode).
BUILDING_INFO_METRICS: Mapping[str, Tuple[str, ...]] = {
    "EpisodeEnergyKwh": ("electricity_kwh", "gas_kwh"),
    "EpisodeCost": ("cost",),
    "EpisodeCarbonKg": ("carbon_kg",),
    "EpisodeComfortViolationDegreeHours": ("comfort_violation_degree_hours",),
}


class EpisodeInfoTotals:
    """Trajectory observer: per-episode sums of `env.get_info()` fields.

    Call it after every environment step (as an Actor observer); it reads the
    info of the step just taken. `results()` gives the mean over the last
    `buffer_size` finished episodes.
    """

    def __init__(
        self,
        env: py_environment.PyEnvironment,
        metrics: Mapping[str, Sequence[str]] = BUILDING_INFO_METRICS,
        buffer_size: int = 10,
    ):
        """Initialises the observer.

        Args:
          env: The environment the observed trajectories come from.
          metrics: Summary name -> info fields summed into it.
          buffer_size: Finished episodes averaged by `results()`.
        """
        self._env = env
        self._metrics = {name: tuple(fields) for name, fields in metrics.items()}
        self._fields = sorted({f for fields in self._metrics.values() for f in fields})
        self._current = dict.fromkeys(self._fields, 0.0)
        self._episodes: Deque[Dict[str, float]] = collections.deque(maxlen=buffer_size)
        self._supported: Optional[bool] = None

    @property
    def supported(self) -> Optional[bool]:
        """Whether the env reports the fields (None before the first step)."""
        return self._supported

    def __call__(self, trajectory: trajectory_lib.Trajectory) -> None:
        if self._supported is False or trajectory.is_boundary():
            # Boundary steps (LAST -> FIRST) only reset the environment.
            return
        info = self._info()
        if self._supported is None:
            self._supported = info is not None and all(
                hasattr(info, f) for f in self._fields
            )
            if not self._supported:
                return
        for field in self._fields:
            self._current[field] += float(getattr(info, field))
        if trajectory.is_last():
            self._episodes.append(self._current)
            self._current = dict.fromkeys(self._fields, 0.0)

    def _info(self):
        try:
            return self._env.get_info()
        except NotImplementedError:
            return None

    def reset(self) -> None:
        """Forgets finished episodes and the one in progress."""
        self._current = dict.fromkeys(self._fields, 0.0)
        self._episodes.clear()

    def results(self) -> Dict[str, float]:
        """Mean per-episode totals; empty until an episode with info finished."""
        if not self._supported or not self._episodes:
            return {}
        count = len(self._episodes)
        return {
            name: sum(sum(e[f] for f in fields) for e in self._episodes) / count
            for name, fields in self._metrics.items()
        }


class RunCounters:
    """Trajectory observer counting environment steps and finished episodes.

    Boundary trajectories (the reset between two episodes) are not counted,
    as in TF-Agents' `EnvironmentSteps`.
    """

    def __init__(self, env_steps: int = 0, episodes: int = 0):
        self.env_steps = env_steps
        self.episodes = episodes

    def __call__(self, trajectory: trajectory_lib.Trajectory) -> None:
        if not trajectory.is_boundary():
            self.env_steps += 1
            if trajectory.is_last():
                self.episodes += 1


class RateMeter:
    """Steps per second of a counter between two `rate()` calls."""

    def __init__(self, value: int):
        self._value = value
        self._time = time.monotonic()

    def rate(self, value: int) -> float:
        """Steps/s since the previous call (or construction); resets the window."""
        now = time.monotonic()
        elapsed = now - self._time
        steps = value - self._value
        self._value, self._time = value, now
        return steps / elapsed if elapsed > 0 else 0.0
