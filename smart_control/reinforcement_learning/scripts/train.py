r"""Trains a SAC, TD3 or DDPG agent, evaluates it and writes policies.

Everything but the run directory and the starter buffer comes from gin: the
environment, the agent (configs/agents/), run length, intervals, replay
capacity. Running again with the same --root_dir resumes an interrupted run
from its last checkpoint; a finished run (root_dir/DONE) is left alone.

  python -m smart_control.reinforcement_learning.scripts.train \
      --root_dir=runs/pendulum_sac --gin_file=train/pendulum_sac.gin

  python -m smart_control.reinforcement_learning.scripts.train \
      --root_dir=runs/building_sac --gin_file=train/building_sac.gin \
      --starter_buffer=runs/starter_buffer \
      --gin_bindings='train_eval.num_env_steps = 20000'

Writes under --root_dir: train/ (learner checkpoints, summaries), eval/
(summaries, metrics.jsonl), policies/ (SavedModels), replay_buffer/,
operative_config.gin and, when done, DONE. TensorBoard: --logdir=<root_dir>.
"""

from __future__ import annotations

import os
import sys

from absl import flags

from smart_control.reinforcement_learning.utils import binary

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this binary's flags (called from __main__ only)."""
    binary.define_common_flags(
        root_dir_help=(
            "Run directory: checkpoints, summaries, policies and the replay buffer. "
            "Required. Use the same directory again to resume an interrupted run."
        )
    )
    flags.DEFINE_string(
        "starter_buffer",
        None,
        "Replay buffer directory (or one of its checkpoints) to start a fresh run "
        "from, e.g. the output of populate_starter_buffer; loaded into the capacity "
        "gin sets (ReplayBufferManager.capacity) and initial random collection is "
        "skipped. Recorded as the gin binding train_eval.starter_buffer. Ignored "
        "when resuming.",
    )


def main(argv) -> int:
    if len(argv) > 1:
        raise binary.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.gin_file:
        raise binary.UserError(
            "--gin_file is required, e.g. --gin_file=train/pendulum_sac.gin"
        )
    root_dir = binary.make_output_dir(FLAGS.root_dir)
    with binary.quiet_native_logs(root_dir):
        # TensorFlow, Reverb and TF-Agents load here, their C++ logs go to
        # root_dir/logs/native.log.
        from smart_control.reinforcement_learning.training import progress
        from smart_control.reinforcement_learning.training import train_eval as train_lib

    bindings = list(FLAGS.gin_bindings)
    if FLAGS.starter_buffer:
        # The flag is a gin binding, so the operative config records it.
        bindings.append(f"train_eval.starter_buffer = {FLAGS.starter_buffer!r}")
    binary.parse_gin(FLAGS.gin_file, bindings)

    result = train_lib.train_eval(
        root_dir, on_ready=lambda: binary.write_operative_config(root_dir)
    )
    if result.already_done:
        finished = (result.done or {}).get("finished_at", "earlier")
        print(
            f"{root_dir} holds a finished run (DONE, {finished}); nothing to do. "
            "Use a new --root_dir to train again."
        )
        return 0
    binary.write_operative_config(root_dir)
    _print_summary(result, progress.format_duration)
    return 0


def _print_summary(result, format_duration) -> None:
    lines = [
        f"Done: {result.env_steps:,} env steps, {result.train_step:,} train steps, "
        f"{result.episodes:,} episodes in {format_duration(result.wall_time_s)} "
        f"({result.env_steps_per_s:.1f} env steps/s, "
        f"{result.train_steps_per_s:.1f} train steps/s in the loop).",
    ]
    if result.resumed_from is not None:
        lines.append(f"Resumed from env step {result.resumed_from.env_steps:,}.")
    if result.last_eval:
        average_return = result.last_eval["metrics"]["AverageReturn"]
        text = f"Last eval: return {average_return:.1f}"
        if "baseline" in result.last_eval:
            text += f" (baseline {result.last_eval['baseline']['AverageReturn']:.1f})"
        lines.append(text + f" at env step {result.last_eval['env_steps']:,}.")
    lines.append(
        f"Policies: {os.path.join(result.root_dir, 'policies')}  "
        f"Summaries: tensorboard --logdir={result.root_dir}"
    )
    print("\n".join(lines))
    sys.stdout.flush()


if __name__ == "__main__":
    define_flags()
    binary.run(main)
