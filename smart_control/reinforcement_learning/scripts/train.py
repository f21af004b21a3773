r"""Trains a SAC, TD3 or DDPG agent, evaluates it and writes policies.

Everything but the run directory and the starter buffer comes from gin: the
environment, the agent (configs/agents/), run length and intervals in train
steps (TrainConfig.*), replay capacity. Running again with the same
--root_dir resumes an interrupted run from its last commit; a finished run
(root_dir/DONE) is left alone. Ctrl-C and SIGTERM commit before exiting.

  python -m smart_control.reinforcement_learning.scripts.train \
      --root_dir=runs/pendulum_sac --gin_file=train/pendulum_sac.gin

  python -m smart_control.reinforcement_learning.scripts.train \
      --root_dir=runs/building_sac --gin_file=train/building_sac.gin \
      --starter_buffer=runs/starter_buffer \
      --gin_bindings='TrainConfig.num_train_steps = 20000'

With --replay_buffer_server_address the trainer learns from a running Reverb
server (reverb_server.py) that collectors (collect.py) fill, and pushes its
policy weights to --variable_container_server_address; it runs in gin scope
`distributed` (topology/distributed.gin, train_from_server.*):

  python -m smart_control.reinforcement_learning.scripts.train \
      --root_dir=runs/dist/train --gin_file=experiments/quickstart.gin \
      --replay_buffer_server_address=HOST:8000 \
      --variable_container_server_address=HOST:8001

Writes under --root_dir: train/ (learner checkpoints, summaries), eval/
(summaries, metrics.jsonl), policies/ (SavedModels), replay_buffer/,
operative_config.gin, logs/ (train.log: Python logs, native.log: C++ logs)
and, when done, DONE. TensorBoard: --logdir=<root_dir>.
"""

from __future__ import annotations

import io
import logging as std_logging
import os
import sys

from absl import flags, logging

from smart_control.reinforcement_learning.scripts import gin_checks
from smart_control.reinforcement_learning.training import run_dir
from smart_control.reinforcement_learning.utils import (
    binary,
    gin_configs,
    gin_preview,
    native_logs,
    network_isolation,
    validation,
)

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this binary's flags (called by `run`, never on import)."""
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
    flags.DEFINE_string(
        "replay_buffer_server_address",
        None,
        "host:port of a Reverb replay server to learn from (distributed mode); "
        "the buffer is then the server's, not root_dir/replay_buffer.",
    )
    flags.DEFINE_string(
        "variable_container_server_address",
        None,
        "host:port of the policy weights table to push weights to "
        "(distributed mode; reverb_server prints it).",
    )


def main(argv) -> int:
    binary.check_no_arguments(argv)
    if not FLAGS.root_dir:
        raise binary.UserError("--root_dir is required")
    binary.require_gin_file("train/pendulum_sac.gin")
    distributed = FLAGS.replay_buffer_server_address is not None
    binary.check_address_flag("replay_buffer_server_address", required=False)
    binary.check_address_flag("variable_container_server_address", required=False)
    if FLAGS.variable_container_server_address and not distributed:
        raise binary.UserError(
            "--variable_container_server_address needs --replay_buffer_server_address"
        )
    if distributed and binary.network_status().state == network_isolation.ISOLATED:
        raise binary.UserError(
            "--network=private: this process has a network namespace of its own "
            "and cannot reach --replay_buffer_server_address; drop --network"
        )
    if distributed and FLAGS.starter_buffer:
        raise binary.UserError(
            "--starter_buffer is the server's in distributed mode "
            "(reverb_server --starter_buffer)"
        )
    root_dir = binary.check_output_dir(FLAGS.root_dir)
    _check_before_loading(root_dir)
    # Nothing is written into root_dir before the run is known to be
    # possible: C++ and Python logs wait in a temporary file / in memory.
    with native_logs.quiet_native_logs(None):
        import gin

        from smart_control.reinforcement_learning.distributed import (
            topology,
            trainer,
        )
        from smart_control.reinforcement_learning.training import progress
        from smart_control.reinforcement_learning.training import (
            train_eval as train_lib,
        )
    python_logs = _PythonLogs()

    if FLAGS.starter_buffer:
        # The flag is a gin setting, so the operative config records it.
        FLAGS.starter_buffer = os.path.abspath(FLAGS.starter_buffer)
    gin_configs.parse_gin(
        FLAGS.gin_file,
        FLAGS.gin_bindings
        + binary.flag_bindings({"starter_buffer": "train_eval.starter_buffer"}),
    )

    def on_ready() -> None:
        native_logs.attach_native_log(root_dir)
        python_logs.attach(root_dir)
        gin_configs.write_operative_config(root_dir)

    if distributed:
        with gin.config_scope(topology.SCOPE):
            result = trainer.train_from_server(
                root_dir,
                FLAGS.replay_buffer_server_address,
                FLAGS.variable_container_server_address,
                on_ready=on_ready,
            )
    else:
        result = train_lib.train_eval(root_dir, on_ready=on_ready)
    if result.already_done:
        finished = (result.done or {}).get("finished_at", "earlier")
        print(
            f"{root_dir} holds a finished run (DONE, {finished}); nothing to do. "
            "Use a new --root_dir to train again."
        )
        return 0
    gin_configs.write_operative_config(root_dir)
    if distributed:
        _print_distributed_summary(result, progress.format_duration)
    else:
        _print_summary(result, progress.format_duration)
    return 0


def _check_before_loading(root_dir: str) -> None:
    """What can be refused before TensorFlow loads (the libraries check again)."""
    if FLAGS.starter_buffer:
        starter = os.path.abspath(os.path.expanduser(FLAGS.starter_buffer))
        if not os.path.exists(starter):
            raise binary.UserError(f"starter buffer not found: {starter}")
        if not os.path.isdir(starter):
            raise binary.UserError(
                f"starter buffer {starter} is a file, not a buffer directory"
            )
    preview = gin_configs.check_gin(FLAGS.gin_file, FLAGS.gin_bindings)
    capacity = preview.value("ReplayBufferManager.capacity", "", None)
    if capacity is not None and capacity is not gin_preview.NOT_LITERAL:
        validation.check_int("capacity", capacity, 1, validation.MAX_INT64)
    # A damaged run directory is refused before anything is written into it.
    run_dir.committed(root_dir)


class _TerminalWarnings(std_logging.Handler):
    """Shows this pipeline's warnings and errors; the rest stays in the log."""

    _OURS = os.sep + os.path.join("smart_control", "")

    def __init__(self, stream):
        super().__init__(std_logging.WARNING)
        self._stream = stream

    def emit(self, record: std_logging.LogRecord) -> None:
        # TensorFlow's and gin's warnings and errors (SavedModel tracing,
        # deprecations, gin's package lookups of includes) concern their
        # internals; errors that matter reach the user as exceptions.
        if self._OURS not in record.pathname:
            return
        self._stream.write(f"{record.levelname.lower()}: {record.getMessage()}\n")
        self._stream.flush()


class _PythonLogs:
    """Python logging into root_dir/logs/train.log; the terminal keeps progress.

    TensorFlow and TF-Agents log dozens of INFO lines and Python warnings when
    they save policies; on the terminal they would bury the progress line.
    Until `attach`, records are kept in memory (nothing may be written into
    root_dir before the run is known to be possible). With --verbosity >= 1
    everything stays on the terminal.
    """

    def __init__(self):
        self._enabled = FLAGS.verbosity < 1
        if not self._enabled:
            return
        self._pending = io.StringIO()
        logging.get_absl_handler().python_handler.stream = self._pending
        std_logging.captureWarnings(True)
        std_logging.getLogger().addHandler(_TerminalWarnings(sys.stderr))

    def attach(self, root_dir: str) -> None:
        if not self._enabled:
            return
        log_path = os.path.join(root_dir, "logs", "train.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        log_file = open(log_path, "a", buffering=1)
        log_file.write(self._pending.getvalue())
        logging.get_absl_handler().python_handler.stream = log_file


def _print_summary(result, format_duration) -> None:
    lines = [
        f"Done: {result.env_steps:,} env steps, {result.train_step:,} train steps, "
        f"{result.episodes:,} episodes in {format_duration(result.wall_time_s)} "
        f"({result.env_steps_per_s:.1f} env steps/s, "
        f"{result.train_steps_per_s:.1f} train steps/s in the loop).",
    ]
    if result.resumed_from is not None:
        lines.append(
            f"Resumed from train step {result.resumed_from.train_step:,} "
            f"(env step {result.resumed_from.env_steps:,})."
        )
    _print_with_eval_and_paths(lines, result)


def _print_distributed_summary(result, format_duration) -> None:
    lines = [
        f"Done: {result.train_step:,} train steps in "
        f"{format_duration(result.wall_time_s)} ({result.train_steps_per_s:.1f} "
        f"train steps/s); {result.items_inserted:,} items inserted by the "
        f"collectors meanwhile, {result.replay_buffer_frames:,} in the buffer; "
        f"{result.weight_pushes:,} weight pushes ({result.failed_weight_pushes} "
        f"failed); {result.replay_server_outages} replay server outages survived.",
    ]
    if result.resumed_from_train_step:
        lines.append(f"Resumed from train step {result.resumed_from_train_step:,}.")
    _print_with_eval_and_paths(lines, result)


def _print_with_eval_and_paths(lines, result) -> None:
    """Prints `lines`, the last evaluation and where policies and summaries are."""
    if result.last_eval:
        text = f"Last eval: return {result.last_eval['metrics']['return']:.1f}"
        if "baseline" in result.last_eval:
            text += f" (baseline {result.last_eval['baseline']['return']:.1f})"
        lines.append(text + f" at train step {result.last_eval['train_step']:,}.")
    lines.append(
        f"Policies: {os.path.join(result.root_dir, 'policies')}  "
        f"Summaries: tensorboard --logdir={result.root_dir}"
    )
    print("\n".join(lines))
    sys.stdout.flush()


def _network_default() -> str:
    """private; shared with --replay_buffer_server_address (no server of its own
    then, and the given one must be reachable)."""
    return binary.SHARED if FLAGS.replay_buffer_server_address else binary.PRIVATE


def run() -> None:
    """Console entry point (smart-control-train)."""
    define_flags()
    binary.run(main, network=_network_default, gin_checks=gin_checks.GIN_CHECKS)


if __name__ == "__main__":
    run()
