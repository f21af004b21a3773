"""Deep Deterministic Policy Gradient agent factory (Lillicrap et al. 2015).

    agent = create_ddpg_agent(time_step_spec, action_spec, train_step_counter)

Keyword defaults are the paper's (arXiv:1509.02971, section 7: hidden layers
of 400 and 300, Adam 1e-4 for the actor and 1e-3 for the critic, gamma 0.99,
tau 0.001, Ornstein-Uhlenbeck exploration with sigma 0.2 and theta 0.15; the
paper's critic weight decay is left out). configs/agents/ddpg.gin lists them.
"""

from __future__ import annotations

from typing import Optional

import gin
import tensorflow as tf
from tf_agents.agents.ddpg import ddpg_agent
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from smart_control.reinforcement_learning.agents import networks


@gin.configurable
def create_ddpg_agent(
    time_step_spec: ts.TimeStep,
    action_spec: tensor_spec.BoundedTensorSpec,
    train_step_counter: tf.Variable,
    # Networks: hidden layer sizes. The paper feeds the action in at the
    # critic's second layer: an observation tower of 400, then 300 joint.
    actor_fc_layers: networks.Layers = (400, 300),
    critic_observation_fc_layers: networks.Layers = (400,),
    critic_action_fc_layers: networks.Layers = None,
    critic_joint_fc_layers: networks.Layers = (300,),
    # Optimisers (Adam).
    actor_learning_rate: float = 1e-4,
    critic_learning_rate: float = 1e-3,
    # Bellman targets.
    gamma: float = 0.99,
    target_update_tau: float = 0.001,
    target_update_period: int = 1,
    reward_scale_factor: float = 1.0,
    # Ornstein-Uhlenbeck exploration noise, in units of the action.
    ou_stddev: float = 0.2,
    ou_damping: float = 0.15,
    # Others.
    dqda_clipping: Optional[float] = None,
    gradient_clipping: Optional[float] = None,
    debug_summaries: bool = False,
    summarize_grads_and_vars: bool = False,
) -> ddpg_agent.DdpgAgent:
    """Builds a DDPG agent with a deterministic actor and one Q critic.

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
      critic_joint_fc_layers: Hidden layers on [observation features, action].
      actor_learning_rate: Adam learning rate of the actor.
      critic_learning_rate: Adam learning rate of the critic.
      gamma: Discount factor of future rewards.
      target_update_tau: Polyak factor of the target networks (1.0: copy).
      target_update_period: Train steps between target updates.
      reward_scale_factor: Rewards are multiplied by this before learning.
      ou_stddev: Standard deviation of the OU exploration noise.
      ou_damping: Damping (theta) of the OU process.
      dqda_clipping: Clip of dQ/da in the actor update; None for no clipping.
      gradient_clipping: Global-norm clip of gradients; None for no clipping.
      debug_summaries: Whether to write histograms and extra scalars.
      summarize_grads_and_vars: Whether to write gradient/variable summaries.

    Returns:
      A `DdpgAgent` (not yet initialised; the Learner initialises it).

    Raises:
      ValueError: If a layer size, learning rate or noise scale is invalid.
    """
    for name, value in (
        ("actor_learning_rate", actor_learning_rate),
        ("critic_learning_rate", critic_learning_rate),
        ("target_update_tau", target_update_tau),
        ("ou_stddev", ou_stddev),
        ("ou_damping", ou_damping),
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
    return ddpg_agent.DdpgAgent(
        time_step_spec,
        action_spec,
        actor_network=actor_net,
        critic_network=critic_net,
        actor_optimizer=tf.keras.optimizers.Adam(learning_rate=actor_learning_rate),
        critic_optimizer=tf.keras.optimizers.Adam(learning_rate=critic_learning_rate),
        ou_stddev=ou_stddev,
        ou_damping=ou_damping,
        target_update_tau=target_update_tau,
        target_update_period=target_update_period,
        dqda_clipping=dqda_clipping,
        gamma=gamma,
        reward_scale_factor=reward_scale_factor,
        gradient_clipping=gradient_clipping,
        debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter,
    )
