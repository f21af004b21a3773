"""Which policy fills the starter replay buffer, chosen in gin.

The populate library calls, for each run,

    policy = populate_policy_factory(env.time_step_spec(), env.action_spec(),
                                     seed=run_seed)

and a gin file picks the policy:

    # configs/populate/schedule_policy.gin
    populate_policy_factory.factory = @create_schedule_policy
    # configs/populate/random_policy.gin
    populate_policy_factory.factory = @create_random_policy
    # the schedule with 20% random actions (per step)
    populate_policy_factory.factory = @create_mixed_policy
    create_mixed_policy.random_share = 0.2

The run's seed reaches the factory when it takes a `seed` argument (the
random and mixed policies do), and wins over a gin-bound seed, so every run
draws its own random actions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Optional

import gin
from tf_agents.policies import py_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

# Importing registers the factories with gin, so a gin file naming any of
# them parses after importing this module alone.
from smart_control.reinforcement_learning.policies import (  # noqa: F401
    mixed_policy,
    random_policy,
    schedule_policy,
)

PolicyFactory = Callable[..., py_policy.PyPolicy]


def _takes_seed(factory: Callable) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


@gin.configurable
def populate_policy_factory(
    time_step_spec: ts.TimeStep,
    action_spec: array_spec.BoundedArraySpec,
    factory: PolicyFactory = gin.REQUIRED,
    seed: Optional[int] = None,
) -> py_policy.PyPolicy:
    """Builds the populate policy with the factory bound in gin.

    Args:
      time_step_spec: The environment's time step spec.
      action_spec: The environment's action spec.
      factory: `create_schedule_policy`, `create_random_policy`,
        `create_mixed_policy` (or any callable with that signature returning
        a `PyPolicy`).
      seed: The run's seed, passed on as `seed=` to factories that take one;
        None leaves the factory's own (gin) seed.

    Raises:
      ValueError: if the factory does not return a `PyPolicy`.
    """
    if seed is not None and _takes_seed(factory):
        policy = factory(time_step_spec, action_spec, seed=seed)
    else:
        policy = factory(time_step_spec, action_spec)
    if not isinstance(policy, py_policy.PyPolicy):
        raise ValueError(
            f"populate_policy_factory.factory returned {type(policy).__name__}, "
            "not a PyPolicy"
        )
    return policy
