"""A standalone Reverb server with the replay buffer manager's table.

    python -m smart_control.reinforcement_learning.scripts.reverb_server \
        --root_dir=RUN/replay_buffer --port=8000

Collectors and trainers (on this machine or others) connect to the printed
address. The table (capacity, sampler, rate limiter) comes from gin, its
signature from the environment bound in gin. On start the newest complete
checkpoint in --root_dir is restored (or, if there is none, --starter_buffer);
the server checkpoints every --checkpoint_interval_s seconds and when stopped
(SIGTERM or Ctrl-C), then exits 0. --root_dir is the buffer directory
(checkpoints/, metadata.json, server.json while running, operative_config.gin,
logs/native.log).

The server listens on all IPv4 and IPv6 addresses of the machine and Reverb
has no authentication (it says so when it starts; README: Security). Started
by a launcher that isolated itself (run_experiment --mode=distributed), it is
reachable only by that run's processes. An explicit port already in use is
refused.

For distributed runs (collect.py + train.py), --variable_container_port also
serves the experiment's agent's policy weights table there (TrainConfig's
agent, as the trainer and collectors build it). The server runs in gin scope
`distributed` (topology/distributed.gin):

    python -m smart_control.reinforcement_learning.scripts.reverb_server \
        --root_dir=RUN/train/replay_buffer --port=8000 \
        --variable_container_port=8001 --gin_file=experiments/quickstart.gin
"""

from __future__ import annotations

import os
import signal
import threading

from absl import flags

from smart_control.reinforcement_learning.replay_buffer import checkpoint_store
from smart_control.reinforcement_learning.scripts import gin_checks
from smart_control.reinforcement_learning.utils import (
    binary,
    gin_configs,
    native_logs,
    network_isolation,
    validation,
)

DEFAULT_GIN_FILE = "reverb_server/building.gin"
FLAGS = flags.FLAGS


def define_flags() -> None:
    binary.define_common_flags(
        root_dir_help="Buffer directory: checkpoints are written and restored here."
    )
    flags.DEFINE_integer("port", 0, "Port to serve on; 0 picks a free one (printed).")
    flags.DEFINE_integer(
        "variable_container_port",
        None,
        "Also serve the agent's policy weights table on this port (0 picks a free "
        "one); without it, no weights table.",
    )
    flags.DEFINE_string(
        "starter_buffer",
        None,
        "Buffer directory loaded when --root_dir holds no checkpoint yet.",
    )
    flags.DEFINE_float(
        "checkpoint_interval_s",
        None,
        "Seconds between checkpoints; 0: only on shutdown "
        "(gin: serve_replay_buffer.checkpoint_interval_s).",
    )


def main(argv):
    binary.check_no_arguments(argv)
    for name in ("port", "variable_container_port"):
        value = getattr(FLAGS, name)
        if value is not None and (value < 0 or value > 65535):
            raise binary.UserError(f"--{name} must be in 0..65535, got {value}")
    if FLAGS.port and FLAGS.port == FLAGS.variable_container_port:
        raise binary.UserError(
            f"--port and --variable_container_port are both {FLAGS.port}; "
            "give two different ports"
        )
    for name in ("port", "variable_container_port"):
        network_isolation.check_port_free(getattr(FLAGS, name), f"--{name}")
    if FLAGS.starter_buffer and not os.path.exists(FLAGS.starter_buffer):
        raise binary.UserError(
            f"--starter_buffer: no such directory {FLAGS.starter_buffer}"
        )
    if FLAGS.starter_buffer and not os.path.isdir(FLAGS.starter_buffer):
        raise binary.UserError(
            f"--starter_buffer {os.path.abspath(FLAGS.starter_buffer)} is a file, "
            "not a buffer directory"
        )
    if FLAGS.checkpoint_interval_s is not None:
        validation.check_number(
            "--checkpoint_interval_s", FLAGS.checkpoint_interval_s, 0
        )
    buffer_dir = binary.check_output_dir(FLAGS.root_dir)
    checkpoint_store.CheckpointStore(buffer_dir).check_not_locked()
    gin_files = FLAGS.gin_file or [DEFAULT_GIN_FILE]
    bindings = FLAGS.gin_bindings + binary.flag_bindings(
        {"checkpoint_interval_s": "serve_replay_buffer.checkpoint_interval_s"}
    )
    gin_configs.check_gin(gin_files, bindings)
    # The buffer directory is created when the server takes it.
    with native_logs.quiet_native_logs(None):
        import gin

        from smart_control.reinforcement_learning.distributed import server, topology

    gin_configs.parse_gin(gin_files, bindings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def announce(info):
        native_logs.attach_native_log(buffer_dir)
        print(
            f"Reverb server: table {info['table']!r} (capacity {info['capacity']}) at "
            f"{info['address']} (local {info['local_address']}), "
            f"{info['restored_frames']} frames restored"
            + (f" from the {info['restored_from']}" if info["restored_from"] else "")
            + ". Stop with Ctrl-C or SIGTERM.",
            flush=True,
        )
        if "variable_address" in info:
            print(
                f"Policy weights table at {info['variable_address']} "
                f"(local {info['variable_local_address']}).",
                flush=True,
            )
        ports = [int(info["address"].rsplit(":", 1)[1])]
        if "variable_address" in info:
            ports.append(int(info["variable_address"].rsplit(":", 1)[1]))
        print(
            network_isolation.listening_notice(ports, binary.network_status()),
            flush=True,
        )

    with gin.config_scope(topology.SCOPE):
        stats = server.serve_replay_buffer(
            buffer_dir,
            FLAGS.port,
            stop,
            serve_weights=FLAGS.variable_container_port is not None,
            variable_port=FLAGS.variable_container_port or 0,
            starter_buffer=(
                os.path.abspath(FLAGS.starter_buffer) if FLAGS.starter_buffer else None
            ),
            on_ready=announce,
        )
    gin_configs.write_operative_config(buffer_dir)
    print(
        f"Stopped: {stats['frames']} frames, {stats['checkpoints']} checkpoints, "
        f"last {stats['last_checkpoint']}"
    )
    return 0


def run() -> None:
    """Console entry point (smart-control-reverb-server)."""
    define_flags()
    binary.run(main, network=binary.SHARED, gin_checks=gin_checks.GIN_CHECKS)


if __name__ == "__main__":
    run()
