"""What the learner does, the same in every topology.

    config = TrainConfig()            # every field from gin (TrainConfig.*)

One frozen, validated record shared by the embedded loop (`train_eval.py`),
the distributed trainer and its collectors and server
(`distributed/trainer.py`, `collector.py`, `server.py`): the environment,
the agent, the run length and the intervals of the periodic work. Run length
and every interval count train (gradient) steps, as TF-Agents' Learner and
its triggers do, in both topologies; environment steps are reported beside
them. What differs between topologies (how collection and learning take
turns, the number of collectors, weight pushes, ports) is configured on the
topology's own function (`train_eval.*`, `collect.*`, `train_from_server.*`,
`serve_replay_buffer.*`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import gin
from tf_agents.agents import tf_agent

from smart_control.reinforcement_learning.agents import sac
from smart_control.reinforcement_learning.training import environments
from smart_control.reinforcement_learning.utils import validation

AgentFactory = Callable[..., tf_agent.TFAgent]


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The learning setup of an experiment.

    Attributes:
      env_factory: Builds the environment, called with `seed=` when it takes
        one (see `environments.make_environment`); in the configs, `%ENV`.
      agent_factory: `agent_factory(time_step_spec, action_spec,
        train_step_counter=...)`; in the configs, `%AGENT`.
      num_train_steps: Gradient steps of the whole run.
      batch_size: Transitions per gradient step.
      eval_interval: Train steps between evaluations of the greedy policy
        (one also before training and one at the end); 0 for none. The
        episodes, their seeds and the baseline are the evaluation layer's
        (`evaluation_set.*`, `comparison_baseline.*`), as for the eval stage.
      checkpoint_interval: Train steps between commits (learner checkpoint
        and the replay buffer checkpoint that goes with it); 0 commits at the
        end only.
      policy_save_interval: Train steps between policy exports; 0 exports at
        the end only.
      summary_interval: Train steps between TensorBoard summaries; 0 for none.
      seed: Seeds TensorFlow, exploration and the collect environments.
    """

    env_factory: environments.EnvFactory = gin.REQUIRED
    agent_factory: AgentFactory = sac.create_sac_agent
    num_train_steps: int = 100_000
    batch_size: int = 256
    eval_interval: int = 10_000
    checkpoint_interval: int = 10_000
    policy_save_interval: int = 10_000
    summary_interval: int = 1_000
    seed: int = 0

    def __post_init__(self):
        for name in ("env_factory", "agent_factory"):
            if not callable(getattr(self, name)):
                raise ValueError(
                    f"TrainConfig.{name} must be callable, got {getattr(self, name)!r}"
                )
        for name, minimum in (
            ("num_train_steps", 1),
            ("batch_size", 1),
            ("eval_interval", 0),
            ("checkpoint_interval", 0),
            ("policy_save_interval", 0),
            ("summary_interval", 0),
            ("seed", 0),
        ):
            validation.check_int(f"TrainConfig.{name}", getattr(self, name), minimum)
