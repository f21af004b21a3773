"""A standalone Reverb server with the replay buffer manager's table.

    python -m smart_control.reinforcement_learning.scripts.reverb_server \
        --root_dir=RUN/replay_buffer --port=8000

Collectors and trainers (on this machine or others) connect to the printed
address. The table (capacity, sampler, rate limiter) comes from gin, its
signature from the environment bound in gin. On start the newest complete
checkpoint in --root_dir is restored; the server checkpoints every
--checkpoint_interval_s seconds and when stopped (SIGTERM or Ctrl-C), then
exits 0. --root_dir is the buffer directory (checkpoints/, metadata.json,
server.json while running, operative_config.gin, logs/native.log).
"""

from __future__ import annotations

import signal
import threading

from absl import flags

from smart_control.reinforcement_learning.utils import binary

DEFAULT_GIN_FILE = "reverb_server/building.gin"

binary.define_common_flags(
    root_dir_help="Buffer directory: checkpoints are written and restored here."
)
flags.DEFINE_integer("port", 0, "Port to serve on; 0 picks a free one (printed).")
flags.DEFINE_float(
    "checkpoint_interval_s",
    None,
    "Seconds between checkpoints; 0: only on shutdown (gin: serve_replay_buffer.checkpoint_interval_s).",
)
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise binary.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.port < 0 or FLAGS.port > 65535:
        raise binary.UserError(f"--port must be in 0..65535, got {FLAGS.port}")
    buffer_dir = binary.make_output_dir(FLAGS.root_dir)
    bindings = list(FLAGS.gin_bindings)
    if FLAGS.checkpoint_interval_s is not None:
        bindings.append(
            f"serve_replay_buffer.checkpoint_interval_s = {FLAGS.checkpoint_interval_s!r}"
        )
    with binary.quiet_native_logs(buffer_dir):
        from smart_control.reinforcement_learning.replay_buffer import serving

    binary.parse_gin(FLAGS.gin_file or [DEFAULT_GIN_FILE], bindings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def announce(info):
        print(
            f"Reverb server: table {info['table']!r} (capacity {info['capacity']}) at "
            f"{info['address']} (local {info['local_address']}), "
            f"{info['restored_frames']} frames restored. Stop with Ctrl-C or SIGTERM.",
            flush=True,
        )

    stats = serving.serve_replay_buffer(buffer_dir, FLAGS.port, stop, on_ready=announce)
    binary.write_operative_config(buffer_dir)
    print(
        f"Stopped: {stats['frames']} frames, {stats['checkpoints']} checkpoints, "
        f"last {stats['last_checkpoint']}"
    )
    return 0


def run() -> None:
    """Console entry point."""
    binary.run(main)


if __name__ == "__main__":
    run()
