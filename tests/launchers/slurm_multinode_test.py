"""A real multi-node Slurm on one machine, and launchers/slurm_job.py on it.

The cluster (slurm_cluster.py, fixture `slurm_multinode`) has three nodes,
each in its own network namespace on a private bridge. The runs use stand-in
role programs written below, not TensorFlow:

  * server: listens on {replay_port}, acknowledges each record it receives
    and keeps it; on SIGTERM writes every record to its checkpoint (and a
    copy per job run) and exits 0; starts from its checkpoint;
  * collector: connects to {server_host}:{replay_port}, says hello (so the
    server records its node and address), then sends numbered records,
    each written to its own "sent" file once acknowledged; resumes the
    numbering from that file;
  * trainer: counts steps (resuming from its checkpoint, which it writes on
    SIGTERM) and asks the server how many records it holds; exits 0 once it
    has done its steps and the server holds enough records.

So "the server's final checkpoint holds every record a collector sent" is
exact: a record is in a sent file only after the server acknowledged it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from launchers import slurm_job

pytestmark = pytest.mark.slurm

_SERVER = """
import json, os, signal, socket, sys, threading
port, state_dir = int(sys.argv[1]), sys.argv[2]
path = os.path.join(state_dir, "server_checkpoint.json")
state = {"records": [], "hellos": []}
if os.path.exists(path):
    with open(path) as f:
        state = json.load(f)
lock = threading.Lock()

def handle(conn, addr):
    with conn, conn.makefile("rwb") as f:
        for raw in f:
            line = raw.decode().strip()
            with lock:
                if line == "COUNT":
                    reply = str(len(state["records"]))
                elif line.startswith("HELLO "):
                    state["hellos"].append([addr[0], *line.split()[1:]])
                    reply = "ok"
                else:
                    state["records"].append(line)
                    reply = "ok"
            f.write(reply.encode() + b"\\n")
            f.flush()

def checkpoint(signum, frame):
    lock.acquire()
    run = os.environ.get("SLURM_RESTART_COUNT", "0")
    for name in ("server_checkpoint.json", f"server_checkpoint.run{run}.json"):
        with open(os.path.join(state_dir, name) + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(os.path.join(state_dir, name) + ".tmp", os.path.join(state_dir, name))
    print(f"checkpoint: {len(state['records'])} records", flush=True)
    os._exit(0)

signal.signal(signal.SIGTERM, checkpoint)
server = socket.create_server(("", port))
print(f"listening on {socket.gethostname()}:{port}, {len(state['records'])} records",
      flush=True)
while True:
    conn, addr = server.accept()
    threading.Thread(target=handle, args=(conn, addr), daemon=True).start()
"""

_COLLECTOR = """
import os, signal, socket, sys, time
host, port, task, state_dir, tag = sys.argv[1:6]
sent_path = os.path.join(state_dir, f"collector-{task}.sent")
seq = sum(1 for _ in open(sent_path)) if os.path.exists(sent_path) else 0
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with open(os.path.join(state_dir, f"collector-{task}.started"), "a") as f:
    f.write(f"{os.environ['SLURM_STEP_ID']} {socket.gethostname()}\\n")
print(f"collector {task} on {socket.gethostname()} to {host}:{port} from {seq}",
      flush=True)
while True:
    try:
        with socket.create_connection((host, int(port)), timeout=5) as conn, \\
                conn.makefile("rwb") as f, open(sent_path, "a") as sent:
            f.write(f"HELLO collector-{task} {socket.gethostname()}\\n".encode())
            f.flush()
            f.readline()
            while True:
                record = f"{tag}:{task}:{seq}"
                f.write(record.encode() + b"\\n")
                f.flush()
                if f.readline().strip() != b"ok":
                    raise OSError("no acknowledgement")
                sent.write(record + "\\n")
                sent.flush()
                seq += 1
                time.sleep(0.05)
    except OSError as error:
        print(f"reconnecting: {error}", flush=True)
        time.sleep(0.2)
"""

_TRAINER = """
import json, os, signal, socket, sys, time
host, port, state_dir, steps, min_records = sys.argv[1:6]
steps, min_records = int(steps), int(min_records)
path = os.path.join(state_dir, "trainer_checkpoint.json")
state = {"step": 0, "runs": []}
if os.path.exists(path):
    with open(path) as f:
        state = json.load(f)
state["runs"].append(os.environ.get("SLURM_RESTART_COUNT", "0"))

def save():
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)

def checkpoint(*_):
    save()
    print(f"checkpoint at step {state['step']}", flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, checkpoint)
print(f"trainer on {socket.gethostname()} from step {state['step']}", flush=True)
count = 0
while state["step"] < steps or count < min_records:
    time.sleep(0.1)
    state["step"] = min(state["step"] + 1, steps)
    try:
        with socket.create_connection((host, int(port)), timeout=5) as conn, \\
                conn.makefile("rwb") as f:
            f.write(b"COUNT\\n")
            f.flush()
            count = int(f.readline())
    except (OSError, ValueError):
        pass
signal.signal(signal.SIGTERM, signal.SIG_IGN)
save()
print(f"trainer done at step {state['step']}, server holds {count}", flush=True)
"""

# The whole job, from submission to the end of the last step.
_JOB_TIMEOUT_S = 120
_FAST = slurm_job.RestartPolicy(backoff_s=0.5, stop_timeout_s=20.0)


def _write_programs(directory) -> dict:
    paths = {}
    for name, code in (
        ("server", _SERVER),
        ("collector", _COLLECTOR),
        ("trainer", _TRAINER),
    ):
        paths[name] = str(directory / f"{name}.py")
        with open(paths[name], "w") as f:
            f.write(code)
    return paths


class _Run:
    """One stand-in run: its directory, roles and what its programs wrote."""

    def __init__(
        self,
        directory,
        tag: str,
        collectors: int = 2,
        trainer_steps: int = 30,
        min_records: int = 20,
        collector_policy: slurm_job.RestartPolicy = _FAST,
    ):
        self.tag = tag
        self.run_dir = str(directory / tag)
        self.state_dir = os.path.join(self.run_dir, "state")
        os.makedirs(self.state_dir)
        programs = _write_programs(directory)
        python = sys.executable
        small = dict(cpus=1, mem_mb=200)
        self.server = slurm_job.Role(
            "server",
            [python, programs["server"], "{replay_port}", self.state_dir],
            resources=slurm_job.RoleResources(constraint="node1", **small),
            policy=_FAST,
        )
        self.collectors = slurm_job.Role(
            "collector",
            [
                python,
                programs["collector"],
                "{server_host}",
                "{replay_port}",
                "{task}",
                self.state_dir,
                tag,
            ],
            count=collectors,
            resources=slurm_job.RoleResources(constraint="node2", **small),
            policy=collector_policy,
        )
        self.trainer = slurm_job.Role(
            "trainer",
            [
                python,
                programs["trainer"],
                "{server_host}",
                "{replay_port}",
                self.state_dir,
                str(trainer_steps),
                str(min_records),
            ],
            resources=slurm_job.RoleResources(**small),
            policy=_FAST,
        )
        self.settings = slurm_job.SlurmJobSettings(
            job_name=tag,
            time_limit_min=10,
            signal_before_end_s=60,
            server_ready_timeout_s=60.0,
        )

    def submit(self) -> str:
        return slurm_job.submit(
            self.run_dir,
            self.server,
            self.collectors,
            self.trainer,
            ports={"replay": 0},
            settings=self.settings,
        )

    def wait(
        self, job_id: str, stream=None, timeout_s: float = _JOB_TIMEOUT_S
    ) -> slurm_job.JobReport:
        result = {}
        waiter = threading.Thread(
            target=lambda: result.update(
                report=slurm_job.wait(
                    job_id, self.run_dir, poll_interval_s=0.5, stream=stream
                )
            ),
            daemon=True,
        )
        waiter.start()
        waiter.join(timeout_s)
        assert "report" in result, f"job {job_id} still running:\n{self.logs()}"
        return result["report"]

    def checkpoint(self, name: str = "server_checkpoint.json") -> dict:
        with open(os.path.join(self.state_dir, name)) as f:
            return json.load(f)

    def sent(self) -> set:
        records = set()
        for name in os.listdir(self.state_dir):
            if name.endswith(".sent"):
                with open(os.path.join(self.state_dir, name)) as f:
                    records.update(f.read().split())
        return records

    def started(self, task: int) -> list[list[str]]:
        path = os.path.join(self.state_dir, f"collector-{task}.started")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f]

    def driver_log(self) -> str:
        path = os.path.join(self.run_dir, "logs", "driver.log")
        return open(path).read() if os.path.exists(path) else ""

    def logs(self) -> str:
        logs_dir = os.path.join(self.run_dir, "logs")
        parts = []
        for name in sorted(os.listdir(logs_dir)) if os.path.isdir(logs_dir) else []:
            with open(os.path.join(logs_dir, name), errors="replace") as f:
                parts.append(f"--- {name}\n{f.read()[-3000:]}")
        return "\n".join(parts)


def _wait_for(condition, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _step_id(name: str) -> str:
    """The id of the running step with this name, as squeue lists it."""
    done = subprocess.run(
        ["squeue", "--steps", "--noheader", "--format=%i|%j"],
        capture_output=True,
        text=True,
        check=True,
    )
    ids = [
        line.split("|")[0] for line in done.stdout.split() if line.endswith(f"|{name}")
    ]
    assert len(ids) == 1, done.stdout
    return ids[0]


def _steps_by_name(report: slurm_job.JobReport) -> dict[str, list]:
    steps: dict[str, list] = {}
    for step in report.steps:
        steps.setdefault(step.name, []).append(step)
    return steps


def test_srun_runs_on_every_node(slurm_multinode):
    done = subprocess.run(
        ["srun", "--nodes=3", "--mem=50", "hostname"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["node1", "node2", "node3"]


def test_tcp_from_one_node_to_another_crosses_the_bridge(slurm_multinode, tmp_path):
    # node1's server reports its own address and its client's; every node
    # has its own network namespace, so loopback could not connect them.
    port = 20000 + os.getpid() % 10000
    server_code = (
        "import socket\n"
        f"s = socket.create_server(('', {port}))\n"
        "print('listening', flush=True)\n"
        "c, addr = s.accept()\n"
        "print(c.getsockname()[0], addr[0], c.recv(100).decode(), flush=True)\n"
    )
    client_code = (
        "import socket, time\n"
        "for _ in range(100):\n"
        "    try:\n"
        f"        c = socket.create_connection(('node1', {port}), timeout=2)\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.1)\n"
        "c.sendall(socket.gethostname().encode())\n"
    )
    srun = ["srun", "--nodes=1", "--mem=50"]
    server = subprocess.Popen(
        [*srun, "--nodelist=node1", sys.executable, "-c", server_code],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().strip() == "listening"
        client = subprocess.run(
            [*srun, "--nodelist=node2", sys.executable, "-c", client_code],
            capture_output=True,
            text=True,
            timeout=60,
        )
        out, _ = server.communicate(timeout=60)
    finally:
        server.kill()

    assert client.returncode == 0, client.stderr
    addresses = slurm_multinode.addresses
    assert out.split() == [addresses["node1"], addresses["node2"], "node2"]


def test_run_places_roles_on_nodes_and_keeps_every_record(slurm_multinode, tmp_path):
    run = _Run(tmp_path, "placed")
    stream = io.StringIO()

    report = run.wait(run.submit(), stream=stream)

    assert (report.state, report.requeues) == ("COMPLETED", 0), run.logs()
    steps = _steps_by_name(report)
    assert [s.nodes for s in steps["server"]] == ["node1"]
    assert [s.nodes for s in steps["collector-0"] + steps["collector-1"]] == [
        "node2",
        "node2",
    ]
    assert [s.state for s in steps["trainer"]] == ["COMPLETED"]
    checkpoint = run.checkpoint()
    # Collectors reached the server over the bridge, from node2's address.
    assert {(h[0], h[2]) for h in checkpoint["hellos"]} == {
        (slurm_multinode.addresses["node2"], "node2")
    }
    sent = run.sent()
    assert len(sent) >= 20
    assert sent <= set(checkpoint["records"])
    # Collectors stopped first, the server last.
    log = run.driver_log()
    assert log.index("stopping collector-0") < log.index("stopping server")
    assert "[server] listening on node1:" in stream.getvalue()


def test_preempted_run_checkpoints_requeues_and_completes(slurm_multinode, tmp_path):
    run = _Run(tmp_path, "preempted", trainer_steps=60, min_records=40)
    job_id = run.submit()
    _wait_for(lambda: len(run.sent()) >= 10, "records before the preemption")

    # What Slurm sends before the time limit (--signal=B:USR1@...).
    subprocess.run(["scancel", "--batch", "--signal=USR1", job_id], check=True)
    report = run.wait(job_id)

    assert (report.state, report.requeues) == ("COMPLETED", 1), run.logs()
    first, final = run.checkpoint("server_checkpoint.run0.json"), run.checkpoint()
    assert set(first["records"]) <= set(final["records"])
    assert run.sent() <= set(final["records"])
    assert len(final["records"]) > len(first["records"])
    # The trainer checkpointed in the first run and resumed in the second.
    assert run.checkpoint("trainer_checkpoint.json")["runs"] == ["0", "1"]
    # sacct --duplicates: the requeued run's lines, then the final run's.
    table = report.steps_table()
    allocation = [s.state for s in report.steps if s.job_id == f"{job_id}+0"]
    assert allocation == ["REQUEUED", "COMPLETED"], table
    trainer = [s.state for s in _steps_by_name(report)["trainer"]]
    assert trainer == ["COMPLETED", "COMPLETED"], table
    log = run.driver_log()
    assert "got SIGUSR1" in log and f"requeueing job {job_id}" in log


def test_time_limit_signals_checkpoints_and_requeues(slurm_multinode, tmp_path):
    # Slurm signals USR1 `signal_before_end_s` (40 s) before the 1 min limit,
    # give or take its 30 s check interval: every job run ends between 20 and
    # 50 s, and the trainer needs 60 s of steps, so at least one requeue.
    run = _Run(tmp_path, "timelimit", trainer_steps=600, min_records=40)
    run.settings = dataclasses.replace(
        run.settings, time_limit_min=1, signal_before_end_s=40
    )

    report = run.wait(run.submit(), timeout_s=240)

    assert report.state == "COMPLETED", run.logs()
    assert report.requeues >= 1, report.steps_table()
    runs = run.checkpoint("trainer_checkpoint.json")["runs"]
    assert runs == [str(k) for k in range(report.requeues + 1)]
    assert run.sent() <= set(run.checkpoint()["records"])
    assert run.driver_log().count("got SIGUSR1") == report.requeues


@pytest.mark.parametrize("restart", [True, False])
def test_killed_collector_is_restarted_or_dropped(slurm_multinode, tmp_path, restart):
    policy = slurm_job.RestartPolicy(
        restart=restart, backoff_s=0.5, stop_timeout_s=20.0
    )
    run = _Run(
        tmp_path, "killed", trainer_steps=60, min_records=40, collector_policy=policy
    )
    job_id = run.submit()
    _wait_for(lambda: len(run.sent()) >= 10, "records before the kill")

    subprocess.run(["scancel", "--signal=KILL", _step_id("collector-0")], check=True)
    report = run.wait(job_id)

    assert report.state == "COMPLETED", run.logs()
    collector_0 = _steps_by_name(report)["collector-0"]
    log = run.driver_log()
    if restart:
        assert len(run.started(0)) == 2
        assert [s.state for s in collector_0][-1] == "COMPLETED"
        assert "restarting collector-0" in log
    else:
        assert len(run.started(0)) == 1
        assert len(collector_0) == 1
        assert "continuing with 1 of 2 collectors" in log
    assert run.sent() <= set(run.checkpoint()["records"])


def test_two_runs_at_once_keep_their_records_apart(slurm_multinode, tmp_path):
    runs = [_Run(tmp_path, tag, min_records=30) for tag in ("point-a", "point-b")]

    job_ids = [run.submit() for run in runs]
    reports = [run.wait(job_id) for run, job_id in zip(runs, job_ids)]

    for run, report in zip(runs, reports):
        assert report.state == "COMPLETED", run.logs()
        records = set(run.checkpoint()["records"])
        assert run.sent() <= records
        assert {record.split(":")[0] for record in records} == {run.tag}
    # Both jobs ran at the same time (each server on node1, its own port).
    starts, ends = zip(*(_component_0_times(report) for report in reports))
    assert max(starts) < min(ends)


def test_scancel_leaves_a_resumable_run(slurm_multinode, tmp_path):
    run = _Run(tmp_path, "cancelled", trainer_steps=60, min_records=40)
    job_id = run.submit()
    _wait_for(lambda: len(run.sent()) >= 10, "records before the cancel")

    subprocess.run(["scancel", job_id], check=True)
    cancelled = run.wait(job_id)
    first = run.checkpoint()
    resumed = run.wait(run.submit())

    assert cancelled.state == "CANCELLED", run.logs()
    assert resumed.state == "COMPLETED", run.logs()
    final = run.checkpoint()
    assert set(first["records"]) <= set(final["records"])
    assert run.sent() <= set(final["records"])
    assert len(run.checkpoint("trainer_checkpoint.json")["runs"]) == 2


def test_stop_checkpoints_in_order_and_leaves_a_resumable_run(
    slurm_multinode, tmp_path
):
    run = _Run(tmp_path, "stopped", trainer_steps=60, min_records=40)
    job_id = run.submit()
    _wait_for(lambda: len(run.sent()) >= 10, "records before the stop")

    slurm_job.stop(job_id, grace_s=60)
    report = run.wait(job_id)

    assert report.state == "CANCELLED", run.logs()
    assert run.sent() <= set(run.checkpoint()["records"])
    assert run.checkpoint("trainer_checkpoint.json")["runs"] == ["0"]
    log = run.driver_log()
    assert "got SIGUSR2" in log
    assert log.index("stopping collector-1") < log.index("stopping trainer")
    assert log.index("stopping trainer") < log.index("stopping server")


def _component_0_times(report: slurm_job.JobReport) -> tuple[str, str]:
    done = subprocess.run(
        [
            "sacct",
            "--noheader",
            "--parsable2",
            "--allocations",
            f"--jobs={report.job_id}",
            "--format=JobID,Start,End",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stdout.splitlines():
        job, start, end = line.split("|")
        if job == f"{report.job_id}+0":
            return start, end
    raise AssertionError(f"no component 0 in {done.stdout!r}")


def test_harness_names_nodes_and_addresses(slurm_multinode):
    assert slurm_multinode.nodes == ("node1", "node2", "node3")
    for node, netns in slurm_multinode.namespaces.items():
        assert os.path.exists(f"/run/netns/{netns}"), node
    controller = slurm_multinode.addresses["slurmctl"]
    # The bridge's address is on this machine; the nodes' are not.
    with socket.socket() as s:
        s.bind((controller, 0))
