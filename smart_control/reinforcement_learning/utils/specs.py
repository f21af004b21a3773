"""Specs shared by the stages that write and read the same replay buffer."""

from __future__ import annotations

from typing import Any

from tf_agents.specs import tensor_spec
from tf_agents.trajectories import trajectory


def collect_data_spec(env: Any) -> trajectory.Trajectory:
    """The trajectory spec SAC, TD3 and DDPG agents collect for `env`.

    Equal (dtypes and shapes) to `agent.collect_data_spec` of those agents,
    whose collect policies carry no policy info; so a populate run, a Reverb
    server and a trainer agree on the table signature without building an
    agent.
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
