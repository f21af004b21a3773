"""Uniform random policy over the action spec, the other populate policy.

Usage from a binary:

    policy = create_random_policy(env.time_step_spec(), env.action_spec(), seed=0)
"""

from __future__ import annotations

import gin
from tf_agents.policies import random_py_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts


@gin.configurable
def create_random_policy(
    time_step_spec: ts.TimeStep,
    action_spec: array_spec.BoundedArraySpec,
    seed: int = 0,
) -> random_py_policy.RandomPyPolicy:
    """A `PyPolicy` drawing each action uniformly from the action bounds.

    Args:
      time_step_spec: The environment's time step spec.
      action_spec: The environment's (bounded) action spec.
      seed: Seed of the policy's random generator; the same seed gives the
        same action sequence.

    Raises:
      ValueError: if the action spec is unbounded or the seed negative.
    """
    if not isinstance(action_spec, array_spec.BoundedArraySpec):
        raise ValueError("create_random_policy needs a BoundedArraySpec action spec")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed={seed} must be a non-negative integer")
    return random_py_policy.RandomPyPolicy(
        time_step_spec=time_step_spec, action_spec=action_spec, seed=int(seed)
    )
