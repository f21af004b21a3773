"""Builds what every process of a run needs, from one `TrainConfig`.

    builder = ExperimentBuilder(TrainConfig())
    env = builder.make_environment(seed)
    agent = builder.make_agent(env, train_step)
    manager = builder.make_replay_manager(env, checkpoint_dir=...)

The embedded loop, the distributed trainer, its collectors and its replay
server all build through this class, so that the environment, the agent,
the replay table's data spec and sequence length, and the policy weights
nest agree across processes by construction (as in Acme's builders): the
data spec is derived once (`utils.specs.collect_data_spec`), the agent's own
`collect_data_spec` and `train_sequence_length` are checked against it and
against the replay buffer's gin settings.
"""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.environments import py_environment
from tf_agents.specs import tensor_spec
from tf_agents.train.utils import spec_utils, train_utils

from smart_control.reinforcement_learning.replay_buffer import replay_buffer
from smart_control.reinforcement_learning.training import environments
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils import specs


class ExperimentBuilder:
    """The `make_*` methods of one experiment's learning setup."""

    def __init__(self, config: TrainConfig):
        self.config = config

    def make_environment(self, seed: int) -> py_environment.PyEnvironment:
        """A fresh environment from `TrainConfig.env_factory`, seeded."""
        return environments.make_environment(
            self.config.env_factory, seed, "TrainConfig.env_factory"
        )

    @staticmethod
    def data_spec(env: py_environment.PyEnvironment) -> Any:
        """The trajectory spec of one step, as the replay table stores it."""
        return specs.collect_data_spec(env)

    def make_agent(
        self,
        env: py_environment.PyEnvironment,
        train_step: Optional[tf.Variable] = None,
        sequence_length: Optional[int] = None,
    ) -> tf_agent.TFAgent:
        """Builds the agent for `env`'s specs and checks it fits the table.

        Args:
          env: The environment whose specs the agent acts in.
          train_step: The train step counter; a new one if None.
          sequence_length: The replay buffer's steps per item
            (`manager.sequence_length`), checked against the agent's.

        Raises:
          ValueError: If the agent collects another trajectory spec than the
            environment's, or trains on sequences of another length than
            `ReplayBufferManager.sequence_length`.
        """
        if train_step is None:
            train_step = train_utils.create_train_step()
        _, action_spec, time_step_spec = spec_utils.get_tensor_specs(env)
        agent = self.config.agent_factory(
            time_step_spec, action_spec, train_step_counter=train_step
        )
        expected = tensor_spec.from_spec(self.data_spec(env))
        if not specs.same_specs(agent.collect_data_spec, expected):
            raise ValueError(
                f"the agent of TrainConfig.agent_factory collects "
                f"{agent.collect_data_spec}, the replay table stores {expected}"
            )
        if sequence_length is not None and agent.train_sequence_length not in (
            None,
            sequence_length,
        ):
            raise ValueError(
                f"the agent trains on sequences of {agent.train_sequence_length} "
                f"steps but ReplayBufferManager.sequence_length = {sequence_length}"
            )
        return agent

    def make_replay_manager(
        self, env: py_environment.PyEnvironment, **kwargs: Any
    ) -> replay_buffer.ReplayBufferManager:
        """A `ReplayBufferManager` for `env`'s trajectories.

        Capacity, sequence length, sampler and rate limiter come from gin
        (`ReplayBufferManager.*`); `kwargs` are the process's own arguments
        (`checkpoint_dir`, `server_address`, ...).

        Raises:
          ValueError: If `ReplayBufferManager.capacity` is not bound.
        """
        try:
            return replay_buffer.ReplayBufferManager(
                data_spec=self.data_spec(env), **kwargs
            )
        except TypeError as e:
            if "capacity" not in str(e):
                raise
            raise ValueError(
                "the replay buffer capacity is not set: bind "
                "ReplayBufferManager.capacity in gin (e.g. --gin_bindings="
                "'ReplayBufferManager.capacity = 100000')"
            ) from None
