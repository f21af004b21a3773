"""What an experiment run prints about its evaluation: the table and the verdict.

One run (one seed): the eval stage's per-season table of the policy against
the schedule (`report.format_table`: mean ± 95% interval over the evaluation
episodes, the paired difference) and the verdict (verdict.py: does the
policy beat the schedule on cost with comfort no worse), with how far the
run got and, when it does not beat the schedule, the longer experiment to
run instead.

A run of several seeds is summarised across them by launchers/seed_summary.py,
from the pieces here (each seed's report, the summary's metrics).

Metric names, units and column names come from `metric_table`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Mapping, Optional

from launchers import run_records, verdict
from smart_control.reinforcement_learning.evaluation import metric_table
from smart_control.reinforcement_learning.utils import run_files

# Not imported here: TensorFlow (report), which loads numpy. run_experiment
# imports this module before it enters its private network namespace, which
# must happen while the process has a single thread, and numpy's BLAS starts
# threads when it loads.

# The metrics a summary shows, in this order.
SUMMARY_KEYS = (
    "return",
    "cost",
    "comfort_kh",
    "electricity_kwh",
    "gas_kwh",
    "carbon_kg",
)
OVERALL = "all year"


@dataclasses.dataclass(frozen=True)
class NextExperiment:
    """The shipped experiment a summary names when a run does not beat the schedule.

    Attributes:
      gin_file: The experiment ('experiments/building_sac_long.gin').
      make_target: The make command that runs it ('make run-long').
      expected_wall_time_min: Its measured wall time on 2 cores, minutes;
        None until measured.
    """

    gin_file: str
    make_target: str
    expected_wall_time_min: Optional[float] = None

    def describe(self) -> str:
        """'make run-long (experiments/building_sac_long.gin, about 40 min on 2 cores)'."""
        if self.expected_wall_time_min is None:
            took = "expected wall time not measured yet"
        else:
            took = f"about {self.expected_wall_time_min:.0f} min on 2 cores"
        return f"{self.make_target} ({self.gin_file}, {took})"


def eval_report_path(run_dir: str) -> str:
    return os.path.join(run_dir, run_files.EVAL_REPORT_DIR, run_files.EVAL_METRICS_FILE)


def load_report(run_dir: str) -> Optional[Dict[str, Any]]:
    """The eval stage's metrics.json of a run, or None if it has none."""
    return run_records.read_json(eval_report_path(run_dir))


def describe_evaluation_set(report: Mapping[str, Any]) -> str:
    """'12 episodes (3 per season, 7 days each, seed 1000)'."""
    eval_set = report["evaluation_set"]
    count = len(eval_set["episodes"])
    parts = []
    if eval_set.get("seasonal"):
        if eval_set.get("episodes_per_season"):
            parts.append(f"{eval_set['episodes_per_season']} per season")
        days = eval_set["episode_days"]
        parts.append(f"{days} day{'s' if days != 1 else ''} each")
    parts.append(f"seed {eval_set['seed']}")
    return f"{count} episode{'s' if count != 1 else ''} ({', '.join(parts)})"


def training_progress(run_dir: str) -> Optional[str]:
    """How far a run's training got, from train/DONE and run.json.

    '3,000 train steps on 3,000 env steps (+2,016 from the starter buffer),
    training took 4.2 min'; None if the run did not finish training.
    """
    done = run_records.read_json(
        os.path.join(run_dir, run_files.TRAIN_STAGE_DIR, run_files.DONE_FILE)
    )
    if not done:
        return None
    text = f"{done['train_step']:,} train steps on {done['env_steps']:,} env steps"
    starter = run_records.read_json(
        os.path.join(run_dir, run_files.STARTER_BUFFER_FILE)
    )
    if starter and starter.get("frames"):
        text += f" (+{starter['frames']:,} from the starter buffer)"
    record = run_records.read_json(os.path.join(run_dir, run_files.RUN_FILE)) or {}
    wall = (record.get("stages", {}).get("train") or {}).get("wall_time_s")
    if wall is not None:
        text += f", training took {wall / 60:.1f} min"
    return text


def _season_verdict_word(result: Optional[verdict.Verdict]) -> str:
    if result is None or result.beats is None:
        return "no verdict (one episode: no interval)"
    if result.beats:
        return "beats"
    reasons = []
    if not result.cost_lower:
        reasons.append("cost not lower")
    if not result.comfort_no_worse:
        reasons.append("comfort worse")
    return "no (" + ", ".join(reasons) + ")"


def format_verdict(
    report: Mapping[str, Any],
    progress: Optional[str] = None,
    next_experiment: Optional[NextExperiment] = None,
) -> str:
    """The plain answer: does the learned policy beat the schedule?

    Per scope (all year, each season) whether the policy beats the schedule
    (verdict.py: the cost difference's 95% interval below zero, the comfort
    difference's not above zero, paired per episode), then one sentence on
    the year-round set; when it does not beat it, how far the run got
    (`progress`) and the longer experiment to run (`next_experiment`).

    Returns:
      The lines, or '' when the report has no schedule baseline.
    """
    overall = verdict.from_report(report)
    if overall is None:
        return ""
    seasons = {
        season: verdict.from_report(report, season)
        for season in metric_table.ordered_seasons(
            report[metric_table.DIFFERENCE]["seasons"]
        )
    }
    lines = [
        "Against the schedule: beats it = cost lower and comfort no worse "
        "(paired 95% intervals over the episodes)",
        f"  {OVERALL:10s}{_season_verdict_word(overall)}",
    ]
    for season, result in seasons.items():
        lines.append(f"  {season:10s}{_season_verdict_word(result)}")
    differences = (
        f"{verdict.describe_differences(overall)} (policy - schedule, per episode)"
    )
    if overall.beats:
        lines.append(
            "Verdict: the learned policy BEATS the schedule on the year-round "
            f"set: {differences}."
        )
        if progress:
            lines.append(f"  Trained for {progress}.")
        return "\n".join(lines) + "\n"
    if overall.beats is None:
        lines.append(
            "Verdict: none (a single evaluation episode gives no interval): "
            f"{differences}."
        )
    else:
        lines.append(
            "Verdict: the learned policy does NOT beat the schedule on the "
            f"year-round set yet: {differences}."
        )
    if progress:
        winning = [s for s, result in seasons.items() if result and result.beats]
        lines.append(
            f"  It got this far in {progress}"
            + (f"; it beats the schedule in {', '.join(winning)}." if winning else ".")
        )
    if next_experiment is not None:
        lines.append(
            f"  A run long enough to beat the schedule: {next_experiment.describe()}."
        )
    return "\n".join(lines) + "\n"


def format_one_run(
    report: Mapping[str, Any],
    progress: Optional[str] = None,
    next_experiment: Optional[NextExperiment] = None,
) -> str:
    """The per-season table of one evaluation and its verdict."""
    # The report module imports TensorFlow (through the episode runner).
    from smart_control.reinforcement_learning.evaluation import report as report_lib

    keys = [
        k
        for k in SUMMARY_KEYS
        if k in report["results"][metric_table.POLICY]["overall"]
    ]
    lines = [
        f"Evaluation on {describe_evaluation_set(report)}: mean ± 95% interval "
        "over the episodes; difference = policy - schedule, paired per episode.",
        "",
        report_lib.format_table(report, keys=keys).rstrip("\n"),
        "",
    ]
    text = "\n".join(lines) + "\n"
    return text + format_verdict(report, progress, next_experiment)
