"""Twin Delayed DDPG agent factory (Fujimoto et al. 2018, arXiv:1802.09477).

    agent = create_td3_agent(time_step_spec, action_spec, train_step_counter)

Keyword defaults follow the authors' reference implementation (two hidden
layers of 256, Adam 3e-4, gamma 0.99, tau 0.005, exploration noise 0.1,
target policy noise 0.2 clipped at 0.5, actor and targets updated every
second step). configs/agents/td3.gin lists them for editing.
"""

from __future__ import annotations

from typing import Optional

import gin
import tensorflow as tf
from tf_agents.agents.td3 import td3_agent
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from smart_control.reinforcement_learning.agents import networks


@gin.configurable
def create_td3_agent(
    time_step_spec: ts.TimeStep,
    action_spec: tensor_spec.BoundedTensorSpec,
    train_step_counter: tf.Variable,
    # Networks: hidden layer sizes.
    actor_fc_layers: networks.Layers = (256, 256),
    critic_observation_fc_layers: networks.Layers = None,
    critic_action_fc_layers: networks.Layers = None,
    critic_joint_fc_layers: networks.Layers = (256, 256),
    # Optimisers (Adam).
    actor_learning_rate: float = 3e-4,
    critic_learning_rate: float = 3e-4,
    # Bellman targets.
    gamma: float = 0.99,
    target_update_tau: float = 0.005,
    target_update_period: int = 2,
    actor_update_period: int = 2,
    reward_scale_factor: float = 1.0,
    # Noise, in units of the action spec's scale.
    exploration_noise_std: float = 0.1,
    target_policy_noise: float = 0.2,
    target_policy_noise_clip: float = 0.5,
    # Others.
    gradient_clipping: Optional[float] = None,
    debug_summaries: bool = False,
    summarize_grads_and_vars: bool = False,
) -> td3_agent.Td3Agent:
    """Builds a TD3 agent with a deterministic actor and twin Q critics.

    Args:
      time_step_spec: The environment's time step spec (Array or Tensor specs).
      action_spec: The environment's bounded continuous action spec.
      train_step_counter: Scalar int64 variable counting gradient steps; the
        learner checkpoints it.
      actor_fc_layers: Hidden layer sizes of the actor.
      critic_observation_fc_layers: Hidden layers applied to the observation
        alone before joining the action; None for none.
      critic_action_fc_layers: Hidden layers applied to the action alone; None
        for none.
      critic_joint_fc_layers: Hidden layers on [observation, action].
      actor_learning_rate: Adam learning rate of the actor.
      critic_learning_rate: Adam learning rate of the critics.
      gamma: Discount factor of future rewards.
      target_update_tau: Polyak factor of the target networks (1.0: copy).
      target_update_period: Train steps between target updates.
      actor_update_period: Train steps between actor updates (policy delay).
      reward_scale_factor: Rewards are multiplied by this before learning.
      exploration_noise_std: Std of the Gaussian noise the collect policy adds.
      target_policy_noise: Std of the noise added to target actions.
      target_policy_noise_clip: Clip of that noise.
      gradient_clipping: Global-norm clip of gradients; None for no clipping.
      debug_summaries: Whether to write histograms and extra scalars.
      summarize_grads_and_vars: Whether to write gradient/variable summaries.

    Returns:
      A `Td3Agent` (not yet initialised; the Learner initialises it).

    Raises:
      ValueError: If a layer size, learning rate or noise scale is invalid.
    """
    for name, value in (
        ("actor_learning_rate", actor_learning_rate),
        ("critic_learning_rate", critic_learning_rate),
        ("target_update_tau", target_update_tau),
        ("exploration_noise_std", exploration_noise_std),
    ):
        networks.check_positive(name, value)

    time_step_spec, action_spec, actor_net, critic_net = (
        networks.deterministic_actor_critic(
            time_step_spec,
            action_spec,
            actor_fc_layers,
            critic_observation_fc_layers,
            critic_action_fc_layers,
            critic_joint_fc_layers,
        )
    )
    return td3_agent.Td3Agent(
        time_step_spec,
        action_spec,
        actor_network=actor_net,
        critic_network=critic_net,
        actor_optimizer=tf.keras.optimizers.Adam(learning_rate=actor_learning_rate),
        critic_optimizer=tf.keras.optimizers.Adam(learning_rate=critic_learning_rate),
        exploration_noise_std=exploration_noise_std,
        target_update_tau=target_update_tau,
        target_update_period=target_update_period,
        actor_update_period=actor_update_period,
        gamma=gamma,
        reward_scale_factor=reward_scale_factor,
        target_policy_noise=target_policy_noise,
        target_policy_noise_clip=target_policy_noise_clip,
        gradient_clipping=gradient_clipping,
        debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter,
    )
