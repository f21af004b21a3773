"""A configurable child process for supervisor_test.py.

Each incarnation appends its pid to <dir>/<name>.started once its SIGTERM
handler is installed, then does what its flags say. On SIGTERM (unless
--ignore_term) it writes <dir>/<name>.terminated, a JSON object with its pid
and which of the pids listed in the other processes' .started files were
still alive, and exits 0.
"""

import argparse
import json
import os
import signal
import sys
import time


def _alive(pid):
    """Whether a process runs (a zombie nobody reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _other_pids(directory, name):
    pids = []
    for entry in os.listdir(directory):
        if entry.endswith(".started") and entry != f"{name}.started":
            with open(os.path.join(directory, entry)) as f:
                pids += [int(line) for line in f.read().split()]
    return pids


def _write_json(path, content):
    with open(path + ".tmp", "w") as f:
        json.dump(content, f)
    os.replace(path + ".tmp", path)


def _wait_for(paths):
    while not all(os.path.exists(path) for path in paths):
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--print_lines", action="store_true")
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--ignore_term", action="store_true")
    parser.add_argument("--term_delay_s", type=float, default=0.0)
    parser.add_argument("--ready_json", help="write {'pid': pid} here")
    parser.add_argument("--ready_delay_s", type=float, default=0.0)
    parser.add_argument("--read_json", help="record this file's content at start")
    parser.add_argument("--wait_for", default="", help="comma-separated files")
    parser.add_argument("--exit_code", type=int, help="exit with it, else sleep")
    args = parser.parse_args()
    pid = os.getpid()

    def on_term(signum, frame):
        time.sleep(args.term_delay_s)  # still alive while the others stop
        others = _other_pids(args.dir, args.name)
        _write_json(
            os.path.join(args.dir, f"{args.name}.terminated"),
            {"pid": pid, "others_alive": [p for p in others if _alive(p)]},
        )
        os._exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if args.ignore_term else on_term)
    if args.read_json:
        try:
            with open(args.read_json) as f:
                seen = json.load(f)
        except FileNotFoundError:
            seen = None
        _write_json(os.path.join(args.dir, f"{args.name}.seen"), {"seen": seen})
    with open(os.path.join(args.dir, f"{args.name}.started"), "a") as f:
        f.write(f"{pid}\n")
    if args.print_lines:
        print(f"hello from {args.name}")
        print("I0101 00:00:00.000000 1 child.py:1] an absl INFO detail")
        print("W0101 00:00:00.000000 1 child.py:2] an absl WARNING")
        print(f"to stderr from {args.name}", file=sys.stderr)
        sys.stdout.write("a last line without newline")
        sys.stdout.flush()
    for _ in range(args.burst):
        # One write per line, so only the supervisor could split or mix them.
        os.write(1, (args.name * 200 + "\n").encode())
    if args.ready_json:
        time.sleep(args.ready_delay_s)
        _write_json(args.ready_json, {"pid": pid})
    if args.wait_for:
        _wait_for(args.wait_for.split(","))
    if args.exit_code is not None:
        sys.exit(args.exit_code)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
