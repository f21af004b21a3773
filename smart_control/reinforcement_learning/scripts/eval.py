"""Evaluates a saved policy, or the schedule baseline, on the evaluation set.

    python -m smart_control.reinforcement_learning.scripts.eval \
        --policy=RUN/policies/greedy_policy --root_dir=RUN/eval_report
    python -m smart_control.reinforcement_learning.scripts.eval --policy=schedule --root_dir=OUT

The default set (configs/eval/eval_set.gin) is 12 one-week episodes, three
per season, the same for the policy and the schedule. Prints one block per
metric (return, electricity, gas, cost, CO2, comfort violation) with the
mean ± 95% interval overall and per season, for the policy, the schedule and
their paired difference. Writes `<root_dir>/metrics.json` (see
evaluation/evaluate.py), `<root_dir>/plots/*.png`, `operative_config.gin`
and `logs/native.log`.
"""

from __future__ import annotations

import os

from absl import flags

from smart_control.reinforcement_learning.scripts import gin_checks
from smart_control.reinforcement_learning.utils import binary, gin_configs, native_logs

DEFAULT_GIN_FILE = "eval/building.gin"


def define_flags() -> None:
    """Defines this binary's flags (called by `run`, never on import)."""
    binary.define_common_flags(root_dir_help="Directory for metrics.json and plots/.")
    flags.DEFINE_string(
        "policy", "schedule", "'schedule' or a policy SavedModel directory."
    )
    flags.DEFINE_integer(
        "episodes_per_season",
        None,
        "Episodes per season (gin: evaluation_set.episodes_per_season).",
    )
    flags.DEFINE_integer(
        "episode_days", None, "Days per episode (gin: evaluation_set.episode_days)."
    )
    flags.DEFINE_integer(
        "seed", None, "Seed of the dates and weather (gin: evaluation_set.seed)."
    )
    flags.DEFINE_integer(
        "num_episodes",
        None,
        "Episodes of an environment without seasons, e.g. Gym "
        "(gin: evaluation_set.num_episodes).",
    )


FLAGS = flags.FLAGS

_FLAG_TO_GIN = {
    "episodes_per_season": "evaluation_set.episodes_per_season",
    "episode_days": "evaluation_set.episode_days",
    "seed": "evaluation_set.seed",
    "num_episodes": "evaluation_set.num_episodes",
}


def main(argv):
    binary.check_no_arguments(argv)
    output_dir = binary.check_output_dir(FLAGS.root_dir)
    for name in ("episodes_per_season", "episode_days", "num_episodes"):
        binary.check_flag_int(name, 1)
    binary.check_flag_int("seed", 0)
    policy = FLAGS.policy if FLAGS.policy == "schedule" else _check_policy(FLAGS.policy)
    gin_files = FLAGS.gin_file or [DEFAULT_GIN_FILE]
    bindings = FLAGS.gin_bindings + binary.flag_bindings(_FLAG_TO_GIN)
    gin_configs.check_gin(gin_files, bindings)
    # The output directory is created by the evaluation when it writes its
    # report: a refused or failed evaluation leaves nothing.
    with native_logs.quiet_native_logs(None):
        from smart_control.reinforcement_learning.evaluation import evaluate

    gin_configs.parse_gin(gin_files, bindings)
    report = evaluate.evaluate(policy, output_dir)
    native_logs.attach_native_log(output_dir)
    gin_configs.write_operative_config(output_dir)
    _print_summary(report)
    return 0


def _check_policy(path: str) -> str:
    """A policy SavedModel directory, checked before TensorFlow loads."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise binary.UserError(
            f"policy not found: {path} (give a SavedModel directory or 'schedule')"
        )
    if not os.path.isdir(path):
        raise binary.UserError(
            f"--policy {path} is a file; give a SavedModel directory or 'schedule'"
        )
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise binary.UserError(f"no policy SavedModel (saved_model.pb) in {path}")
    return path


def _print_summary(report) -> None:
    from smart_control.reinforcement_learning.evaluation import report as report_lib

    eval_set = report["evaluation_set"]
    episodes = len(eval_set["episodes"])
    against = f" against {report['baseline']}" if report.get("baseline") else ""
    if eval_set["seasonal"]:
        shape = (
            f"{eval_set['episodes_per_season']} per season, "
            if eval_set["episodes_per_season"]
            else ""
        )
        days = eval_set["episode_days"]
        shape += f"{days} day{'s' if days != 1 else ''} each, seed {eval_set['seed']}"
    else:
        shape = f"seed {eval_set['seed']}"
    print(f"Evaluated {report['policy']}{against} on {episodes} episodes ({shape}).")
    print("Mean over episodes ± 95% interval; difference = policy - baseline,")
    print("paired on the same episodes ('better'/'worse': its interval excludes 0).")
    print()
    print(report_lib.format_table(report, keys=_shown_keys(report)), end="")
    files = report["files"]
    print(f"  metrics: {files['metrics']}")
    if "plots" in files:
        print(f"  plots:   {os.path.dirname(files['metrics'])}/plots")


def _shown_keys(report):
    # The length is the same for every building episode; show it only where
    # it varies (Gym).
    from smart_control.reinforcement_learning.evaluation import metric_table

    keys = metric_table.ordered_keys(report["results"]["policy"]["overall"])
    return (
        [k for k in keys if k != "length"]
        if report["evaluation_set"]["seasonal"]
        else keys
    )


def run() -> None:
    """Console entry point (smart-control-eval)."""
    define_flags()
    binary.run(main, gin_checks=gin_checks.GIN_CHECKS)


if __name__ == "__main__":
    run()
