"""Evaluates a policy for N episodes and compares it with the schedule baseline.

Episode `i` runs in an environment built with seed `seed + i`, for every
policy alike, so a policy and the baseline face the same weather, occupancy
and start dates. Per episode it records the return and, when the environment
has `get_info()` (the building does), electricity and gas kWh, cost, kg CO2
and comfort violation in K·h, plus per-step traces for the plots.

Outputs (see `write_report`):

    <output_dir>/metrics.json        per policy: per-episode and mean metrics
    <output_dir>/plots/*.png         zone temperatures vs comfort band,
                                     setpoints, cumulative reward vs baseline
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Any, Callable, Dict, List, Optional

import gin
import numpy as np
from tf_agents.policies import py_policy, py_tf_eager_policy, tf_policy

from smart_control.reinforcement_learning.policies.schedule_policy import (
    create_schedule_policy,
)
from smart_control.reinforcement_learning.utils import json_files

SCHEDULE = "schedule"
METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"

# StepInfo fields summed over an episode, and their names in the report.
_SUMMED_INFO = {
    "electricity_kwh": "electricity_kwh",
    "gas_kwh": "gas_kwh",
    "cost": "cost",
    "carbon_kg": "carbon_kg",
    "comfort_violation_degree_hours": "comfort_violation_degree_hours",
}


@dataclasses.dataclass
class EpisodeTrace:
    """Per-step records of one episode."""

    rewards: List[float] = dataclasses.field(default_factory=list)
    infos: List[Any] = dataclasses.field(default_factory=list)

    def metrics(self) -> Dict[str, float]:
        result = {"return": float(np.sum(self.rewards)), "steps": len(self.rewards)}
        if self.infos:
            for field, name in _SUMMED_INFO.items():
                result[name] = float(sum(getattr(info, field) for info in self.infos))
        return result


@dataclasses.dataclass
class PolicyEvaluation:
    name: str
    episodes: List[EpisodeTrace]

    def metrics(self) -> Dict[str, Any]:
        per_episode = [episode.metrics() for episode in self.episodes]
        keys = [k for k in per_episode[0] if k != "steps"]
        return {
            "mean": {k: float(np.mean([m[k] for m in per_episode])) for k in keys},
            "episodes": per_episode,
        }


def _make_env(env_factory: Callable[..., Any], seed: int) -> Any:
    if "seed" in inspect.signature(env_factory).parameters:
        return env_factory(seed=seed)
    return env_factory()


def newest_policy_checkpoint(saved_model_dir: str) -> Optional[str]:
    """The newest `policy_checkpoint_*` beside a run's policy SavedModel, if any.

    train.py rewrites the SavedModels with the latest weights at every export
    and keeps the history as policy checkpoints under
    `<root_dir>/policies/checkpoints/`; the newest checkpoint is applied so
    that a SavedModel from any source acts with the run's newest weights.
    """
    checkpoints_dir = os.path.join(
        os.path.dirname(os.path.abspath(saved_model_dir)), "checkpoints"
    )
    if not os.path.isdir(checkpoints_dir):
        return None
    found = []
    for name in os.listdir(checkpoints_dir):
        prefix = "policy_checkpoint_"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            found.append(
                (int(name[len(prefix) :]), os.path.join(checkpoints_dir, name))
            )
    return max(found)[1] if found else None


def load_policy(
    policy: str, time_step_spec: Any, action_spec: Any
) -> py_policy.PyPolicy:
    """`schedule` or the path of a policy SavedModel (as written by PolicySaver).

    A SavedModel of a training run is updated with the run's newest policy
    checkpoint, so it acts with the trained weights.

    Raises:
      FileNotFoundError: If the path holds no SavedModel.
    """
    if policy == SCHEDULE:
        return create_schedule_policy(time_step_spec, action_spec)
    if not os.path.isfile(os.path.join(policy, "saved_model.pb")):
        raise FileNotFoundError(f"no policy SavedModel (saved_model.pb) in {policy}")
    loaded = py_tf_eager_policy.SavedModelPyTFEagerPolicy(
        policy, time_step_spec, action_spec, load_specs_from_pbtxt=False
    )
    checkpoint = newest_policy_checkpoint(policy)
    if checkpoint is not None:
        loaded.update_from_checkpoint(checkpoint)
    return loaded


def run_episodes(
    env_factory: Callable[..., Any],
    policy_loader: Callable[[Any, Any], Any],
    num_episodes: int,
    seed: int,
    max_steps_per_episode: Optional[int] = None,
) -> List[EpisodeTrace]:
    """Runs `num_episodes` episodes; episode i in an env seeded `seed + i`."""
    traces = []
    policy = None
    for episode in range(num_episodes):
        env = _make_env(env_factory, seed + episode)
        if policy is None:
            policy = policy_loader(env.time_step_spec(), env.action_spec())
            if isinstance(policy, tf_policy.TFPolicy):
                policy = py_tf_eager_policy.PyTFEagerPolicy(
                    policy, use_tf_function=True
                )
        trace = EpisodeTrace()
        time_step = env.reset()
        state = policy.get_initial_state(batch_size=None)
        has_info = hasattr(env, "get_info")
        while not time_step.is_last():
            action_step = policy.action(time_step, state)
            state = action_step.state
            time_step = env.step(action_step.action)
            trace.rewards.append(float(time_step.reward))
            info = env.get_info() if has_info else None
            if info is not None and hasattr(info, "electricity_kwh"):
                trace.infos.append(info)
            if max_steps_per_episode and len(trace.rewards) >= max_steps_per_episode:
                break
        env.close()
        traces.append(trace)
    return traces


@gin.configurable(denylist=["policy", "output_dir"])
def evaluate(
    policy: str,
    output_dir: str,
    env_factory: Callable[..., Any] = gin.REQUIRED,
    num_episodes: int = 4,
    seed: int = 1000,
    compare_with_schedule: bool = True,
    max_steps_per_episode: Optional[int] = None,
) -> Dict[str, Any]:
    """Evaluates `policy` (and the schedule baseline) and writes the report.

    Args:
      policy: `schedule` or a policy SavedModel directory.
      output_dir: Where metrics.json and plots/ go.
      env_factory: Builds the evaluation environment (called with `seed=`).
      num_episodes: Episodes per policy.
      seed: Episode i uses environment seed `seed + i` (kept apart from the
        populate and train seeds by default).
      compare_with_schedule: Also evaluate the schedule baseline on the same
        episodes (needs an environment the schedule policy understands).
      max_steps_per_episode: Cut episodes short (tests); None runs to the end.

    Returns:
      The metrics written to metrics.json.
    """
    if (
        isinstance(num_episodes, bool)
        or not isinstance(num_episodes, int)
        or num_episodes < 1
    ):
        raise ValueError(f"num_episodes must be an integer >= 1, got {num_episodes!r}")
    if policy != SCHEDULE and not os.path.isdir(policy):
        raise FileNotFoundError(
            f"policy not found: {policy} (give a SavedModel directory or 'schedule')"
        )
    evaluations = [
        PolicyEvaluation(
            name="policy" if policy != SCHEDULE else SCHEDULE,
            episodes=run_episodes(
                env_factory,
                lambda ts_spec, a_spec: load_policy(policy, ts_spec, a_spec),
                num_episodes,
                seed,
                max_steps_per_episode,
            ),
        )
    ]
    if compare_with_schedule and policy != SCHEDULE:
        evaluations.append(
            PolicyEvaluation(
                name=SCHEDULE,
                episodes=run_episodes(
                    env_factory,
                    create_schedule_policy,
                    num_episodes,
                    seed,
                    max_steps_per_episode,
                ),
            )
        )
    return write_report(evaluations, policy, output_dir)


def write_report(
    evaluations: List[PolicyEvaluation], policy: str, output_dir: str
) -> Dict[str, Any]:
    from smart_control.reinforcement_learning.evaluation import plots

    os.makedirs(output_dir, exist_ok=True)
    report = {
        "policy": policy,
        "num_episodes": len(evaluations[0].episodes),
        "results": {e.name: e.metrics() for e in evaluations},
    }
    if len(evaluations) > 1:
        ours, baseline = (
            report["results"]["policy"]["mean"],
            report["results"][SCHEDULE]["mean"],
        )
        report["relative_to_schedule"] = {
            k: ours[k] - baseline[k] for k in ours if k in baseline
        }
    json_files.write_json_atomic(os.path.join(output_dir, METRICS_FILE), report)
    report["plots"] = plots.write_plots(
        evaluations, os.path.join(output_dir, PLOTS_DIR)
    )
    return report
