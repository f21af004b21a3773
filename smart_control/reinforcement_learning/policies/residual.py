"""Residual actions: the baseline schedule's action plus a bounded correction.

`ResidualActionWrapper` turns an environment's action into a correction of a
baseline policy's action:

    env action = clip(baseline(time_step) + max_correction * clip(a, -1, 1), -1, 1)

so an agent whose actions start near zero (SAC's tanh-squashed Gaussian does)
starts from the schedule's behaviour instead of from random setpoints, and
can never move further than `max_correction` (in the environment's [-1, 1]
action units) from it. The agent, its replay buffer and its exported policy
all live in correction space; the wrapped environment's action spec is named
`RESIDUAL_ACTION_NAME`, which the saved policy's specs carry, so the eval
binary can refuse to run a residual policy in a plain environment (or the
other way round).

One gin switch selects it for every stage (experiments/building_residual_sac.gin):

    ENV = @create_residual_building_environment
    create_residual_building_environment.max_correction = 0.5

The starter buffer of a residual run is collected in correction space too:
`create_zero_correction_policy` acts as the schedule (a zero correction),
mixed with random corrections by `create_mixed_policy`.

Evaluation runs the learned policy in the wrapped environment and the
baseline schedule in the raw one (`unwrap_residual`), on the same episodes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import gin
import numpy as np
from tf_agents.environments import py_environment, wrappers
from tf_agents.policies import py_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts

from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.policies import schedule_policy

RESIDUAL_ACTION_NAME = "residual_correction"

BaselineFactory = Callable[[ts.TimeStep, array_spec.BoundedArraySpec], Any]


class ResidualActionWrapper(wrappers.PyEnvironmentBaseWrapper):
    """Actions are bounded corrections of a baseline policy's actions.

    The wrapped environment must have a bounded float action spec; the
    correction spec has its shape and dtype, bounds [-1, 1]. `get_info()` and
    every other attribute come from the wrapped environment.
    """

    def __init__(
        self,
        env: py_environment.PyEnvironment,
        baseline_policy_factory: BaselineFactory,
        max_correction: float = 0.5,
    ):
        """Wraps `env`.

        Args:
          env: An unbatched environment with a bounded action spec.
          baseline_policy_factory: `(time_step_spec, action_spec) -> PyPolicy`
            acting in `env`'s action space (e.g. `create_schedule_policy`);
            it must be deterministic and stateless.
          max_correction: Largest change of each action component, in the
            environment's action units (its range is 2 for [-1, 1]).

        Raises:
          ValueError: naming the parameter on a batched environment, an
            unbounded action spec or a non-positive `max_correction`.
        """
        super().__init__(env)
        if env.batched:
            raise ValueError("env must be unbatched for ResidualActionWrapper")
        spec = env.action_spec()
        if not isinstance(spec, array_spec.BoundedArraySpec):
            raise ValueError("env must have a BoundedArraySpec action spec")
        if isinstance(max_correction, bool) or not max_correction > 0:
            raise ValueError(f"max_correction={max_correction!r} must be > 0")
        self._max_correction = float(max_correction)
        self._low = np.broadcast_to(spec.minimum, spec.shape).astype(spec.dtype)
        self._high = np.broadcast_to(spec.maximum, spec.shape).astype(spec.dtype)
        self._baseline = baseline_policy_factory(env.time_step_spec(), spec)
        self._correction_spec = array_spec.BoundedArraySpec(
            spec.shape, spec.dtype, -1.0, 1.0, name=RESIDUAL_ACTION_NAME
        )
        self._time_step: Optional[ts.TimeStep] = None
        self.last_env_action: Optional[np.ndarray] = None

    @property
    def max_correction(self) -> float:
        return self._max_correction

    @property
    def raw_environment(self) -> py_environment.PyEnvironment:
        """The environment that receives the corrected actions."""
        return self._env

    def action_spec(self) -> array_spec.BoundedArraySpec:
        return self._correction_spec

    def baseline_action(self, time_step: ts.TimeStep) -> np.ndarray:
        """The baseline's action for `time_step`, in the raw action space."""
        return np.asarray(self._baseline.action(time_step).action, self._low.dtype)

    def env_action(self, correction: Any, time_step: ts.TimeStep) -> np.ndarray:
        """The raw action for `correction` at `time_step` (clipped to bounds)."""
        correction = np.clip(np.asarray(correction, self._low.dtype), -1.0, 1.0)
        action = self.baseline_action(time_step) + self._max_correction * correction
        return np.clip(action, self._low, self._high).astype(self._low.dtype)

    def _reset(self) -> ts.TimeStep:
        self._time_step = self._env.reset()
        return self._time_step

    def _step(self, action: Any) -> ts.TimeStep:
        if self._time_step is None or self._time_step.is_last():
            # As the wrapped environment does: a step after the end resets.
            return self._reset()
        self.last_env_action = self.env_action(action, self._time_step)
        self._time_step = self._env.step(self.last_env_action)
        return self._time_step


def unwrap_residual(env: py_environment.PyEnvironment) -> py_environment.PyEnvironment:
    """`env` without its `ResidualActionWrapper`, if it has one (outermost)."""
    return env.raw_environment if isinstance(env, ResidualActionWrapper) else env


def is_residual(env: py_environment.PyEnvironment) -> bool:
    """Whether `env` takes residual corrections as actions."""
    return isinstance(env, ResidualActionWrapper)


@gin.configurable
def create_residual_building_environment(
    seed: int = 0,
    max_correction: float = 0.5,
    baseline_policy_factory: Optional[BaselineFactory] = None,
    **overrides: Any,
) -> ResidualActionWrapper:
    """The building environment with residual actions around the schedule.

    Args:
      seed: Environment seed, as for `create_building_environment`.
      max_correction: Largest correction per action component, in [-1, 1]
        action units (0.5 is a quarter of each setpoint's range).
      baseline_policy_factory: The baseline; None for the gin-configured
        `create_schedule_policy`.
      **overrides: `BuildingEnvironment` arguments (e.g. `start_date`), as
        for `create_building_environment`.
    """
    if baseline_policy_factory is None:
        baseline_policy_factory = schedule_policy.create_schedule_policy
    return ResidualActionWrapper(
        create_building_environment(seed=seed, **overrides),
        baseline_policy_factory,
        max_correction,
    )


class ZeroCorrectionPolicy(py_policy.PyPolicy):
    """Acts with corrections of 0: the baseline's own behaviour, residually."""

    def _action(self, time_step, policy_state, seed=None):
        spec = self.action_spec
        return policy_step.PolicyStep(np.zeros(spec.shape, spec.dtype), (), ())


@gin.configurable
def create_zero_correction_policy(
    time_step_spec: ts.TimeStep, action_spec: array_spec.BoundedArraySpec
) -> ZeroCorrectionPolicy:
    """The populate policy of residual runs (`create_mixed_policy` adds random
    corrections to it)."""
    return ZeroCorrectionPolicy(time_step_spec, action_spec)
