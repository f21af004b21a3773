"""Networks shared by the agent factories, sized by layer tuples.

Helpers only (never gin-configurable): the factories in `sac.py`, `td3.py` and
`ddpg.py` own the gin parameters and pass them in explicitly.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import tensorflow as tf
from tf_agents.agents.ddpg import actor_network, critic_network
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

Layers = Optional[Sequence[int]]


def check_layers(
    name: str, layers: Layers, allow_empty: bool = True
) -> Optional[Tuple[int, ...]]:
    """Validates a layer-size tuple such as (256, 256).

    Args:
      name: Parameter name, for the error message.
      layers: Sizes of the hidden layers, or None for no layers.
      allow_empty: Whether None or () is accepted.

    Returns:
      The sizes as a tuple of ints, or None when there are no layers.

    Raises:
      ValueError: If a size is not a positive integer, or the tuple is empty
        while `allow_empty` is False.
    """
    if layers is None or len(layers) == 0:
        if not allow_empty:
            raise ValueError(f"{name} needs at least one layer, got {layers!r}")
        return None
    sizes = tuple(layers)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be positive layer sizes, got {layers!r}")
    return sizes


def check_positive(name: str, value: float) -> float:
    """Raises ValueError naming `name` unless `value` is a positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def tensor_specs(
    time_step_spec: ts.TimeStep, action_spec: tensor_spec.BoundedTensorSpec
) -> Tuple[ts.TimeStep, tensor_spec.BoundedTensorSpec]:
    """The specs as TensorSpecs (environments hand out ArraySpecs)."""
    return tensor_spec.from_spec(time_step_spec), tensor_spec.from_spec(action_spec)


def create_critic_network(
    observation_spec: tf.TensorSpec,
    action_spec: tensor_spec.BoundedTensorSpec,
    observation_fc_layers: Layers,
    action_fc_layers: Layers,
    joint_fc_layers: Layers,
    glorot_init: bool,
    name: str = "CriticNetwork",
) -> critic_network.CriticNetwork:
    """Q(s, a): optional observation and action towers, then joint layers.

    Args:
      observation_spec: Observation TensorSpec.
      action_spec: Action BoundedTensorSpec.
      observation_fc_layers: Layers applied to the observation alone.
      action_fc_layers: Layers applied to the action alone.
      joint_fc_layers: Layers applied to both, concatenated.
      glorot_init: Glorot-uniform initialisation of every layer, the last one
        included, as the TF-Agents SAC examples do; otherwise the DDPG paper's
        (fan-in scaling, last layer uniform in +-0.003), TF-Agents' default.
      name: Network name.
    """
    kwargs = {}
    if glorot_init:
        kwargs = {
            "kernel_initializer": "glorot_uniform",
            "last_kernel_initializer": "glorot_uniform",
        }
    return critic_network.CriticNetwork(
        (observation_spec, action_spec),
        observation_fc_layer_params=observation_fc_layers,
        action_fc_layer_params=action_fc_layers,
        joint_fc_layer_params=joint_fc_layers,
        name=name,
        **kwargs,
    )


def deterministic_actor_critic(
    time_step_spec: ts.TimeStep,
    action_spec,
    actor_fc_layers: Sequence[int],
    critic_observation_fc_layers: Optional[Sequence[int]],
    critic_action_fc_layers: Optional[Sequence[int]],
    critic_joint_fc_layers: Sequence[int],
) -> Tuple[
    ts.TimeStep,
    tensor_spec.BoundedTensorSpec,
    tf.keras.layers.Layer,
    tf.keras.layers.Layer,
]:
    """Checked specs, a deterministic actor and a Q critic (DDPG, TD3).

    Raises:
      ValueError: If a layer size is invalid.
    """
    time_step_spec, action_spec = tensor_specs(time_step_spec, action_spec)
    actor_fc_layers = check_layers("actor_fc_layers", actor_fc_layers, False)
    critic_observation_fc_layers = check_layers(
        "critic_observation_fc_layers", critic_observation_fc_layers
    )
    critic_action_fc_layers = check_layers(
        "critic_action_fc_layers", critic_action_fc_layers
    )
    critic_joint_fc_layers = check_layers(
        "critic_joint_fc_layers", critic_joint_fc_layers, False
    )
    observation_spec = time_step_spec.observation
    actor_net = actor_network.ActorNetwork(
        observation_spec, action_spec, fc_layer_params=actor_fc_layers
    )
    critic_net = create_critic_network(
        observation_spec,
        action_spec,
        critic_observation_fc_layers,
        critic_action_fc_layers,
        critic_joint_fc_layers,
        glorot_init=False,
    )
    return time_step_spec, action_spec, actor_net, critic_net
