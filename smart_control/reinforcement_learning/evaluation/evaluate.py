"""Evaluates a saved policy (or the schedule) on the evaluation set.

The policy and the schedule baseline run the same episodes of the
gin-configured `evaluation_set()` (dates, seeds, length; see eval_set.py).
A residual policy (trained in `create_residual_building_environment`) runs
in that wrapped environment and the schedule in the raw one.

Outputs:

    <output_dir>/metrics.json     format 2:
      policy, baseline            what was evaluated ("schedule" or a path)
      evaluation_set              seed, episode_days, episodes (index,
                                  env_seed, season, start_date)
      metrics                     the metric table: key -> label, unit, better
      results.<role>              role "policy" and "baseline":
        overall.<key>             mean, ci_low, ci_high (95%), n
        seasons.<season>.<key>    the same per season (building only)
        mean.<key>                overall means, flat
        episodes[]                per episode: index, season, start_date,
                                  env_seed and every metric
      difference                  policy - baseline paired per episode:
                                  overall and seasons, as above
    <output_dir>/plots/*.png      see plots.py

`metric_table.report_columns(report, role)` flattens a report into columns.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional

import gin
from tf_agents.policies import py_policy, py_tf_eager_policy

from smart_control.reinforcement_learning.evaluation import eval_set as eval_set_lib
from smart_control.reinforcement_learning.evaluation import report as report_lib
from smart_control.reinforcement_learning.evaluation import runner
from smart_control.reinforcement_learning.policies import residual as residual_action
from smart_control.reinforcement_learning.policies.schedule_policy import (
    create_schedule_policy,
)
from smart_control.reinforcement_learning.utils import json_files

SCHEDULE = "schedule"
METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"
POLICY_SPECS_FILE = "policy_specs.pbtxt"


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
    prefix = "policy_checkpoint_"
    for name in os.listdir(checkpoints_dir):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            found.append(
                (int(name[len(prefix) :]), os.path.join(checkpoints_dir, name))
            )
    return max(found)[1] if found else None


def is_residual_policy(saved_model_dir: str) -> bool:
    """Whether a saved policy acts in residual-correction space.

    The wrapped environment's action spec is named `RESIDUAL_ACTION_NAME`
    and PolicySaver keeps spec names in policy_specs.pbtxt.
    """
    path = os.path.join(saved_model_dir, POLICY_SPECS_FILE)
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        return f'"{residual_action.RESIDUAL_ACTION_NAME}"' in f.read()


def load_policy(
    policy: str, time_step_spec: Any, action_spec: Any
) -> py_policy.PyPolicy:
    """`schedule` or the path of a policy SavedModel (as written by PolicySaver).

    A SavedModel of a training run is updated with the run's newest policy
    checkpoint, so it acts with the trained weights.

    Raises:
      FileNotFoundError: If the path holds no SavedModel.
      ValueError: If the policy and the environment disagree on residual
        actions (a residual policy in a plain environment, or the reverse).
    """
    if policy == SCHEDULE:
        return create_schedule_policy(time_step_spec, action_spec)
    if not os.path.isfile(os.path.join(policy, "saved_model.pb")):
        raise FileNotFoundError(f"no policy SavedModel (saved_model.pb) in {policy}")
    env_residual = action_spec.name == residual_action.RESIDUAL_ACTION_NAME
    policy_residual = is_residual_policy(policy)
    if env_residual != policy_residual:
        raise ValueError(
            f"{policy} was trained with "
            f"{'residual' if policy_residual else 'plain'} actions but "
            f"evaluate.env_factory builds a "
            f"{'residual' if env_residual else 'plain'} environment; use "
            + (
                "--gin_file=eval/residual.gin"
                if policy_residual
                else "--gin_file=eval/building.gin"
            )
        )
    loaded = py_tf_eager_policy.SavedModelPyTFEagerPolicy(
        policy,
        time_step_spec,
        action_spec,
        load_specs_from_pbtxt=False,
        batch_time_steps=False,  # The runner steps all episodes in one batch.
    )
    checkpoint = newest_policy_checkpoint(policy)
    if checkpoint is not None:
        loaded.update_from_checkpoint(checkpoint)
    return loaded


@gin.configurable
def comparison_baseline(
    seasonal: bool, compare_with_schedule: bool = True
) -> Optional[Callable[..., py_policy.PyPolicy]]:
    """The baseline every evaluation runs beside the policy, on the same episodes.

    One rule for the eval binary and train's periodic evaluation: the
    building's schedule, in the raw environment, whenever the environment is
    the building (has seasons); nothing for other environments (Gym).

    Args:
      seasonal: Whether the evaluation environment is the building.
      compare_with_schedule: False evaluates the policy alone.

    Returns:
      `factory(time_step_spec, action_spec)` of the baseline, or None.
    """
    return create_schedule_policy if compare_with_schedule and seasonal else None


@gin.configurable(denylist=["policy", "output_dir"])
def evaluate(
    policy: str,
    output_dir: str,
    env_factory: eval_set_lib.EnvFactory = gin.REQUIRED,
    eval_set: Optional[eval_set_lib.EvaluationSet] = None,
    write_plots: bool = True,
) -> Dict[str, Any]:
    """Evaluates `policy` (and the schedule baseline) and writes the report.

    Args:
      policy: `schedule` or a policy SavedModel directory.
      output_dir: Where metrics.json and plots/ go.
      env_factory: Builds each episode's environment (see
        `EvaluationSet.make_env`).
      eval_set: The episodes; None for the gin-configured `evaluation_set()`.
      write_plots: Write plots/ (skip for speed).

    Returns:
      The metrics written to metrics.json, plus "files": the paths written.

    Raises:
      FileNotFoundError: If `policy` is neither 'schedule' nor a directory.
    """
    if policy != SCHEDULE and not os.path.isdir(policy):
        raise FileNotFoundError(
            f"policy not found: {policy} (give a SavedModel directory or 'schedule')"
        )
    eval_set = eval_set if eval_set is not None else eval_set_lib.evaluation_set()
    seasonal = eval_set.is_seasonal(env_factory)
    episodes = eval_set.episodes(seasonal)
    traced = runner.representative_indices(episodes)
    policy_results = runner.run_episodes(
        env_factory,
        lambda ts_spec, a_spec: load_policy(policy, ts_spec, a_spec),
        eval_set,
        episodes,
        raw_environment=policy == SCHEDULE,
        traced=traced,
    )
    baseline_results = None
    baseline = comparison_baseline(seasonal)
    if baseline is not None and policy != SCHEDULE:
        baseline_results = runner.run_episodes(
            env_factory,
            baseline,
            eval_set,
            episodes,
            raw_environment=True,
            traced=traced,
        )
    report = report_lib.build_report(
        policy,
        eval_set.describe(seasonal),
        policy_results,
        SCHEDULE if baseline_results else None,
        baseline_results,
    )
    os.makedirs(output_dir, exist_ok=True)
    metrics_path = os.path.join(output_dir, METRICS_FILE)
    json_files.write_json_atomic(metrics_path, report)
    files: Dict[str, Any] = {"metrics": metrics_path}
    if write_plots:
        from smart_control.reinforcement_learning.evaluation import plots

        files["plots"] = plots.write_plots(
            report,
            policy_results,
            baseline_results,
            traced,
            os.path.join(output_dir, PLOTS_DIR),
        )
    return {**report, "files": files}
