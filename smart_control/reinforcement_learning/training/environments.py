"""Environment factories as the train loop calls them.

`train_eval` takes environment *factories* (bound in gin) because it builds
environments more than once: one for collection, a fresh one per evaluation
(same seed each time, so every evaluation sees the same episodes). A factory
is a callable returning a `PyEnvironment`, either without arguments
(`@suite_gym.load` with `suite_gym.load.environment_name = 'Pendulum-v1'`) or
with a `seed` keyword (`@create_building_environment`, `@load_gym_environment`).
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional

import gin
from tf_agents.environments import py_environment, suite_gym

EnvFactory = Callable[..., py_environment.PyEnvironment]


@gin.configurable
def load_gym_environment(
    environment_name: str = gin.REQUIRED,
    seed: Optional[int] = None,
    max_episode_steps: Optional[int] = None,
) -> py_environment.PyEnvironment:
    """A Gym environment through `suite_gym.load`, seeded.

    Args:
      environment_name: Registered Gym id, e.g. 'Pendulum-v1'.
      seed: Seed of the environment's random generator (initial states);
        None leaves it unseeded.
      max_episode_steps: Episode length limit; None for the Gym default.

    Returns:
      The wrapped environment.
    """
    env = suite_gym.load(environment_name, max_episode_steps=max_episode_steps)
    if seed is not None:
        # Gym >= 0.22 seeds through reset(seed=...); env.seed() is deprecated
        # and prints a warning. Later resets continue from this generator.
        env.gym.reset(seed=int(seed))
    return env


def takes_seed(factory: EnvFactory) -> bool:
    """Whether `factory` accepts a `seed` keyword argument."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # Builtins and some C callables.
        return False
    return "seed" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def make_environment(
    factory: EnvFactory, seed: int, name: str
) -> py_environment.PyEnvironment:
    """Calls an environment factory, with `seed` when it takes one.

    Args:
      factory: Zero-argument or seed-argument callable.
      seed: Seed passed as `seed=` to factories that accept it.
      name: The factory's parameter name, for error messages.

    Returns:
      The environment.

    Raises:
      ValueError: If `factory` is not callable or returns no PyEnvironment
        (e.g. a TFEnvironment or a batched environment).
    """
    if not callable(factory):
        raise ValueError(
            f"{name} must be a callable returning a PyEnvironment, got {factory!r}"
        )
    env = factory(seed=seed) if takes_seed(factory) else factory()
    if not isinstance(env, py_environment.PyEnvironment):
        raise ValueError(f"{name} returned {type(env).__name__}, not a PyEnvironment")
    if env.batched:
        raise ValueError(
            f"{name} returned a batched environment; the train loop needs one"
        )
    return env
