"""Periodic evaluation of the greedy policy during training, and its summaries.

Both train loops call one `PeriodicEvaluation` with the greedy policy and a
step. It runs the episodes of the evaluation set (eval_set.py: by default
12 one-week building episodes, three per season, configured by the
`evaluation_set.*` gin bindings the eval binary uses too) through the same
runner and report as the eval binary, so train-time and final numbers have
the same episodes, names and statistics. The baseline is the eval binary's
too (`evaluate.comparison_baseline`: the schedule, for the building); it
does not learn, so it runs once, on the same episodes, in the raw
environment when the policy's environment is residual.

TensorBoard: the policy's metrics go to `summary_dir`, the baseline's to
`summary_dir/baseline` under the same tags (`Eval/<key>`,
`Eval_<season>/<key>`, `EvalByEnvSteps/<key>`), so TensorBoard draws the two
as two runs on one chart.

    evaluation = PeriodicEvaluation(eval_env_factory, eval_dir)
    report = evaluation(agent_greedy_tf_policy, train_step, env_steps=env_steps)
    metric_table.report_columns(report, "policy")   # flat, for metrics.jsonl
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional

import tensorflow as tf
from absl import logging
from tf_agents.policies import py_policy, tf_policy

from smart_control.reinforcement_learning.evaluation import eval_set as eval_set_lib
from smart_control.reinforcement_learning.evaluation import (
    evaluate,
    metric_table,
    runner,
)
from smart_control.reinforcement_learning.evaluation import report as report_lib

BASELINE_SUBDIR = "baseline"
BY_ENV_STEPS = "EvalByEnvSteps"


def write_summaries(
    writer: tf.summary.SummaryWriter,
    report_role: Mapping[str, Any],
    step: int,
    env_steps: Optional[int] = None,
) -> None:
    """Writes one role's overall and per-season means at `step`.

    Args:
      writer: Where the scalars go.
      report_role: `report["results"][role]` of an evaluation report.
      step: Summary step (the train step).
      env_steps: Also write the overall means as `EvalByEnvSteps/<key>` at
        this step, for curves against environment steps.
    """
    with writer.as_default(), tf.summary.record_if(True):
        for key, interval in report_role["overall"].items():
            tf.summary.scalar(metric_table.summary_tag(key), interval["mean"], step)
            if env_steps is not None:
                tf.summary.scalar(f"{BY_ENV_STEPS}/{key}", interval["mean"], env_steps)
        for season, values in report_role["seasons"].items():
            for key, interval in values.items():
                tf.summary.scalar(
                    metric_table.summary_tag(key, season), interval["mean"], step
                )


def record_fields(report: Mapping[str, Any]) -> Dict[str, Any]:
    """What a train loop's eval/metrics.jsonl record keeps of a report.

    Returns:
      {"metrics": policy's overall means {key: value}, "baseline": the
      baseline's (if any), "columns": every flat column of every role
      (`metric_table.report_columns`), as in the sweep's results.csv}.
    """
    results = report["results"]
    fields: Dict[str, Any] = {"metrics": dict(results[metric_table.POLICY]["mean"])}
    if metric_table.BASELINE in results:
        fields["baseline"] = dict(results[metric_table.BASELINE]["mean"])
    columns: Dict[str, Any] = {}
    for role in metric_table.ROLES:
        columns.update(metric_table.report_columns(report, role))
    fields["columns"] = columns
    return fields


class PeriodicEvaluation:
    """What both train loops evaluate: the greedy policy, and a baseline once."""

    def __init__(
        self,
        env_factory: eval_set_lib.EnvFactory,
        summary_dir: str,
        eval_set: Optional[eval_set_lib.EvaluationSet] = None,
        baseline: Any = None,
    ):
        """Prepares the evaluation (nothing runs until the first call).

        Args:
          env_factory: The evaluation environment factory (the training
            environment's: residual if training is residual).
          summary_dir: TensorBoard directory of the policy's scalars; the
            baseline's go to `<summary_dir>/baseline`.
          eval_set: The episodes; None for the gin-configured
            `evaluation_set()`.
          baseline: A policy (or `(time_step_spec, action_spec)` loader) to
            run instead of the eval stage's baseline (`comparison_baseline`:
            the schedule for the building) — for tests.
        """
        self._env_factory = env_factory
        self._eval_set = (
            eval_set if eval_set is not None else eval_set_lib.evaluation_set()
        )
        self._seasonal = self._eval_set.is_seasonal(env_factory)
        self._episodes = self._eval_set.episodes(self._seasonal)
        # A policy, a `(time_step_spec, action_spec)` loader, or None.
        self._baseline_policy = (
            baseline
            if baseline is not None
            else evaluate.comparison_baseline(self._seasonal)
        )
        self._baseline_results: Optional[List[runner.EpisodeResult]] = None
        self.writer = tf.summary.create_file_writer(summary_dir, flush_millis=10_000)
        self._baseline_writer = (
            tf.summary.create_file_writer(
                os.path.join(summary_dir, BASELINE_SUBDIR), flush_millis=10_000
            )
            if self._baseline_policy is not None
            else None
        )
        self._wrapped: Dict[int, py_policy.PyPolicy] = {}
        self._warned = False
        self.last_report: Optional[Dict[str, Any]] = None

    @property
    def episodes(self) -> List[eval_set_lib.EvalEpisode]:
        return list(self._episodes)

    def _as_py_policy(self, policy: Any) -> py_policy.PyPolicy:
        # One wrapper per TF policy object: its tf.function is traced once,
        # and the weights it reads are the agent's current variables.
        if isinstance(policy, tf_policy.TFPolicy):
            if id(policy) not in self._wrapped:
                self._wrapped[id(policy)] = runner.as_py_policy(policy)
            return self._wrapped[id(policy)]
        if runner.adds_batch_dimension(policy) and not self._warned:
            self._warned = True
            logging.warning(
                "PeriodicEvaluation got a PyTFEagerPolicy that batches each time "
                "step itself, so episodes run one policy call each; pass the "
                "TFPolicy (e.g. GreedyPolicy(agent.policy)) to batch them."
            )
        return runner.as_py_policy(policy)

    def run(
        self, policy: Any, raw_environment: bool = False
    ) -> List[runner.EpisodeResult]:
        """Runs `policy` (or a `(time_step_spec, action_spec)` loader) on every episode."""
        if not isinstance(policy, (py_policy.PyPolicy, tf_policy.TFPolicy)):
            loader = policy  # built by the runner for the episodes' specs
        else:
            loader = self._as_py_policy(policy)
        return runner.run_episodes(
            self._env_factory,
            loader,
            self._eval_set,
            self._episodes,
            raw_environment=raw_environment,
        )

    def __call__(
        self, policy: Any, step: int, env_steps: Optional[int] = None
    ) -> Dict[str, Any]:
        """Evaluates `policy` (and the baseline, the first time); writes summaries.

        Args:
          policy: The greedy policy: a TFPolicy (preferred: batched over the
            episodes) or a PyPolicy.
          step: Summary step (the train step).
          env_steps: Also write overall means against environment steps.

        Returns:
          The report, with the metrics.json layout (see evaluate.py):
          results.policy / results.baseline / difference.
        """
        if self._baseline_policy is not None and self._baseline_results is None:
            self._baseline_results = self.run(
                self._baseline_policy, raw_environment=True
            )
        results = self.run(policy)
        report = report_lib.build_report(
            "policy",
            self._eval_set.describe(self._seasonal),
            results,
            "baseline" if self._baseline_results else None,
            self._baseline_results,
        )
        write_summaries(self.writer, report["results"]["policy"], step, env_steps)
        self.writer.flush()
        if self._baseline_writer is not None:
            write_summaries(
                self._baseline_writer, report["results"]["baseline"], step, env_steps
            )
            self._baseline_writer.flush()
        self.last_report = report
        logging.info("Eval at step %d: %s", step, report_lib.describe(report))
        return report

    @property
    def baseline_report(self) -> Optional[Dict[str, Any]]:
        """results.baseline of the last report (None before the first call)."""
        if self.last_report is None:
            return None
        return self.last_report["results"].get(metric_table.BASELINE)

    @staticmethod
    def describe(report: Mapping[str, Any]) -> str:
        """'eval return -53.7 vs -65.0, cost ...' for progress lines."""
        return report_lib.describe(report)

    def flush(self) -> None:
        self.writer.flush()
        if self._baseline_writer is not None:
            self._baseline_writer.flush()
