"""The replay buffer guide's snippets, run as written, with a real agent and Actor."""

import os

import pytest
import tensorflow as tf
from tf_agents.agents.ddpg import critic_network
from tf_agents.agents.sac import sac_agent, tanh_normal_projection_network
from tf_agents.networks import actor_distribution_network
from tf_agents.policies import py_tf_eager_policy
from tf_agents.specs import tensor_spec
from tf_agents.train import actor
from tf_agents.train.utils import spec_utils

from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)


def _tiny_sac_agent(env):
    observation_spec, action_spec, time_step_spec = spec_utils.get_tensor_specs(env)
    critic = critic_network.CriticNetwork(
        (observation_spec, action_spec), joint_fc_layer_params=(8,)
    )
    actor_net = actor_distribution_network.ActorDistributionNetwork(
        observation_spec,
        action_spec,
        fc_layer_params=(8,),
        continuous_projection_net=tanh_normal_projection_network.TanhNormalProjectionNetwork,
    )
    agent = sac_agent.SacAgent(
        time_step_spec,
        action_spec,
        actor_network=actor_net,
        critic_network=critic,
        actor_optimizer=tf.keras.optimizers.Adam(1e-3),
        critic_optimizer=tf.keras.optimizers.Adam(1e-3),
        alpha_optimizer=tf.keras.optimizers.Adam(1e-3),
    )
    agent.initialize()
    return agent


@pytest.mark.slow
def test_guide_snippets_run_as_written(tmp_path):
    env = create_building_environment(seed=3)
    agent = _tiny_sac_agent(env)
    checkpoint_dir = str(tmp_path / "path" / "to" / "checkpoint" / "dir")

    # Create a replay buffer manager
    replay_manager = ReplayBufferManager(
        data_spec=agent.collect_data_spec,  # agent is a TF-Agents agent
        capacity=50000,
        checkpoint_dir=checkpoint_dir,
        sequence_length=2,
    )
    # Create a new replay buffer
    replay_buffer, replay_buffer_observer = replay_manager.create_replay_buffer()

    collect_actor = actor.Actor(
        env,
        py_tf_eager_policy.PyTFEagerPolicy(agent.collect_policy, use_tf_function=True),
        tf.Variable(0, dtype=tf.int64),
        steps_per_run=100,
        observers=[replay_buffer_observer],
    )
    collect_actor.run()
    replay_buffer_observer.flush()
    assert replay_manager.num_frames() == 99

    # Create a dataset for sampling
    dataset = replay_buffer.as_dataset(
        sample_batch_size=64, num_steps=2, num_parallel_calls=3
    ).prefetch(3)
    experience, _ = next(iter(dataset))
    loss = agent.train(experience)
    assert tf.math.is_finite(loss.loss)
    assert experience.observation.shape[:2] == (64, 2)

    # Save the current state
    saved = replay_buffer.py_client.checkpoint()
    assert os.path.isfile(os.path.join(saved, "DONE"))
    replay_manager.close()

    # Load from checkpoint (done through ReplayBufferManager)
    replay_manager = ReplayBufferManager(
        data_spec=agent.collect_data_spec,
        capacity=50000,
        checkpoint_dir=checkpoint_dir,
    )
    replay_buffer, observer = replay_manager.load_replay_buffer()
    assert replay_manager.num_frames() == 99
    assert replay_buffer.get_table_info().max_size == 50000
    assert tensor_spec.is_continuous(agent.action_spec)
    replay_manager.close()
