r"""A collector of a distributed run: acts in its own building, feeds Reverb.

    python -m smart_control.reinforcement_learning.scripts.collect \
        --root_dir=runs/dist/train --task=0 \
        --replay_buffer_server_address=HOST:8000 \
        --variable_container_server_address=HOST:8001 \
        --gin_file=experiments/quickstart.gin

Runs the agent's collect policy (weights pulled from the trainer through
the weights table; the populate policy until the first weights arrive) in an
environment seeded by --task, and writes trajectories to the replay server.
It runs in gin scope `distributed` (topology/distributed.gin) until
SIGTERM/Ctrl-C (then flushes and exits 0) or until collect.max_env_steps. A lost server is waited for with backoff; a restarted
one is written to again. Writes under <root_dir>/collect/task_<task>/:
summaries, stats.json, operative_config.gin, logs/native.log.
"""

from __future__ import annotations

import signal
import sys
import threading

from absl import flags

from smart_control.reinforcement_learning.scripts import gin_checks
from smart_control.reinforcement_learning.utils import binary, gin_configs, native_logs

FLAGS = flags.FLAGS


def define_flags() -> None:
    binary.define_common_flags(
        root_dir_help=(
            "Run directory (the trainer's); this collector writes under "
            "collect/task_<task>/. Required."
        )
    )
    flags.DEFINE_integer("task", 0, "Collector index: its seeds and summary directory.")
    flags.DEFINE_string(
        "replay_buffer_server_address",
        None,
        "host:port of the replay server. Required.",
    )
    flags.DEFINE_string(
        "variable_container_server_address",
        None,
        "host:port of the policy weights table (reverb_server prints it); without "
        "it the collector acts with its initial policy only.",
    )
    flags.DEFINE_integer(
        "max_env_steps",
        None,
        "Stop after this many env steps of this task; 0: until stopped "
        "(gin: collect.max_env_steps).",
    )


def main(argv) -> int:
    binary.check_no_arguments(argv)
    binary.require_gin_file("experiments/quickstart.gin")
    if FLAGS.task < 0:
        raise binary.UserError(f"--task must be >= 0, got {FLAGS.task}")
    if not FLAGS.replay_buffer_server_address:
        raise binary.UserError("--replay_buffer_server_address is required (host:port)")
    binary.check_address_flag("replay_buffer_server_address", required=True)
    binary.check_address_flag("variable_container_server_address", required=False)
    binary.check_flag_int("max_env_steps", 0)
    # Created when the collector is connected and starts writing.
    root_dir = binary.check_output_dir(FLAGS.root_dir)
    with native_logs.quiet_native_logs(None):
        import gin

        from smart_control.reinforcement_learning.distributed import (
            collector,
            topology,
        )

    gin_configs.parse_gin(
        FLAGS.gin_file,
        FLAGS.gin_bindings
        + binary.flag_bindings({"max_env_steps": "collect.max_env_steps"}),
    )
    out_dir = collector.task_dir(root_dir, FLAGS.task)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def on_ready() -> None:
        native_logs.attach_native_log(out_dir)
        gin_configs.write_operative_config(out_dir)
        print(
            f"Collector {FLAGS.task}: writing to {FLAGS.replay_buffer_server_address}"
            + (
                f", weights from {FLAGS.variable_container_server_address}"
                if FLAGS.variable_container_server_address
                else ""
            ),
            flush=True,
        )

    with gin.config_scope(topology.SCOPE):
        stats = collector.collect(
            root_dir,
            FLAGS.replay_buffer_server_address,
            FLAGS.variable_container_server_address,
            task=FLAGS.task,
            stop=stop,
            on_ready=on_ready,
        )
    gin_configs.write_operative_config(out_dir)
    version = (
        "initial policy only"
        if stats.policy_version is None
        else f"weights of train step {stats.policy_version:,}"
    )
    print(
        f"Collector {stats.task} stopped: {stats.env_steps:,} env steps, "
        f"{stats.episodes:,} episodes, {stats.items_written:,} items written, "
        f"{stats.weight_updates:,} weight updates ({version}), "
        f"{stats.replay_server_outages} replay server outages survived, "
        f"{stats.starts} start(s)."
    )
    sys.stdout.flush()
    return 0


def run() -> None:
    """Console entry point (smart-control-collect)."""
    define_flags()
    binary.run(main, gin_checks=gin_checks.GIN_CHECKS)


if __name__ == "__main__":
    run()
