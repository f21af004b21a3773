"""Soft Actor-Critic agent factory (Haarnoja et al. 2018, arXiv:1812.05905).

    agent = create_sac_agent(time_step_spec, action_spec, train_step_counter)

Keyword defaults are the paper's values (Table 1: two hidden layers of 256,
Adam 3e-4 everywhere, gamma 0.99, tau 0.005, target entropy -|A|, automatic
temperature). configs/agents/sac.gin lists them for editing.
"""

from __future__ import annotations

from typing import Optional

import gin
import tensorflow as tf
from tf_agents.agents.sac import sac_agent, tanh_normal_projection_network
from tf_agents.networks import actor_distribution_network
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from smart_control.reinforcement_learning.agents import networks


@gin.configurable
def create_sac_agent(
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
    alpha_learning_rate: float = 3e-4,
    # Bellman targets.
    gamma: float = 0.99,
    target_update_tau: float = 0.005,
    target_update_period: int = 1,
    reward_scale_factor: float = 1.0,
    # Entropy temperature.
    initial_log_alpha: float = 0.0,
    target_entropy: Optional[float] = None,
    # Others.
    gradient_clipping: Optional[float] = None,
    debug_summaries: bool = False,
    summarize_grads_and_vars: bool = False,
) -> sac_agent.SacAgent:
    """Builds a SAC agent with a tanh-Gaussian actor and twin Q critics.

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
      alpha_learning_rate: Adam learning rate of the log temperature.
      gamma: Discount factor of future rewards.
      target_update_tau: Polyak factor of the target critics (1.0: copy).
      target_update_period: Train steps between target updates.
      reward_scale_factor: Rewards are multiplied by this before learning.
      initial_log_alpha: Initial log entropy temperature.
      target_entropy: Target policy entropy; None for -dim(action).
      gradient_clipping: Global-norm clip of gradients; None for no clipping.
      debug_summaries: Whether to write histograms and extra scalars.
      summarize_grads_and_vars: Whether to write gradient/variable summaries.

    Returns:
      A `SacAgent` (not yet initialised; the Learner initialises it).

    Raises:
      ValueError: If a layer size or learning rate is not positive.
    """
    time_step_spec, action_spec = networks.tensor_specs(time_step_spec, action_spec)
    actor_fc_layers = networks.check_layers("actor_fc_layers", actor_fc_layers, False)
    critic_observation_fc_layers = networks.check_layers(
        "critic_observation_fc_layers", critic_observation_fc_layers
    )
    critic_action_fc_layers = networks.check_layers(
        "critic_action_fc_layers", critic_action_fc_layers
    )
    critic_joint_fc_layers = networks.check_layers(
        "critic_joint_fc_layers", critic_joint_fc_layers, False
    )
    for name, value in (
        ("actor_learning_rate", actor_learning_rate),
        ("critic_learning_rate", critic_learning_rate),
        ("alpha_learning_rate", alpha_learning_rate),
        ("target_update_tau", target_update_tau),
    ):
        networks.check_positive(name, value)

    observation_spec = time_step_spec.observation
    actor_net = actor_distribution_network.ActorDistributionNetwork(
        observation_spec,
        action_spec,
        fc_layer_params=actor_fc_layers,
        continuous_projection_net=(
            tanh_normal_projection_network.TanhNormalProjectionNetwork
        ),
    )
    critic_net = networks.create_critic_network(
        observation_spec,
        action_spec,
        critic_observation_fc_layers,
        critic_action_fc_layers,
        critic_joint_fc_layers,
        glorot_init=True,
    )
    return sac_agent.SacAgent(
        time_step_spec,
        action_spec,
        actor_network=actor_net,
        critic_network=critic_net,
        actor_optimizer=tf.keras.optimizers.Adam(learning_rate=actor_learning_rate),
        critic_optimizer=tf.keras.optimizers.Adam(learning_rate=critic_learning_rate),
        alpha_optimizer=tf.keras.optimizers.Adam(learning_rate=alpha_learning_rate),
        target_update_tau=target_update_tau,
        target_update_period=target_update_period,
        td_errors_loss_fn=tf.math.squared_difference,
        gamma=gamma,
        reward_scale_factor=reward_scale_factor,
        initial_log_alpha=initial_log_alpha,
        target_entropy=target_entropy,
        gradient_clipping=gradient_clipping,
        debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter,
    )
