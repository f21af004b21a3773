"""Real starter buffers for the export tests, written by the populate library.

Two kinds, both tiny:

* the office building (flat observation, runs cut by the driver: every run
  is one writer episode ending in a truncation);
* `EpisodicEnv`: dict observations and dict actions, episodes of
  `EPISODE_LENGTH` steps that end in a termination (discount 0), so a run
  holds several writer episodes joined by LAST -> FIRST boundary steps.
"""

from __future__ import annotations

import json
import os

import gin
import numpy as np
from tf_agents.environments import py_environment
from tf_agents.policies import random_py_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.policies.random_policy import (
    create_random_policy,
)
from smart_control.reinforcement_learning.populate import starter_buffer

EPISODE_LENGTH = 7


class EpisodicEnv(py_environment.PyEnvironment):
    """Seeded random walk; dict observation and action; terminates every episode."""

    def __init__(self, seed: int = 0):
        # The base class resets after a LAST step (TF-Agents' default does not).
        super().__init__(handle_auto_reset=True)
        self._rng = np.random.default_rng(seed)
        self._observation_spec = {
            "temperature": array_spec.BoundedArraySpec(
                (3,), np.float32, -5.0, 5.0, "temperature"
            ),
            "occupied": array_spec.ArraySpec((), np.int32, "occupied"),
        }
        self._action_spec = {
            "valve": array_spec.BoundedArraySpec((1,), np.float32, 0.0, 1.0, "valve"),
            "setpoint": array_spec.BoundedArraySpec(
                (2,), np.float32, -1.0, 1.0, "setpoint"
            ),
        }
        self._k = 0

    def observation_spec(self):
        return self._observation_spec

    def action_spec(self):
        return self._action_spec

    def _observation(self):
        return {
            "temperature": self._rng.uniform(-5, 5, 3).astype(np.float32),
            "occupied": np.int32(self._rng.integers(0, 2)),
        }

    def _reset(self):
        self._k = 0
        return ts.restart(self._observation())

    def _step(self, action):
        self._k += 1
        reward = np.float32(-np.sum(np.square(action["setpoint"])) + self._k)
        if self._k == EPISODE_LENGTH:
            return ts.termination(self._observation(), reward)
        return ts.transition(self._observation(), reward)


def _random_policy(time_step_spec, action_spec, seed=0):
    return random_py_policy.RandomPyPolicy(time_step_spec, action_spec, seed=seed)


def populate(
    buffer_dir: str,
    *,
    episodic: bool,
    num_runs: int,
    steps_per_run: int,
    capacity: int = 10_000,
) -> dict:
    """Populates `buffer_dir`; returns its populate.json."""
    with gin.unlock_config():
        gin.bind_parameter("ReplayBufferManager.capacity", capacity)
    try:
        starter_buffer.populate_starter_buffer(
            str(buffer_dir),
            steps_per_run=steps_per_run,
            num_runs=num_runs,
            seed=3,
            env_factory=EpisodicEnv if episodic else create_building_environment,
            policy_factory=_random_policy if episodic else create_random_policy,
            show_progress=False,
        )
    finally:
        gin.clear_config()
    with open(os.path.join(buffer_dir, starter_buffer.STATE_FILE)) as f:
        return json.load(f)
