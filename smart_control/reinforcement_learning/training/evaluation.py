"""Evaluation of a policy over whole episodes, and its summaries.

The train loop evaluates the greedy policy periodically and the baseline
policy (e.g. the building's schedule) once, each on a fresh environment built
with the same seed, so both see the same episodes and numbers compare.
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional

import tensorflow as tf
from tf_agents.environments import py_environment
from tf_agents.metrics import py_metrics
from tf_agents.policies import py_policy
from tf_agents.train import actor

from smart_control.reinforcement_learning.training import environments
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


class PeriodicEvaluation:
    """What both train loops evaluate: the greedy policy, and a baseline once.

    Every call runs on a fresh environment from `env_factory(seed)`, so all
    evaluations (and the baseline) see the same episodes and numbers compare.
    The baseline does not learn, so it is evaluated at the first call only.
    """

    def __init__(
        self,
        env_factory: Callable[..., py_environment.PyEnvironment],
        seed: int,
        num_episodes: int,
        train_step: tf.Variable,
        writer: tf.summary.SummaryWriter,
        baseline_policy: Optional[py_policy.PyPolicy] = None,
    ):
        self._env_factory = env_factory
        self._seed = seed
        self._num_episodes = num_episodes
        self._train_step = train_step
        self._writer = writer
        self._baseline_policy = baseline_policy
        self.baseline_results: Optional[Dict[str, float]] = None

    def run_episodes(self, policy: py_policy.PyPolicy) -> Dict[str, float]:
        env = environments.make_environment(
            self._env_factory, self._seed, "eval_env_factory"
        )
        try:
            return evaluate(env, policy, self._train_step, self._num_episodes)
        finally:
            env.close()

    def __call__(self, policy: py_policy.PyPolicy, step: int) -> Dict[str, float]:
        """Evaluates `policy` (and the baseline, the first time); writes summaries."""
        if self._baseline_policy is not None and self.baseline_results is None:
            self.baseline_results = self.run_episodes(self._baseline_policy)
        results = self.run_episodes(policy)
        write_summaries(self._writer, "Metrics", results, step)
        if self.baseline_results:
            write_summaries(self._writer, "Baseline", self.baseline_results, step)
        self._writer.flush()
        return results

    def describe(self, results: Mapping[str, float]) -> str:
        """ "eval return X (baseline Y)" for progress lines."""
        text = f"eval return {results[AVERAGE_RETURN]:.1f}"
        if self.baseline_results:
            text += f" (baseline {self.baseline_results[AVERAGE_RETURN]:.1f})"
        return text
