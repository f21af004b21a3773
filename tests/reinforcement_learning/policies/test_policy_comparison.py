"""The baseline schedule against random actions and all-week comfort setpoints.

On the same one-week episodes (same seed and start date, hence the same
weather and occupants) the schedule must have fewer comfort violations than a
random policy and use less energy than holding the comfort setpoints (350 K
water, 292 K air) all week, at no comfort cost. bench/bench_environment.py
--compare runs the same comparison over a year.
"""

import pytest

from smart_control.environment import building_env
from smart_control.reinforcement_learning.policies import random_policy, schedule_policy

# A winter, a spring and an autumn week.
STARTS = ("2023-01-09", "2023-04-03", "2023-10-16")


class _Constant:
    """Holds one action."""

    def __init__(self, action):
        self._step = type("PolicyStep", (), {"action": action})()

    def action(self, time_step):
        del time_step
        return self._step


def _episode(start, make_policy):
    """(comfort violation K*h, electricity + gas kWh) of one week."""
    env = building_env.BuildingEnvironment(seed=1, start_date=start)
    policy = make_policy(env)
    time_step = env.reset()
    violation = energy = 0.0
    for _ in range(env.steps_per_episode):
        time_step = env.step(policy.action(time_step).action)
        info = env.get_info()
        violation += info.comfort_violation_degree_hours
        energy += info.electricity_kwh + info.gas_kwh
    return violation, energy


@pytest.mark.parametrize("start", STARTS)
def test_schedule_beats_random_and_comfort_all_week(start):
    schedule = _episode(
        start,
        lambda env: schedule_policy.create_schedule_policy(
            env.time_step_spec(), env.action_spec()
        ),
    )
    random = _episode(
        start,
        lambda env: random_policy.create_random_policy(
            env.time_step_spec(), env.action_spec(), seed=0
        ),
    )
    comfort = _episode(
        start, lambda env: _Constant(env.action_mapping.to_action(350.0, 292.0))
    )
    assert schedule[0] < random[0]
    assert schedule[1] < comfort[1]
    assert schedule[0] <= 1.01 * comfort[0] + 1e-9
