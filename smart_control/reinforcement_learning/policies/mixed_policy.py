"""The schedule with a share of uniformly random actions, for starter buffers.

At every step, independently, the policy takes a uniform random action with
probability `random_share` and the base policy's (the schedule's) otherwise.

Why per step rather than a share of whole random runs: the critic has to
learn how the value changes with the action in the states the schedule (and
a policy improving on it) visits. Per-step mixing gives exactly that: the
buffer keeps the schedule's year-round state distribution (comfortable
zones, the plant in its usual regime) with off-schedule actions spread over
all of it. Whole random runs instead add states no reasonable policy
reaches (zones drifting far out of the band) and come in coarse steps of
one run (10% of a 10-run buffer). The thermal mass makes a single random
step a small perturbation of the state, so the schedule's trajectory stays
representative even at a share of 0.3.

The random generator is seeded; the populate library passes each run's seed
(`populate_policy_factory` forwards it), so runs differ from each other and
every run is reproducible.

Gin (populate):

    populate_policy_factory.factory = @create_mixed_policy
    create_mixed_policy.random_share = 0.2
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import gin
import numpy as np
from tf_agents.policies import py_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts

PolicyFactory = Callable[[ts.TimeStep, array_spec.BoundedArraySpec], py_policy.PyPolicy]


class MixedPolicy(py_policy.PyPolicy):
    """Base policy's action, or with probability `random_share` a random one."""

    def __init__(
        self,
        base_policy: py_policy.PyPolicy,
        random_share: float,
        seed: int,
    ):
        """Wraps `base_policy`.

        Args:
          base_policy: A stateless PyPolicy with a bounded action spec.
          random_share: Probability in [0, 1] of a random action per step.
          seed: Seed of the choice and of the random actions.

        Raises:
          ValueError: naming `random_share`, `seed` or the action spec.
        """
        if isinstance(random_share, bool) or not 0.0 <= random_share <= 1.0:
            raise ValueError(f"random_share={random_share!r} must be in [0, 1]")
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        spec = base_policy.action_spec
        if not isinstance(spec, array_spec.BoundedArraySpec):
            raise ValueError("MixedPolicy needs a BoundedArraySpec action spec")
        super().__init__(
            base_policy.time_step_spec,
            spec,
            base_policy.policy_state_spec,
            base_policy.info_spec,
        )
        self._base = base_policy
        self._share = float(random_share)
        self._rng = np.random.default_rng(int(seed))
        self._low = np.broadcast_to(spec.minimum, spec.shape).astype(np.float64)
        self._high = np.broadcast_to(spec.maximum, spec.shape).astype(np.float64)
        self._dtype = spec.dtype

    @property
    def random_share(self) -> float:
        return self._share

    def _action(self, time_step: ts.TimeStep, policy_state: Any, seed=None):
        del seed  # Seeded at construction.
        step = self._base.action(time_step, policy_state)
        action = np.asarray(step.action)
        outer = action.shape[: action.ndim - len(self.action_spec.shape)]
        # Both draws happen at every step, whatever the share, so a run's
        # random stream does not depend on earlier choices.
        choose_random = self._rng.random(outer) < self._share
        random_action = self._rng.uniform(
            self._low, self._high, outer + self._low.shape
        )
        mask = choose_random.reshape(outer + (1,) * len(self._low.shape))
        mixed = np.where(mask, random_action, action).astype(self._dtype)
        return policy_step.PolicyStep(mixed, step.state, step.info)


@gin.configurable
def create_mixed_policy(
    time_step_spec: ts.TimeStep,
    action_spec: array_spec.BoundedArraySpec,
    random_share: float = 0.2,
    seed: int = 0,
    base_policy_factory: Optional[PolicyFactory] = None,
) -> MixedPolicy:
    """The schedule with a share of random actions (see the module docstring).

    Args:
      time_step_spec: The environment's time step spec.
      action_spec: The environment's bounded action spec.
      random_share: Probability of a uniform random action at each step.
      seed: Seed of the mix; the populate library passes each run's seed.
      base_policy_factory: The base policy; None for the gin-configured
        `create_schedule_policy`.
    """
    if base_policy_factory is None:
        from smart_control.reinforcement_learning.policies.schedule_policy import (
            create_schedule_policy as base_policy_factory,
        )
    return MixedPolicy(
        base_policy_factory(time_step_spec, action_spec), random_share, seed
    )
