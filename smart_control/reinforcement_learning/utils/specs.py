"""Specs shared by the stages that write and read the same replay buffer."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import trajectory


def collect_data_spec(env: Any) -> trajectory.Trajectory:
    """The trajectory spec of one step, as every replay table stores it.

    The one derivation used by every stage (populate, the embedded loop, the
    replay server, collectors, the trainer); equal (dtypes and shapes) to
    `agent.collect_data_spec` of SAC, TD3 and DDPG, whose collect policies
    carry no policy info (`ExperimentBuilder.make_agent` checks it).
    """
    time_step_spec = tensor_spec.from_spec(env.time_step_spec())
    return trajectory.Trajectory(
        step_type=time_step_spec.step_type,
        observation=time_step_spec.observation,
        action=tensor_spec.from_spec(env.action_spec()),
        policy_info=(),
        next_step_type=time_step_spec.step_type,
        reward=time_step_spec.reward,
        discount=time_step_spec.discount,
    )


def same_specs(a: Any, b: Any) -> bool:
    """Whether two nests of specs have the same structure, shapes and dtypes."""
    try:
        tf.nest.assert_same_structure(a, b)
    except (TypeError, ValueError):
        return False
    return all(
        x.shape == y.shape and x.dtype == y.dtype
        for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b))
    )
