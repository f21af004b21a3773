"""Evaluation of a policy over whole episodes, and its summaries.

The train loop evaluates the greedy policy periodically and the baseline
policy (e.g. the building's schedule) once, each on a fresh environment built
with the same seed, so both see the same episodes and numbers compare.
"""

from __future__ import annotations

from typing import Dict, Mapping

import tensorflow as tf
from tf_agents.environments import py_environment
from tf_agents.metrics import py_metrics
from tf_agents.policies import py_policy
from tf_agents.train import actor

from smart_control.reinforcement_learning.training import metrics as metrics_lib

AVERAGE_RETURN = "AverageReturn"
AVERAGE_EPISODE_LENGTH = "AverageEpisodeLength"


def evaluate(
    env: py_environment.PyEnvironment,
    policy: py_policy.PyPolicy,
    train_step: tf.Variable,
    num_episodes: int,
) -> Dict[str, float]:
    """Runs `num_episodes` episodes of `policy` from a reset of `env`.

    Args:
      env: The evaluation environment (reset first).
      policy: A PyPolicy (wrap TF policies in `PyTFEagerPolicy`).
      train_step: The train step variable (the Actor requires one).
      num_episodes: Episodes to run.

    Returns:
      Means over the episodes: "AverageReturn", "AverageEpisodeLength" and, if
      the environment reports them, the building's episode totals
      (`metrics.BUILDING_INFO_METRICS`).
    """
    episode_metrics = [
        py_metrics.AverageReturnMetric(buffer_size=num_episodes),
        py_metrics.AverageEpisodeLengthMetric(buffer_size=num_episodes),
    ]
    info_totals = metrics_lib.EpisodeInfoTotals(env, buffer_size=num_episodes)
    eval_actor = actor.Actor(
        env,
        policy,
        train_step,
        episodes_per_run=num_episodes,
        metrics=episode_metrics,
        observers=[info_totals],
    )
    eval_actor.run()
    results = {m.name: float(m.result()) for m in episode_metrics}
    results.update(info_totals.results())
    return results


def write_summaries(
    writer: tf.summary.SummaryWriter,
    prefix: str,
    results: Mapping[str, float],
    step: int,
) -> None:
    """Writes `results` as scalars named `<prefix>/<name>` at `step`."""
    with writer.as_default(), tf.summary.record_if(True):
        for name, value in results.items():
            tf.summary.scalar(f"{prefix}/{name}", value, step=step)
