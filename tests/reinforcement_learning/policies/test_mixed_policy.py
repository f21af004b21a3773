"""The populate mix (schedule + share of random actions), seeded per run."""

import gin
import numpy as np
import pytest

from smart_control.environment import building_env
from smart_control.reinforcement_learning.policies import (
    mixed_policy,
    populate_policy,
    random_policy,
    schedule_policy,
)
from smart_control.reinforcement_learning.populate import starter_buffer


def _actions(policy, steps=192, seed=0):
    env = building_env.BuildingEnvironment(seed=seed, episode_days=2)
    time_step, out = env.reset(), []
    for _ in range(steps):
        action = policy.action(time_step).action
        out.append(action)
        time_step = env.step(action)
    return np.array(out)


def _schedule_actions(steps=192, seed=0):
    env = building_env.BuildingEnvironment(seed=seed, episode_days=2)
    return _actions(
        schedule_policy.create_schedule_policy(env.time_step_spec(), env.action_spec()),
        steps,
        seed,
    )


def _mixed(share, seed):
    env = building_env.BuildingEnvironment(seed=0)
    return mixed_policy.create_mixed_policy(
        env.time_step_spec(), env.action_spec(), random_share=share, seed=seed
    )


def test_mix_is_seeded():
    a, b = _actions(_mixed(0.3, seed=1)), _actions(_mixed(0.3, seed=1))
    c = _actions(_mixed(0.3, seed=2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_share_of_random_actions():
    schedule = _schedule_actions()
    np.testing.assert_array_equal(_actions(_mixed(0.0, seed=5)), schedule)
    all_random = _actions(_mixed(1.0, seed=5))
    assert not np.any(np.all(all_random == schedule, axis=1))
    assert all_random.min() >= -1.0 and all_random.max() <= 1.0
    mixed = _actions(_mixed(0.3, seed=5), steps=192)
    off_schedule = np.mean(np.any(mixed != schedule, axis=1))
    assert 0.2 < off_schedule < 0.4
    assert mixed.dtype == np.float32


def test_mixed_policy_acts_on_batches():
    env = building_env.BuildingEnvironment(seed=0)
    time_step = env.reset()
    import tensorflow as tf

    batch = tf.nest.map_structure(lambda *x: np.stack(x), *[time_step] * 5)
    actions = _mixed(0.5, seed=0).action(batch).action
    assert actions.shape == (5, 2)


def test_bad_share_names_the_parameter():
    with pytest.raises(ValueError, match="random_share"):
        _mixed(1.5, seed=0)
    with pytest.raises(ValueError, match="seed"):
        _mixed(0.5, seed=-1)


def test_populate_passes_each_run_seed_through_the_factory():
    gin.parse_config(
        "populate_policy_factory.factory = @create_mixed_policy\n"
        "create_mixed_policy.random_share = 0.5\n"
        "create_mixed_policy.seed = 0\n"
    )
    env = building_env.BuildingEnvironment(seed=0)
    specs = (env.time_step_spec(), env.action_spec())

    def run_policy(run):
        # What populate_starter_buffer does for run `run`.
        return starter_buffer._call_with_optional_seed(
            populate_policy.populate_policy_factory,
            starter_buffer.run_seed(0, run),
            *specs,
        )

    first, again, second = run_policy(0), run_policy(0), run_policy(1)
    np.testing.assert_array_equal(_actions(first), _actions(again))
    assert not np.array_equal(_actions(run_policy(0)), _actions(second))


def test_populate_factory_forwards_the_seed_only_where_taken():
    env = building_env.BuildingEnvironment(seed=0)
    specs = (env.time_step_spec(), env.action_spec())
    gin.parse_config("create_random_policy.seed = 0")
    make = populate_policy.populate_policy_factory
    random_3 = make(*specs, factory=random_policy.create_random_policy, seed=3)
    random_4 = make(*specs, factory=random_policy.create_random_policy, seed=4)
    assert not np.array_equal(_actions(random_3, 20), _actions(random_4, 20))
    # The gin seed applies when no run seed is given.
    np.testing.assert_array_equal(
        _actions(make(*specs, factory=random_policy.create_random_policy), 20),
        _actions(random_policy.create_random_policy(*specs, seed=0), 20),
    )
    # The schedule takes no seed: built as before.
    schedule = make(*specs, factory=schedule_policy.create_schedule_policy, seed=3)
    assert isinstance(schedule, schedule_policy.SchedulePolicy)
