"""The agent factories build agents that train, with networks sized by gin."""

import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.agents.ddpg import ddpg_agent
from tf_agents.agents.sac import sac_agent
from tf_agents.agents.td3 import td3_agent
from tf_agents.specs import array_spec
from tf_agents.train.utils import train_utils
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from smart_control.reinforcement_learning.agents import ddpg, sac, td3

OBS_SIZE = 5
ACTION_SIZE = 2
TINY = {"actor_fc_layers": (8,), "critic_joint_fc_layers": (8,)}
FACTORIES = [
    (sac.create_sac_agent, sac_agent.SacAgent),
    (td3.create_td3_agent, td3_agent.Td3Agent),
    (ddpg.create_ddpg_agent, ddpg_agent.DdpgAgent),
]


def _specs():
    """Array specs, as an environment hands them out."""
    observation = array_spec.BoundedArraySpec((OBS_SIZE,), np.float32, -1.0, 1.0)
    action = array_spec.BoundedArraySpec((ACTION_SIZE,), np.float32, -1.0, 1.0)
    return ts.time_step_spec(observation), action


def _experience(agent, batch_size=4, seed=0):
    """A batch of MID -> MID transitions with bounded random values."""
    rng = np.random.default_rng(seed)
    shape = (batch_size, 2)

    def uniform(size):
        return tf.constant(rng.uniform(-1.0, 1.0, shape + size), tf.float32)

    mid = tf.fill(shape, ts.StepType.MID)
    return trajectory.Trajectory(
        step_type=mid,
        observation=uniform((OBS_SIZE,)),
        action=uniform((ACTION_SIZE,)),
        policy_info=(),
        next_step_type=mid,
        reward=uniform(()),
        discount=tf.ones(shape),
    )


@pytest.mark.parametrize("factory, agent_class", FACTORIES)
def test_factory_builds_an_agent_that_trains(factory, agent_class):
    train_step = train_utils.create_train_step()
    time_step_spec, action_spec = _specs()
    agent = factory(time_step_spec, action_spec, train_step, **TINY)
    agent.initialize()
    assert isinstance(agent, agent_class)
    assert agent.train_step_counter is train_step
    assert agent.train_sequence_length == 2
    observation_spec = agent.collect_data_spec.observation
    assert (observation_spec.shape, observation_spec.dtype) == ((OBS_SIZE,), tf.float32)
    before = [v.numpy().copy() for v in agent.trainable_variables]
    loss = agent.train(_experience(agent))
    assert np.isfinite(loss.loss.numpy())
    assert int(train_step.numpy()) == 1
    after = [v.numpy() for v in agent.trainable_variables]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))


@pytest.mark.parametrize("factory, agent_class", FACTORIES)
def test_networks_are_sized_by_gin(factory, agent_class):
    name = factory.__name__
    gin.parse_config(
        f"{name}.actor_fc_layers = (7, 3)\n{name}.critic_joint_fc_layers = (11,)"
    )
    time_step_spec, action_spec = _specs()
    agent = factory(time_step_spec, action_spec, train_utils.create_train_step())
    agent.initialize()
    kernels = {
        tuple(v.shape)
        for v in agent.trainable_variables
        if "kernel" in v.name and "Critic" not in v.name
    }
    assert (OBS_SIZE, 7) in kernels and (7, 3) in kernels
    critic_kernels = {
        tuple(v.shape)
        for v in agent.trainable_variables
        if "kernel" in v.name and "Critic" in v.name
    }
    assert (11, 1) in critic_kernels


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"actor_fc_layers": (8, 0)}, "actor_fc_layers"),
        ({"actor_fc_layers": ()}, "actor_fc_layers"),
        ({"critic_joint_fc_layers": (8.5,)}, "critic_joint_fc_layers"),
        ({"actor_learning_rate": 0.0}, "actor_learning_rate"),
    ],
)
@pytest.mark.parametrize("factory, agent_class", FACTORIES)
def test_bad_settings_name_the_parameter(factory, agent_class, kwargs, message):
    time_step_spec, action_spec = _specs()
    with pytest.raises(ValueError, match=message):
        factory(time_step_spec, action_spec, train_utils.create_train_step(), **kwargs)
