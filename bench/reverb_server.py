"""A Reverb server with the benchmark table, for "server in another process" rows.

    python -m bench.reverb_server --capacity=50000 [--checkpoint_dir=DIR]

Prints `port N` once serving, then serves until stdin is closed.
"""

from __future__ import annotations

import argparse
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, required=True)
    parser.add_argument("--checkpoint_dir", default=None)
    args = parser.parse_args()

    import reverb

    from bench import common

    checkpointer = None
    if args.checkpoint_dir:
        checkpointer = reverb.checkpointers.DefaultCheckpointer(args.checkpoint_dir)
    server = reverb.Server(
        [common.build_table(args.capacity)], port=None, checkpointer=checkpointer
    )
    print(f"port {server.port}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


if __name__ == "__main__":
    main()
