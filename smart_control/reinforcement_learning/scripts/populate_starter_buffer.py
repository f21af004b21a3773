r"""Fills a starter replay buffer with the populate policy's experience.

From smart_control/reinforcement_learning/ (as in the guide):

    python scripts/populate_starter_buffer.py --buffer-name my-starter-buffer \
        --capacity 50000 --steps-per-run 672 --num-runs 10

or from anywhere:

    python -m smart_control.reinforcement_learning.scripts.populate_starter_buffer ...
    smart-control-populate ...

The buffer is written to `<buffer_root>/<buffer_name>` (or `--root_dir`): the
manager's checkpoints and metadata, `populate.json`, `operative_config.gin`
and `logs/native.log`. Flags that name a gin setting (--capacity,
--sequence_length, --steps_per_run, --num_runs, --seed) become gin bindings
after the gin files, so the operative config records what ran. The stage
runs in gin scope `populate` (`populate/ReplayBufferManager.capacity` is the
starter buffer's capacity).
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional

from absl import flags

from smart_control.reinforcement_learning.populate import state
from smart_control.reinforcement_learning.replay_buffer import checkpoint_store
from smart_control.reinforcement_learning.scripts import gin_checks
from smart_control.reinforcement_learning.utils import (
    binary,
    gin_configs,
    gin_preview,
    native_logs,
    validation,
)

DEFAULT_GIN_FILE = "populate/starter_buffer.gin"
FLAGS = flags.FLAGS

# Flags that name a gin setting. The populate stage runs in gin scope
# `populate`: the capacity is the starter buffer's own; the sequence length
# is shared with the training buffer that will load it.
_FLAG_TO_GIN = {
    "capacity": "populate/ReplayBufferManager.capacity",
    "sequence_length": "ReplayBufferManager.sequence_length",
    "steps_per_run": "populate_starter_buffer.steps_per_run",
    "num_runs": "populate_starter_buffer.num_runs",
    "seed": "populate_starter_buffer.seed",
}
SCOPE = "populate"
_GIN_FUNCTION = "populate_starter_buffer"


def define_flags() -> None:
    binary.define_common_flags(
        root_dir_help="Buffer directory to write; default <buffer_root>/<buffer_name>."
    )
    flags.DEFINE_string(
        "buffer_name", None, "Name of the starter buffer (a directory name)."
    )
    flags.DEFINE_string(
        "buffer_root", "starter_buffers", "Directory that holds starter buffers."
    )
    flags.DEFINE_integer(
        "capacity", None, f"Buffer capacity in items (gin: {_FLAG_TO_GIN['capacity']})."
    )
    flags.DEFINE_integer(
        "sequence_length",
        None,
        f"Steps per item (gin: {_FLAG_TO_GIN['sequence_length']}).",
    )
    flags.DEFINE_integer(
        "steps_per_run",
        None,
        "Environment steps per run; 672 = one week of 15-minute steps "
        f"(gin: {_FLAG_TO_GIN['steps_per_run']}).",
    )
    flags.DEFINE_integer(
        "num_runs",
        None,
        f"Runs (episodes from a fresh reset) to collect (gin: {_FLAG_TO_GIN['num_runs']}).",
    )
    flags.DEFINE_integer(
        "seed",
        None,
        "Base seed; run i uses a seed derived from (seed, i) "
        f"(gin: {_FLAG_TO_GIN['seed']}).",
    )
    flags.DEFINE_boolean(
        "resume", False, "Continue an interrupted populate of this buffer."
    )
    flags.DEFINE_boolean("overwrite", False, "Replace an existing buffer of this name.")
    flags.DEFINE_boolean("progress", True, "Show a progress bar.")


def _buffer_dir() -> str:
    if FLAGS.root_dir:
        return binary.check_output_dir(FLAGS.root_dir)
    if not FLAGS.buffer_name:
        raise binary.UserError("give --buffer_name (or --root_dir)")
    if os.sep in FLAGS.buffer_name or FLAGS.buffer_name in (".", ".."):
        raise binary.UserError(
            f"--buffer_name must be a plain name, got {FLAGS.buffer_name!r}"
        )
    root = binary.check_output_dir(FLAGS.buffer_root, "buffer_root")
    return binary.check_output_dir(os.path.join(root, FLAGS.buffer_name), "buffer_name")


def _check_before_loading(buffer_dir: str, bindings: List[str]) -> None:
    """Every check that needs no TensorFlow (the library repeats them).

    Settings the config binds to literals are checked here; one bound to a
    reference, or left to its default, is the library's to check.
    """
    preview = gin_configs.check_gin(FLAGS.gin_file or [DEFAULT_GIN_FILE], bindings)

    def bound(name: str, minimum: int, maximum: Optional[int] = None) -> Any:
        value = preview.value(name, SCOPE, None)
        if value is gin_preview.NOT_LITERAL or value is None:
            return None
        short = name.rpartition(".")[2]
        return validation.check_int(short, value, minimum, maximum)

    steps = bound(f"{_GIN_FUNCTION}.steps_per_run", 1)
    bound(f"{_GIN_FUNCTION}.num_runs", 1)
    seed = bound(f"{_GIN_FUNCTION}.seed", 0)
    bound("ReplayBufferManager.capacity", 1, validation.MAX_INT64)
    sequence_length = bound("ReplayBufferManager.sequence_length", 1)
    if None not in (steps, sequence_length):
        state.check_sequence_length(sequence_length, steps)
    config = (
        {"steps_per_run": steps, "seed": seed} if None not in (steps, seed) else None
    )
    state.check_before_writing(buffer_dir, FLAGS.resume, FLAGS.overwrite, config)
    if FLAGS.resume or FLAGS.overwrite:
        try:
            checkpoint_store.CheckpointStore(buffer_dir).check_not_locked()
        except OSError as e:
            raise state.BufferInUseError(f"{e}; not touching it") from None


def main(argv):
    binary.check_no_arguments(argv)
    buffer_dir = _buffer_dir()
    gin_files = FLAGS.gin_file or [DEFAULT_GIN_FILE]
    gin_files = [gin_configs.resolve_gin_file(f) for f in gin_files]
    bindings = FLAGS.gin_bindings + binary.flag_bindings(_FLAG_TO_GIN)
    _check_before_loading(buffer_dir, bindings)

    with native_logs.quiet_native_logs(None):
        import gin

        from smart_control.reinforcement_learning.populate import starter_buffer

    gin_configs.parse_gin(gin_files, bindings)
    with gin.config_scope(SCOPE):
        summary = starter_buffer.populate_starter_buffer(
            buffer_dir,
            resume=FLAGS.resume,
            overwrite=FLAGS.overwrite,
            show_progress=FLAGS.progress and sys.stderr.isatty(),
            # Only once every check passed (and --overwrite removed the old
            # buffer) may anything be written into the buffer directory.
            on_buffer_dir_ready=native_logs.attach_native_log,
        )
    gin_configs.write_operative_config(buffer_dir)
    _print_summary(summary)
    return 0


def _print_summary(summary) -> None:
    rewards = ", ".join(f"{run['mean_reward']:.3f}" for run in summary.runs)
    print(
        f"Starter buffer: {summary.frames} frames, {summary.episodes} episodes, "
        f"{len(summary.runs)} runs ({summary.runs_this_call} this call) in "
        f"{summary.wall_time_s:.1f} s"
    )
    print(f"  mean reward per step, by run: {rewards}")
    print(f"  content hash: {summary.content_hash}")
    print(f"  written to:   {summary.buffer_dir}")


def run() -> None:
    """Console entry point (smart-control-populate)."""
    define_flags()
    binary.run(main, network=binary.PRIVATE, gin_checks=gin_checks.GIN_CHECKS)


if __name__ == "__main__":
    run()
