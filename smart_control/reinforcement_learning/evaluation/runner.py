"""Runs a policy on the episodes of an evaluation set, all at once.

The episodes advance in lockstep: one batched policy call per step for all
of them. A TF policy costs about 5 ms per call on 2 cores whatever the batch,
so 12 one-week episodes take 672 calls instead of 8,064 (an evaluation of a
few seconds instead of 40). Episodes that end early (Gym) keep their last
time step in the batch and their actions are dropped, so the batch size (and
a `tf.function`'s trace) never changes.

Per episode it records the rewards, the sums of the metric table's
`get_info()` fields (building only) and, for the episodes asked for, every
`StepInfo` (for the plots).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from tf_agents.policies import py_policy, py_tf_eager_policy, tf_policy

from smart_control.reinforcement_learning.evaluation import eval_set as eval_set_lib
from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.policies import residual as residual_action


@dataclasses.dataclass
class EpisodeResult:
    """What one episode of the evaluation set produced."""

    episode: eval_set_lib.EvalEpisode
    rewards: np.ndarray
    info_totals: Optional[Dict[str, float]] = None
    infos: Optional[List[Any]] = None

    def metrics(self) -> Dict[str, float]:
        """{key: value} of the metric table (building metrics if reported)."""
        values = {"return": float(np.sum(self.rewards)), "length": len(self.rewards)}
        if self.info_totals is not None:
            for metric in metric_table.METRICS:
                if metric.info_fields:
                    values[metric.key] = float(
                        sum(self.info_totals[f] for f in metric.info_fields)
                    )
        return values


def as_py_policy(policy: Any) -> py_policy.PyPolicy:
    """A PyPolicy for `policy` that takes batched time steps.

    TF policies run as a `tf.function` without the extra batch dimension
    `PyTFEagerPolicy` adds by default.

    Raises:
      ValueError: if `policy` is neither a PyPolicy nor a TFPolicy.
    """
    if isinstance(policy, py_policy.PyPolicy):
        return policy
    if isinstance(policy, tf_policy.TFPolicy):
        return py_tf_eager_policy.PyTFEagerPolicy(
            policy, use_tf_function=True, batch_time_steps=False
        )
    raise ValueError(f"policy is a {type(policy).__name__}, not a PyPolicy or TFPolicy")


def adds_batch_dimension(policy: Any) -> bool:
    """Whether `policy` is a PyTFEagerPolicy that batches time steps itself."""
    # A PyTFEagerPolicy built with the default batch_time_steps=True batches
    # each time step itself, so it cannot take a batch; tf_agents has no
    # public accessor for the flag.
    return bool(getattr(policy, "_batch_time_steps", False))


def _info(env: Any) -> Any:
    try:
        return env.get_info()
    except (NotImplementedError, AttributeError):
        return None


def _stack(items: Sequence[Any]) -> Any:
    return tf.nest.map_structure(lambda *xs: np.stack(xs), *items)


def run_episodes(
    env_factory: eval_set_lib.EnvFactory,
    policy_or_loader: Any,
    evaluation_set: eval_set_lib.EvaluationSet,
    episodes: Sequence[eval_set_lib.EvalEpisode],
    raw_environment: bool = False,
    traced: Sequence[int] = (),
) -> List[EpisodeResult]:
    """Runs every episode of `episodes` to its end with one policy.

    Args:
      env_factory: The evaluation environment factory.
      policy_or_loader: A PyPolicy/TFPolicy, or a callable `(time_step_spec,
        action_spec) -> policy` called once with the first environment's
        specs (how the eval binary loads a SavedModel or the schedule).
      evaluation_set: Builds each episode's environment.
      episodes: The episodes to run (from `evaluation_set.episodes`).
      raw_environment: Strip a `ResidualActionWrapper`: baselines act in the
        raw action space on the same episodes.
      traced: Indices (into `episodes`) whose per-step `StepInfo` is kept
        for the plots.

    Returns:
      One result per episode, in order.
    """
    envs = []
    for episode in episodes:
        env = evaluation_set.make_env(env_factory, episode)
        envs.append(residual_action.unwrap_residual(env) if raw_environment else env)
    try:
        if isinstance(policy_or_loader, (py_policy.PyPolicy, tf_policy.TFPolicy)):
            policy = as_py_policy(policy_or_loader)
        else:
            policy = as_py_policy(
                policy_or_loader(envs[0].time_step_spec(), envs[0].action_spec())
            )
        return _run(envs, policy, episodes, set(traced))
    finally:
        for env in envs:
            env.close()


def _run(
    envs: List[Any],
    policy: py_policy.PyPolicy,
    episodes: Sequence[eval_set_lib.EvalEpisode],
    traced: set,
) -> List[EpisodeResult]:
    count = len(envs)
    time_steps = [env.reset() for env in envs]
    rewards: List[List[float]] = [[] for _ in envs]
    totals: List[Optional[Dict[str, float]]] = [None] * count
    infos: List[Optional[List[Any]]] = [
        [] if i in traced else None for i in range(count)
    ]
    reports_info: List[Optional[bool]] = [None] * count
    done = [False] * count
    batched = not adds_batch_dimension(policy)
    if batched:
        state = policy.get_initial_state(batch_size=count)
    else:
        states = [policy.get_initial_state(batch_size=None) for _ in envs]
    while not all(done):
        if batched:
            step = policy.action(_stack(time_steps), state)
            state = step.state
            actions = tf.nest.map_structure(np.asarray, step.action)
        for i, env in enumerate(envs):
            if done[i]:
                continue
            if batched:
                action = tf.nest.map_structure(lambda a, i=i: a[i], actions)
            else:
                step = policy.action(time_steps[i], states[i])
                states[i], action = step.state, step.action
            time_steps[i] = env.step(action)
            rewards[i].append(float(time_steps[i].reward))
            info = _info(env)
            if reports_info[i] is None:
                reports_info[i] = info is not None and all(
                    hasattr(info, f) for f in metric_table.INFO_FIELDS
                )
                if reports_info[i]:
                    totals[i] = dict.fromkeys(metric_table.INFO_FIELDS, 0.0)
            if reports_info[i]:
                for field in metric_table.INFO_FIELDS:
                    totals[i][field] += float(getattr(info, field))
                if infos[i] is not None:
                    infos[i].append(info)
            done[i] = bool(time_steps[i].is_last())
    return [
        EpisodeResult(
            episode=episodes[i],
            rewards=np.asarray(rewards[i], dtype=np.float64),
            info_totals=totals[i],
            infos=infos[i] if reports_info[i] else None,
        )
        for i in range(count)
    ]


def representative_indices(
    episodes: Sequence[eval_set_lib.EvalEpisode],
) -> List[int]:
    """The first episode of each season (the first episode without seasons)."""
    chosen: Dict[Optional[str], int] = {}
    for position, episode in enumerate(episodes):
        chosen.setdefault(episode.season, position)
    return sorted(chosen.values())
