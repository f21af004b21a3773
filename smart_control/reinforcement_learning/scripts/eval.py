"""Evaluates a saved policy, or the schedule baseline, for N episodes.

    python -m smart_control.reinforcement_learning.scripts.eval \
        --policy=RUN/policies/greedy_policy --root_dir=RUN/eval_report
    python -m smart_control.reinforcement_learning.scripts.eval --policy=schedule --root_dir=OUT

Writes `<root_dir>/metrics.json` (return, kWh electricity and gas, cost, kg CO2,
comfort violation in K·h, per episode and mean, for the policy and the
schedule baseline on the same episodes), `<root_dir>/plots/*.png` (zone
temperatures against the comfort band, setpoints, cumulative reward against
the baseline), `operative_config.gin` and `logs/native.log`.
"""

from __future__ import annotations

import os

from absl import flags

from smart_control.reinforcement_learning.utils import binary

DEFAULT_GIN_FILE = "eval/building.gin"

binary.define_common_flags(root_dir_help="Directory for metrics.json and plots/.")
flags.DEFINE_string(
    "policy", "schedule", "'schedule' or a policy SavedModel directory."
)
flags.DEFINE_integer(
    "num_episodes", None, "Episodes per policy (gin: evaluate.num_episodes)."
)
flags.DEFINE_integer(
    "seed", None, "Episode i uses environment seed seed + i (gin: evaluate.seed)."
)
FLAGS = flags.FLAGS

_FLAG_TO_GIN = {"num_episodes": "evaluate.num_episodes", "seed": "evaluate.seed"}


def main(argv):
    if len(argv) > 1:
        raise binary.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    output_dir = binary.make_output_dir(FLAGS.root_dir)
    policy = (
        FLAGS.policy if FLAGS.policy == "schedule" else os.path.abspath(FLAGS.policy)
    )
    bindings = list(FLAGS.gin_bindings)
    for flag_name, gin_name in _FLAG_TO_GIN.items():
        if FLAGS[flag_name].value is not None:
            bindings.append(f"{gin_name} = {FLAGS[flag_name].value!r}")
    with binary.quiet_native_logs(output_dir):
        from smart_control.reinforcement_learning.evaluation import evaluate

    binary.parse_gin(FLAGS.gin_file or [DEFAULT_GIN_FILE], bindings)
    report = evaluate.evaluate(policy, output_dir)
    binary.write_operative_config(output_dir)
    _print_summary(report, output_dir)
    return 0


def _print_summary(report, output_dir) -> None:
    print(f"Evaluated {report['policy']} on {report['num_episodes']} episodes:")
    columns = {
        "return": "return",
        "electricity_kwh": "electricity kWh",
        "gas_kwh": "gas kWh",
        "cost": "cost $",
        "carbon_kg": "CO2 kg",
        "comfort_violation_degree_hours": "comfort K.h",
    }
    means = {name: result["mean"] for name, result in report["results"].items()}
    shown = [c for c in columns if c in next(iter(means.values()))]
    print("  " + f"{'':10s}" + "".join(f"{columns[c]:>16s}" for c in shown))
    for name, mean in means.items():
        print("  " + f"{name:10s}" + "".join(f"{mean[c]:16.2f}" for c in shown))
    print(f"  metrics: {os.path.join(output_dir, 'metrics.json')}")
    print(f"  plots:   {os.path.join(output_dir, 'plots')}")


def run() -> None:
    """Console entry point."""
    binary.run(main)


if __name__ == "__main__":
    run()
