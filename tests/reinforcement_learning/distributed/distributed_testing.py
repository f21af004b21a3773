"""Tiny agents, environments and real Reverb servers for the distributed tests."""

import functools

import gin
import reverb
from tf_agents.train.utils import spec_utils, train_utils

from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.agents import sac
from smart_control.reinforcement_learning.distributed import variables
from smart_control.reinforcement_learning.replay_buffer import table_config
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils.specs import collect_data_spec

STEPS_PER_EPISODE = 96  # one day of 15-minute steps
# The collector's and trainer's managers take the capacity from gin, as the
# experiments do (a remote table keeps its own).
GIN = "ReplayBufferManager.capacity = 10000"


def parse_gin() -> None:
    gin.parse_config(GIN)


def env_factory(seed: int = 0):
    """The building with one-day episodes."""
    return create_building_environment(seed=seed, episode_days=1)


def agent_factory(
    time_step_spec, action_spec, train_step_counter, actor_fc_layers=(8,)
):
    """SAC with one hidden layer of 8 units everywhere."""
    return sac.create_sac_agent(
        time_step_spec,
        action_spec,
        train_step_counter=train_step_counter,
        actor_fc_layers=actor_fc_layers,
        critic_joint_fc_layers=(8,),
    )


def train_config(**overrides) -> TrainConfig:
    """The tiny agent in the one-day building; `overrides` of TrainConfig's fields."""
    return TrainConfig(
        **{"env_factory": env_factory, "agent_factory": agent_factory, **overrides}
    )


def make_agent(actor_fc_layers=(8,)):
    """(agent, train_step) for the building's specs."""
    env = env_factory()
    try:
        _, action_spec, time_step_spec = spec_utils.get_tensor_specs(env)
    finally:
        env.close()
    train_step = train_utils.create_train_step()
    agent = agent_factory(
        time_step_spec, action_spec, train_step, actor_fc_layers=actor_fc_layers
    )
    return agent, train_step


def variable_server(checkpoint_dir, port=None) -> reverb.Server:
    """A Reverb server holding the tiny agent's weights table (empty)."""
    agent, train_step = make_agent()
    return reverb.Server(
        tables=[
            variables.variable_table(variables.policy_variables(agent, train_step))
        ],
        port=port,
        checkpointer=reverb.checkpointers.DefaultCheckpointer(str(checkpoint_dir)),
    )


def replay_manager(buffer_dir, min_size_to_sample: int = 1) -> ReplayBufferManager:
    """A local replay server for the building's transitions (started)."""
    env = env_factory()
    try:
        spec = collect_data_spec(env)
    finally:
        env.close()
    manager = ReplayBufferManager(
        spec,
        10_000,
        str(buffer_dir),
        rate_limiter_factory=functools.partial(
            table_config.min_size_rate_limiter, min_size_to_sample
        ),
    )
    manager.create_replay_buffer()
    return manager


def table_size(address: str, table: str) -> int:
    return reverb.Client(address).server_info(timeout=10)[table].current_size
