"""Which policy fills the starter replay buffer, chosen in gin.

The populate binary calls

    policy = populate_policy_factory(env.time_step_spec(), env.action_spec())

and a gin file picks the policy:

    # configs/populate/schedule_policy.gin
    populate_policy_factory.factory = @create_schedule_policy
    # configs/populate/random_policy.gin
    populate_policy_factory.factory = @create_random_policy
"""

from __future__ import annotations

from collections.abc import Callable

import gin
from tf_agents.policies import py_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

# Importing registers both factories with gin, so a gin file naming either
# parses after importing this module alone.
from smart_control.reinforcement_learning.policies import (  # noqa: F401
    random_policy,
    schedule_policy,
)

PolicyFactory = Callable[[ts.TimeStep, array_spec.BoundedArraySpec], py_policy.PyPolicy]


@gin.configurable
def populate_policy_factory(
    time_step_spec: ts.TimeStep,
    action_spec: array_spec.BoundedArraySpec,
    factory: PolicyFactory = gin.REQUIRED,
) -> py_policy.PyPolicy:
    """Builds the populate policy with the factory bound in gin.

    Args:
      time_step_spec: The environment's time step spec.
      action_spec: The environment's action spec.
      factory: `create_schedule_policy` or `create_random_policy` (or any
        callable with that signature returning a `PyPolicy`).

    Raises:
      ValueError: if the factory does not return a `PyPolicy`.
    """
    policy = factory(time_step_spec, action_spec)
    if not isinstance(policy, py_policy.PyPolicy):
        raise ValueError(
            f"populate_policy_factory.factory returned {type(policy).__name__}, "
            "not a PyPolicy"
        )
    return policy
