"""The shipped train and agent gin files parse and pick their agent."""

import gin
import pytest

from smart_control.reinforcement_learning.utils import binary


@pytest.mark.parametrize(
    "files, agent_factory",
    [
        (["train/pendulum_sac.gin"], "create_sac_agent"),
        (["train/pendulum_sac.gin", "agents/td3.gin"], "create_td3_agent"),
        (["train/pendulum_sac.gin", "agents/ddpg.gin"], "create_ddpg_agent"),
        (["train/building_sac.gin"], "create_sac_agent"),
    ],
)
def test_shipped_configs_parse(files, agent_factory):
    binary.parse_gin(files, [])
    assert gin.query_parameter("train_eval.agent_factory").selector == agent_factory
    assert gin.query_parameter("ReplayBufferManager.capacity") >= 100_000
    assert gin.query_parameter("train_eval.env_factory") is not None
