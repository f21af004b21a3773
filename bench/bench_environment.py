"""Benchmark of the building environment, and the baseline policy comparison.

`run()` measures, for the default gin-free office building:
  * raw `PyEnvironment.step` throughput (steps/s, resets not timed), with
    uniformly random actions drawn up front so the policy costs nothing;
  * the wall time of a one-week episode (reset + 672 steps), in seconds.

`compare_policies()` runs the schedule policy, a uniform random policy and a
"comfort setpoints all week" policy (supply water 350 K and supply air 292 K
at every step) over the same one-week episodes (same seed and start dates,
so the same weather and occupants) and totals comfort violation, energy,
cost and reward.

    PYTHONPATH=. python bench/bench_environment.py            # throughput
    PYTHONPATH=. python bench/bench_environment.py --compare  # + policies
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np

from smart_control.environment import building_env
from smart_control.reinforcement_learning.policies import (
    random_policy,
    schedule_policy,
)

_EPISODES_PER_REPETITION = 10


def _step_rate(env: building_env.BuildingEnvironment, seed: int) -> tuple[float, float]:
    """(steps per second of env.step, mean seconds per one-week episode)."""
    steps = env.steps_per_episode
    rng = np.random.default_rng(seed)
    step_time = 0.0
    episode_time = 0.0
    for _ in range(_EPISODES_PER_REPETITION):
        actions = rng.uniform(-1.0, 1.0, size=(steps, 2)).astype(np.float32)
        start = time.perf_counter()
        env.reset()
        reset_done = time.perf_counter()
        for action in actions:
            env.step(action)
        end = time.perf_counter()
        step_time += end - reset_done
        episode_time += end - start
    return (
        _EPISODES_PER_REPETITION * steps / step_time,
        episode_time / _EPISODES_PER_REPETITION,
    )


def run(repetitions: int = 3) -> list[dict]:
    """Benchmark rows: env.step throughput and one-week episode time.

    Args:
      repetitions: Independent repetitions (each 10 one-week episodes).

    Returns:
      Rows {"group", "name", "unit", "values", "baseline"}.
    """
    env = building_env.BuildingEnvironment(seed=0)
    _step_rate(env, seed=12345)  # warm-up: caches, allocator
    rates, episodes = [], []
    for repetition in range(repetitions):
        rate, episode = _step_rate(env, seed=repetition)
        rates.append(rate)
        episodes.append(episode)
    return [
        {
            "group": "environment",
            "name": "building env.step",
            "unit": "steps/s",
            "values": rates,
            "baseline": None,
        },
        {
            "group": "environment",
            "name": "building one-week episode (reset + 672 steps)",
            "unit": "s",
            "values": episodes,
            "baseline": None,
        },
    ]


class _ConstantPolicy:
    """Holds one action; enough for the comparison loop."""

    def __init__(self, action: np.ndarray):
        self._action = action

    def action(self, time_step):
        del time_step
        return _PolicyStep(self._action)


class _PolicyStep:
    def __init__(self, action):
        self.action = action


def compare_policies(
    episodes: int = 13, seed: int = 1, first_start: str = "2023-01-09"
) -> dict[str, dict[str, float]]:
    """Totals over the same one-week episodes for three policies.

    Episodes start every four weeks from `first_start`, covering a year.

    Returns:
      {policy: {"comfort_violation_degree_hours", "electricity_kwh",
      "gas_kwh", "energy_kwh", "cost", "carbon_kg", "reward"}}.
    """
    first = datetime.date.fromisoformat(first_start)
    starts = [first + datetime.timedelta(weeks=4 * i) for i in range(episodes)]
    results = {}
    for name in ("schedule", "random", "comfort_all_week"):
        totals = dict.fromkeys(
            (
                "comfort_violation_degree_hours",
                "electricity_kwh",
                "gas_kwh",
                "cost",
                "carbon_kg",
                "reward",
            ),
            0.0,
        )
        for episode, start in enumerate(starts):
            env = building_env.BuildingEnvironment(
                seed=seed, start_date=start.isoformat()
            )
            spec, action_spec = env.time_step_spec(), env.action_spec()
            if name == "schedule":
                policy = schedule_policy.create_schedule_policy(spec, action_spec)
            elif name == "random":
                policy = random_policy.create_random_policy(
                    spec, action_spec, seed=episode
                )
            else:
                policy = _ConstantPolicy(env.action_mapping.to_action(350.0, 292.0))
            time_step = env.reset()
            for _ in range(env.steps_per_episode):
                time_step = env.step(policy.action(time_step).action)
                info = env.get_info()
                for key in totals:
                    totals[key] += getattr(info, key)
        totals["energy_kwh"] = totals["electricity_kwh"] + totals["gas_kwh"]
        results[name] = totals
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--compare", action="store_true", help="also compare the baseline policies"
    )
    args = parser.parse_args()
    for row in run(args.repetitions):
        values = ", ".join(f"{v:,.4g}" for v in row["values"])
        print(f"{row['group']}/{row['name']}: [{values}] {row['unit']}")
    if args.compare:
        episodes = 13
        results = compare_policies(episodes=episodes)
        columns = (
            ("comfort_violation_degree_hours", "comfort K*h"),
            ("electricity_kwh", "elec kWh"),
            ("gas_kwh", "gas kWh"),
            ("energy_kwh", "energy kWh"),
            ("cost", "cost $"),
            ("carbon_kg", "CO2 kg"),
            ("reward", "reward"),
        )
        print(
            f"\nTotals over the same {episodes} one-week episodes "
            "(seed 1, starts every 4 weeks from 2023-01-09):"
        )
        print("policy".ljust(18) + "".join(label.rjust(13) for _, label in columns))
        for name, totals in results.items():
            print(name.ljust(18) + "".join(f"{totals[k]:13,.1f}" for k, _ in columns))


if __name__ == "__main__":
    main()
