r"""Aggregate insert rate of 1, 2 and 4 collector processes feeding one server.

Group "collect" (baseline: 1 collector process). Issue 7's bench item: the
real binaries of a distributed run, one replay server

    python -m smart_control.reinforcement_learning.scripts.reverb_server \
        --root_dir=<tmp>/replay_buffer --port=P --variable_container_port=V \
        --gin_file=experiments/quickstart.gin --checkpoint_interval_s=0

and 4 collectors (tasks 0-3)

    python -m smart_control.reinforcement_learning.scripts.collect \
        --root_dir=<tmp>/run --task=i --replay_buffer_server_address=localhost:P \
        --gin_file=experiments/quickstart.gin

without a weights address, so they act with the initial (schedule) policy,
as collectors do until the trainer's first weights arrive. Both get 8-unit
SAC networks (the agent is built but its policy never acts) and a 1M-item
table, so nothing is evicted (checked: the table's size equals its inserts
at the end).

How: the server and the 4 collectors start together, once (30-45 s on 2
loaded cores: 5 TensorFlow processes). Once every collector has written its
stats.json (its first 672 env steps), the windows run interleaved 1, 2, 4,
1, 2, 4, ...: for k processes, collectors 0..k-1 run and the others are
frozen (SIGSTOP; SIGCONT resumes them); after 0.5 s the server's completed
inserts (`server_info()[table].rate_limiter_info.insert_stats.completed`)
are read at the start and end of a 4-s window. Start-up and imports are
outside every window, and one start-up for all rows keeps the group at
60-90 s for 3 repetitions. A frozen collector uses no CPU and holds only
idle gRPC streams, so k running processes compete as k started ones would.
`quick`: 1 repetition, 2-s windows.

Rows: "insert: k collector process(es)", items/s summed over the k
collectors (baseline: k = 1); "CPU of the collectors, k process(es)", the
CPU seconds (user + system, all threads) the k collectors used per second
of the window, in cores (baseline: k = 1).

What to expect: a collector is CPU-bound (building simulation, policy,
observer, all Python) at 550-720 items per CPU-second whatever k is, so
the insert rate follows the CPU the collectors get. On an idle 2-core
machine that is at most ~2 cores, shared with the server: 2 processes give
under 2x and 4 no more than 2 do (the ratio was not measured idle here). On a machine shared with other jobs
each process takes one fair share of the CPU, so k processes get up to k
shares and the ratios exceed that (measured at load average 9: 0.5, 1.0,
1.4 cores); the CPU rows show which case a run was.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from bench import common

GROUP = "collect"
COUNTS = (1, 2, 4)
GIN_FILE = "experiments/quickstart.gin"
BINDINGS = (
    "create_sac_agent.actor_fc_layers = (8,)",
    "create_sac_agent.critic_joint_fc_layers = (8,)",
    "ReplayBufferManager.capacity = 1000000",
)
_SCRIPTS = "smart_control.reinforcement_learning.scripts."
_START_TIMEOUT_S = 300.0
WINDOW_S = 4.0  # seconds of one measurement window
SETTLE_S = 0.5  # after changing which collectors run


def name(count: int) -> str:
    return f"insert: {count} collector process" + ("es" if count > 1 else "")


def cpu_name(count: int) -> str:
    return f"  CPU of the collectors, {count} process" + ("es" if count > 1 else "")


def _free_ports(count: int) -> List[int]:
    """Distinct ports free now (the sockets are bound together, then closed)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class _Process:
    """A child in its own process group, output to a log file."""

    def __init__(self, what: str, module: str, args: List[str], log_path: str):
        self.what = what
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=common.REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                start_new_session=True,
            )

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            with open(self.log_path) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(
                f"{self.what} exited with {self.popen.returncode}:\n{tail}"
            )


def _stop_all(processes: List[_Process], timeout_s: float = 60.0) -> None:
    """SIGCONT + SIGTERM to every group at once, then SIGKILL the stragglers."""
    for process in processes:
        process.signal(signal.SIGCONT)
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.signal(signal.SIGKILL)
            process.popen.wait()


def _wait_until(condition, processes: List[_Process], what: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not condition():
        for process in processes:
            process.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {_START_TIMEOUT_S:.0f} s: {what}")
        time.sleep(0.2)


def _inserts(client, table: str) -> tuple:
    """(time, completed inserts), the time taken mid-RPC."""
    before = time.perf_counter()
    info = client.server_info(timeout=30)[table]
    mid = (before + time.perf_counter()) / 2
    return mid, info.rate_limiter_info.insert_stats.completed


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# run_all --quick (the test suite's smoke run) skips this group: even at its
# smallest it starts five TensorFlow processes (about 40 s).
QUICK = False


def run(repetitions: int = 3, quick: bool = False) -> List[dict]:
    import reverb

    from smart_control.reinforcement_learning.utils import json_files

    window_s, settle_s = (2.0, 0.5) if quick else (WINDOW_S, SETTLE_S)
    work = tempfile.mkdtemp(prefix="bench_collect_")
    buffer_dir = os.path.join(work, "replay_buffer")
    run_dir = os.path.join(work, "run")
    port, variable_port = _free_ports(2)
    address = f"localhost:{port}"
    gin_args = [f"--gin_file={GIN_FILE}"] + [f"--gin_bindings={b}" for b in BINDINGS]
    server: Optional[_Process] = None
    collectors: List[_Process] = []
    rates: Dict[int, List[float]] = {k: [] for k in COUNTS}
    cores: Dict[int, List[float]] = {k: [] for k in COUNTS}
    try:
        server = _Process(
            "reverb_server",
            _SCRIPTS + "reverb_server",
            [
                f"--root_dir={buffer_dir}",
                f"--port={port}",
                f"--variable_container_port={variable_port}",
                "--checkpoint_interval_s=0",
                *gin_args,
            ],
            os.path.join(work, "server.log"),
        )
        # The collectors build their environment and agent while the server
        # starts, then wait for it.
        for task in range(max(COUNTS)):
            collectors.append(
                _Process(
                    f"collector {task}",
                    _SCRIPTS + "collect",
                    [
                        f"--root_dir={run_dir}",
                        f"--task={task}",
                        f"--replay_buffer_server_address={address}",
                        *gin_args,
                    ],
                    os.path.join(work, f"collector_{task}.log"),
                )
            )
        processes = [server, *collectors]

        def server_ready() -> bool:
            info = json_files.read_json(os.path.join(buffer_dir, "server.json"))
            return bool(info) and info.get("pid") == server.popen.pid

        _wait_until(server_ready, processes, "server.json of the reverb server")
        stats_paths = [
            os.path.join(run_dir, "collect", f"task_{task}", "stats.json")
            for task in range(len(collectors))
        ]
        _wait_until(
            lambda: all(os.path.exists(p) for p in stats_paths),
            processes,
            "stats.json of every collector (its first 672 env steps)",
        )
        client = reverb.Client(address)
        table = common.TABLE_NAME
        for _, count in common.interleaved(repetitions, list(COUNTS)):
            for task, collector in enumerate(collectors):
                collector.signal(signal.SIGCONT if task < count else signal.SIGSTOP)
            time.sleep(settle_s)
            running = [c.popen.pid for c in collectors[:count]]
            cpu0 = sum(_cpu_s(pid) for pid in running)
            t0, n0 = _inserts(client, table)
            time.sleep(window_s)
            t1, n1 = _inserts(client, table)
            cpu1 = sum(_cpu_s(pid) for pid in running)
            for process in processes:
                process.check_alive()
            rates[count].append((n1 - n0) / (t1 - t0))
            cores[count].append((cpu1 - cpu0) / (t1 - t0))
        _stop_all(collectors)
        info = client.server_info(timeout=30)[table]
        inserts = info.rate_limiter_info.insert_stats.completed
        if info.current_size != inserts:
            raise RuntimeError(
                f"items were evicted: table size {info.current_size}, {inserts} inserts"
            )
        outages = sum(
            (json_files.read_json(p) or {}).get("replay_server_outages", 0)
            for p in stats_paths
        )
        if outages:
            print(
                f"[bench] collect: the collectors saw {outages} replay server "
                "outage(s); their windows may be low",
                file=sys.stderr,
            )
        client.reset(table)  # the server's final checkpoint is then empty
    finally:
        _stop_all(collectors)
        if server is not None:
            _stop_all([server])
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        common.row(GROUP, name(k), "items/s", rates[k], None if k == 1 else name(1))
        for k in COUNTS
    ]
    rows += [
        common.row(
            GROUP,
            cpu_name(k),
            "cores",
            cores[k],
            None if k == 1 else cpu_name(1),
        )
        for k in COUNTS
    ]
    return rows
