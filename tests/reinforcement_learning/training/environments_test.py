"""Environment factories: seeded or not, and what they must return."""

import functools

import numpy as np
import pytest
from tf_agents.environments import suite_gym

from smart_control.reinforcement_learning.training import environments


def test_seeded_gym_environments_repeat_their_episodes():
    def first_observation(seed):
        env = environments.make_environment(
            functools.partial(environments.load_gym_environment, "Pendulum-v1"),
            seed,
            "env_factory",
        )
        return env.reset().observation

    np.testing.assert_array_equal(first_observation(3), first_observation(3))
    assert not np.array_equal(first_observation(3), first_observation(4))


def test_zero_argument_factories_are_called_without_seed():
    factory = functools.partial(suite_gym.load, "Pendulum-v1")
    assert not environments.takes_seed(factory)
    env = environments.make_environment(factory, 0, "env_factory")
    assert env.action_spec().shape == (1,)


def test_factories_must_return_a_py_environment():
    with pytest.raises(ValueError, match="eval_env_factory returned dict"):
        environments.make_environment(lambda: {}, 0, "eval_env_factory")
    with pytest.raises(ValueError, match="env_factory must be a callable"):
        environments.make_environment("Pendulum-v1", 0, "env_factory")
