"""Real Slurm clusters for tests, started under a temporary dir: one node or several.

`running_cluster(nodes=0)` (session fixture `slurm_cluster`) starts a
single-node Slurm: munged, mariadbd (an empty database on 127.0.0.1), slurmdbd
(accounting: submitit and sacct read job states from it), slurmctld and one
slurmd on this machine's hostname, and waits until the node is idle.

`running_cluster(nodes=N)`, N >= 1 (session fixture `slurm_multinode_cluster`
with three nodes, and `slurm_multinode` which points SLURM_CONF at it for one
test), starts a multi-node Slurm on this one machine, so that job steps on
different nodes talk over a real network, not loopback:

  * a private bridge `scb<id>` in the root network namespace holds the
    controller's address 10.251.X.1/24 (X: a /24 no interface or route of
    this machine uses); node K (node1, node2, ...) gets a network namespace
    `sc<id>-nodeK` whose `eth0` (one end of a veth pair, the other on the
    bridge) has 10.251.X.(K+1); nothing is routed beyond the bridge;
  * every node's slurmd runs in its namespace under `unshare --uts --mount`
    with its own hostname and a bind-mounted hosts file naming the controller
    and every node; slurmctld runs the same way in the root network namespace
    (hostname `slurmctl`), so this machine's /etc/hosts and hostname are
    never touched and no DNS is needed; job steps inherit their node's
    network, hostname and hosts file, so `node1` resolves on every node;
  * munged, mariadbd and slurmdbd run as in the single-node cluster: munge's
    socket is a file path, which every namespace reaches; slurmdbd listens on
    127.0.0.1, so `sacct` works from this machine (not from inside a node);
  * every node declares `cpus_per_node` CPUs and `memory_mb_per_node` MB with
    `SlurmdParameters=config_overrides` (more than this machine has, so tiny
    test roles can each have their own CPU), `CR_Core_Memory` (memory is a
    consumable resource, as on most clusters), the feature `nodeK` (so tests
    can place a role with `--constraint=node2`) and `bf_interval=1`
    (heterogeneous jobs are placed only by the backfill pass, 30 s otherwise).

Layout of the temporary dir (both modes):

    /tmp/slurm-XXXX/
      etc/slurm.conf, etc/slurmdbd.conf   the cluster's configuration
      etc/hosts                            (multi-node) the nodes' hosts file
      munge/                               munged's socket, pid and seed
      mysql/                               mariadbd's data dir and socket
      state/, spool/                       slurmctld's and slurmd's state
      log/<daemon>.log                     each daemon's log (shown on failure)

At the end it cancels any job left, stops every daemon by PID in reverse
order, kills what is left in the node namespaces (by PID), deletes the
namespaces, veths and bridge, and removes the dir. A watchdog process does
the same if the test process dies without cleaning up.

Needs root and the Debian packages installed by launchers/install_slurm.sh.
Without them the tests using the fixtures are skipped, or fail when the CI
environment variable is set, so CI never passes without running them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping

import portpicker
import pytest

PARTITION = "debug"
CLUSTER_NAME = "smartctltest"
# The controller's hostname in the multi-node cluster (inside its own UTS
# namespace only).
CONTROLLER_HOST = "slurmctl"
_DB_NAME = "slurm_acct_db"
_DB_USER = "slurm"
_DB_PASSWORD = "slurm-test-only"
# Seconds each daemon gets to come up, and to stop after SIGTERM.
_START_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 20
_SBIN_DIRS = ("/usr/sbin", "/sbin")
_REQUIRED_COMMANDS = (
    "munged",
    "mariadbd",
    "mariadb",
    "slurmdbd",
    "slurmctld",
    "slurmd",
    "sinfo",
    "sbatch",
    "srun",
    "sacct",
    "sacctmgr",
    "scancel",
    "scontrol",
    "squeue",
    "setpriv",
)
_MULTINODE_COMMANDS = ("ip", "nsenter", "unshare", "mount")
INSTALL_HINT = "install it as root with: bash launchers/install_slurm.sh"
# The multi-node clusters' networks are /24s inside 10.251.0.0/16; the lock
# file serialises picking a free one between harnesses started at once.
_SUBNET_PREFIX = "10.251"
_SUBNET_LOCK = "/tmp/smart_control_slurm_subnet.lock"
# slurmd listens in its own network namespace, so every node uses this port.
_SLURMD_PORT = 6818


@dataclasses.dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster.

    Attributes:
      partition: The only partition (the default one).
      conf_path: slurm.conf; point SLURM_CONF at it to use the cluster.
      root: The temporary directory holding configs, state and logs.
      env: Environment for Slurm client commands run in subprocesses.
      nodes: The node names, e.g. ("node1", "node2"); the machine's short
        hostname in the single-node cluster.
      addresses: Multi-node only: the bridge address of the controller
        (CONTROLLER_HOST) and of every node, by name.
      namespaces: Multi-node only: the network namespace of every node.
    """

    partition: str
    conf_path: str
    root: str
    env: dict = dataclasses.field(repr=False)
    nodes: tuple[str, ...] = ()
    addresses: Mapping[str, str] = dataclasses.field(default_factory=dict)
    namespaces: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def logs(self) -> str:
        """The tail of every daemon's log, for failure messages."""
        return _tail_logs(self.root)


@pytest.fixture(scope="session")
def slurm_cluster():
    """Starts a single-node Slurm for the session; yields a SlurmCluster.

    SLURM_CONF points at it for the whole session.
    """
    _require_slurm(nodes=0)
    with running_cluster(nodes=0) as cluster:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", cluster.conf_path)
            yield cluster


@pytest.fixture(scope="session")
def slurm_multinode_cluster():
    """Starts a three-node Slurm (one machine, three network namespaces).

    Three: Slurm's backfill pass starts a heterogeneous job only if it can
    place each component on a node of its own, and launchers/slurm_job.py
    submits three (server, collectors, trainer).

    SLURM_CONF is left alone (the single-node cluster may own it): use the
    `slurm_multinode` fixture, or `cluster.env` for subprocesses.
    """
    _require_slurm(nodes=3)
    with running_cluster(nodes=3) as cluster:
        yield cluster


@pytest.fixture
def slurm_multinode(slurm_multinode_cluster, monkeypatch):
    """The three-node cluster, with SLURM_CONF and PATH pointing at it for one test.

    Jobs the test leaves are cancelled afterwards, so the next test finds
    every node idle.
    """
    cluster = slurm_multinode_cluster
    monkeypatch.setenv("SLURM_CONF", cluster.conf_path)
    monkeypatch.setenv("PATH", cluster.env["PATH"])
    yield cluster
    _cancel_all_jobs(cluster)


@contextlib.contextmanager
def running_cluster(
    nodes: int = 0, cpus_per_node: int = 4, memory_mb_per_node: int = 4096
) -> Iterator[SlurmCluster]:
    """Starts a test Slurm, yields it, and tears all of it down.

    Args:
      nodes: 0: one slurmd on this machine's hostname (127.0.0.1); N >= 1:
        N slurmd named node1..nodeN, each in its own network namespace.
      cpus_per_node: Multi-node only: CPUs each node declares.
      memory_mb_per_node: Multi-node only: memory each node declares, in MB.

    Yields:
      The running SlurmCluster.

    Raises:
      ValueError: If `nodes` < 0.
      RuntimeError: If a daemon does not come up (the message holds the
        tail of every log).
    """
    if nodes < 0:
        raise ValueError(f"nodes must be >= 0, got {nodes}")
    root = tempfile.mkdtemp(prefix="slurm-", dir="/tmp")
    # munge and mysql must reach their directories below it.
    os.chmod(root, 0o755)
    resources = _Resources(root)
    try:
        cluster = _start_cluster(
            root, resources, nodes, cpus_per_node, memory_mb_per_node
        )
        yield cluster
        _cancel_all_jobs(cluster)
    finally:
        resources.release_all()
        shutil.rmtree(root, ignore_errors=True)


def missing_requirements(nodes: int = 0) -> str | None:
    """Why a test Slurm cannot start here, or None if it can."""
    commands = _REQUIRED_COMMANDS + (_MULTINODE_COMMANDS if nodes else ())
    missing = [command for command in commands if _which(command) is None]
    if missing:
        return f"Slurm is not installed (missing: {', '.join(missing)})"
    if os.geteuid() != 0:
        return (
            "starting a test Slurm needs root (munged and mariadbd drop to their "
            "users; the multi-node cluster creates network namespaces)"
        )
    return None


def _require_slurm(nodes: int) -> None:
    problem = missing_requirements(nodes)
    if problem:
        message = f"{problem}: the Slurm tests need a real Slurm; {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _which(command: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which(command, path=path)


# Runs beside the tests and learns, on stdin, each resource to release: "pid
# N" (a daemon), "netns NAME", "link NAME". If stdin closes without "done"
# (pytest killed, or pytest-timeout's os._exit), it cancels the jobs, then
# releases everything in reverse order (daemons by PID), then removes the dir.
_WATCHDOG = """
import os, shutil, signal, subprocess, sys, time
root, items = sys.argv[1], []
for line in sys.stdin:
    if line.strip() == "done":
        sys.exit(0)
    kind, value = line.split()
    items.append((kind, value))

def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

def stop(pid, signum=signal.SIGTERM, timeout=20):
    if running(pid):
        os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running(pid):
            os.kill(pid, signal.SIGKILL)

env = dict(os.environ, SLURM_CONF=os.path.join(root, "etc", "slurm.conf"))
subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
time.sleep(7)  # KillWait=5: let slurmd end the jobs' steps
for kind, value in reversed(items):
    if kind == "pid":
        stop(int(value))
    elif kind == "netns":
        pids = subprocess.run(["ip", "netns", "pids", value], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            stop(int(pid), signal.SIGKILL, 5)
        subprocess.run(["ip", "netns", "delete", value], capture_output=True)
    elif kind == "link":
        subprocess.run(["ip", "link", "delete", value], capture_output=True)
shutil.rmtree(root, ignore_errors=True)
"""


class _Resources:
    """Daemons, namespaces and links, released in reverse order of creation.

    Daemons run in the foreground and are stopped by PID. Each resource is
    also told to a watchdog process, which releases everything if this
    process dies first.
    """

    def __init__(self, root: str):
        self.log_dir = os.path.join(root, "log")
        os.makedirs(self.log_dir)
        self._items: list[tuple[str, object]] = []
        with open(os.path.join(self.log_dir, "watchdog.out"), "wb") as out:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, root],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                text=True,
            )

    def _add(self, kind: str, item: object, value: object) -> None:
        self._items.append((kind, item))
        self._watchdog.stdin.write(f"{kind} {value}\n")
        self._watchdog.stdin.flush()

    def start(self, name: str, argv: list[str], env: dict | None = None) -> None:
        """Starts a daemon in the foreground, output to log/<name>.out."""
        with open(os.path.join(self.log_dir, f"{name}.out"), "wb") as out:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self._add("pid", (name, process), process.pid)

    def add_netns(self, name: str) -> None:
        self._add("netns", name, name)

    def add_link(self, name: str) -> None:
        self._add("link", name, name)

    def check_running(self) -> None:
        for kind, item in self._items:
            if kind == "pid" and item[1].poll() is not None:
                raise RuntimeError(f"{item[0]} exited with {item[1].returncode}")

    def release_all(self) -> None:
        while self._items:
            kind, item = self._items.pop()
            if kind == "pid":
                _stop_process(item[1])
            elif kind == "netns":
                _delete_netns(item)
            else:
                subprocess.run(["ip", "link", "delete", item], capture_output=True)
        if self._watchdog.poll() is None:
            self._watchdog.stdin.write("done\n")
            self._watchdog.stdin.close()
            self._watchdog.wait()


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _delete_netns(name: str) -> None:
    """Kills what still runs in a node's namespace (job steps), then deletes it."""
    listed = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True
    )
    for pid in map(int, listed.stdout.split()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)


@dataclasses.dataclass(frozen=True)
class _Network:
    """The multi-node cluster's bridge, namespaces and addresses."""

    bridge: str
    controller_address: str
    addresses: dict  # node name -> address
    namespaces: dict  # node name -> network namespace


def _create_network(resources: _Resources, nodes: int) -> _Network:
    """Creates the bridge and one namespace per node; registers them for release."""
    tag = f"{random.getrandbits(24):06x}"
    bridge = f"scb{tag}"
    with open(_SUBNET_LOCK, "a") as lock:
        # Two harnesses starting at once must not pick the same /24.
        fcntl.flock(lock, fcntl.LOCK_EX)
        subnet = _free_subnet()
        resources.add_link(bridge)
        _ip_batch(
            [
                f"link add {bridge} type bridge",
                f"addr add {subnet}.1/24 dev {bridge}",
                f"link set {bridge} up",
            ]
        )
    addresses, namespaces = {}, {}
    for k in range(1, nodes + 1):
        node, netns = f"node{k}", f"sc{tag}-node{k}"
        host_end, node_end = f"scv{tag}{k}", f"scp{tag}{k}"
        addresses[node], namespaces[node] = f"{subnet}.{k + 1}", netns
        resources.add_netns(netns)
        subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
        resources.add_link(host_end)
        _ip_batch(
            [
                f"link add {host_end} type veth peer name {node_end}",
                f"link set {host_end} master {bridge} up",
                f"link set {node_end} netns {netns}",
            ]
        )
        _ip_batch(
            [
                f"link set {node_end} name eth0",
                f"addr add {addresses[node]}/24 dev eth0",
                "link set eth0 up",
                "link set lo up",
            ],
            netns,
        )
    return _Network(bridge, f"{subnet}.1", addresses, namespaces)


def _free_subnet() -> str:
    """A 10.251.X prefix that no address or route of this machine uses."""
    used = subprocess.run(
        "ip -4 -o addr show; ip -4 route show table all",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    candidates = list(range(256))
    random.shuffle(candidates)
    for x in candidates:
        if f"{_SUBNET_PREFIX}.{x}." not in used:
            return f"{_SUBNET_PREFIX}.{x}"
    raise RuntimeError(f"no free /24 left in {_SUBNET_PREFIX}.0.0/16")


def _ip_batch(commands: list[str], netns: str | None = None) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    done = subprocess.run(
        argv, input="\n".join(commands) + "\n", capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _in_own_uts_and_mount(hosts: str, hostname: str, argv: list[str]) -> list[str]:
    """argv run with its own hostname and `hosts` bind-mounted on /etc/hosts.

    Every step execs, so the PID of the returned command is argv's PID.
    """
    script = 'mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@"'
    return [
        _which("unshare"),
        "--uts",
        "--mount",
        "sh",
        "-c",
        script,
        "sh",
        hosts,
        hostname,
        *argv,
    ]


def _start_cluster(
    root: str,
    resources: _Resources,
    nodes: int,
    cpus_per_node: int,
    memory_mb_per_node: int,
) -> SlurmCluster:
    ports = {name: portpicker.pick_unused_port() for name in ("db", "dbd", "ctld")}
    ports["d"] = _SLURMD_PORT if nodes else portpicker.pick_unused_port()
    paths = _make_dirs(root)
    env = dict(os.environ, SLURM_CONF=paths["conf"])
    env["PATH"] = os.pathsep.join([env.get("PATH", ""), *_SBIN_DIRS])
    munge_socket = os.path.join(paths["munge"], "munge.socket")
    network = None
    try:
        _start_munge(resources, paths["munge"], munge_socket)
        _start_mariadb(resources, paths["mysql"], ports["db"], env)
        if nodes:
            network = _create_network(resources, nodes)
            for node in network.addresses:
                os.makedirs(os.path.join(paths["spool"], node))
            _write_hosts(paths["hosts"], network)
            node_lines = [
                f"NodeName={node} NodeAddr={address} NodeHostname={node} "
                f"CPUs={cpus_per_node} RealMemory={memory_mb_per_node} "
                f"Features={node} State=UNKNOWN"
                for node, address in network.addresses.items()
            ]
            controller = f"{CONTROLLER_HOST}({network.controller_address})"
        else:
            host = socket.gethostname().split(".")[0]
            memory_mb = (
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
            )
            node_lines = [
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} "
                f"RealMemory={memory_mb * 9 // 10} State=UNKNOWN"
            ]
            controller = f"{host}(127.0.0.1)"
        names = [line.split()[0].split("=")[1] for line in node_lines]
        _write_configs(paths, controller, node_lines, names, ports, munge_socket)
        resources.start("slurmdbd", [_which("slurmdbd"), "-D"], env)
        _wait_for(resources, "slurmdbd", ["sacctmgr", "-n", "list", "cluster"], env)
        ctld = [_which("slurmctld"), "-D", "-i"]
        if network:
            ctld = _in_own_uts_and_mount(paths["hosts"], CONTROLLER_HOST, ctld)
        resources.start("slurmctld", ctld, env)
        if network:
            for node, netns in network.namespaces.items():
                slurmd = [_which("slurmd"), "-D", "-N", node]
                # Not `ip netns exec`: it remounts /sys and slurmd then fails.
                argv = [
                    _which("nsenter"),
                    f"--net=/run/netns/{netns}",
                    *_in_own_uts_and_mount(paths["hosts"], node, slurmd),
                ]
                resources.start(f"slurmd-{node}", argv, env)
        else:
            resources.start("slurmd", [_which("slurmd"), "-D"], env)
        _wait_for(
            resources,
            "every node to be idle",
            ["sinfo", "-h", "-N", "-o", "%T"],
            env,
            until=lambda out: out.split() == ["idle"] * len(names),
        )
    except Exception as error:
        raise RuntimeError(
            f"could not start the test Slurm: {error}\n{_tail_logs(root)}"
        ) from error
    addresses, namespaces = {}, {}
    if network:
        addresses = {CONTROLLER_HOST: network.controller_address, **network.addresses}
        namespaces = network.namespaces
    return SlurmCluster(
        partition=PARTITION,
        conf_path=paths["conf"],
        root=root,
        env=env,
        nodes=tuple(names),
        addresses=addresses,
        namespaces=namespaces,
    )


def _make_dirs(root: str) -> dict:
    paths = {name: os.path.join(root, name) for name in ("etc", "state", "spool")}
    for path in paths.values():
        os.makedirs(path)
    paths["log"] = os.path.join(root, "log")
    paths["conf"] = os.path.join(paths["etc"], "slurm.conf")
    paths["dbd_conf"] = os.path.join(paths["etc"], "slurmdbd.conf")
    paths["hosts"] = os.path.join(paths["etc"], "hosts")
    paths["munge"] = os.path.join(root, "munge")
    paths["mysql"] = os.path.join(root, "mysql")
    # munged wants its socket's directory searchable by all (clients connect).
    for name, mode in (("munge", 0o755), ("mysql", 0o700)):
        os.makedirs(paths[name])
        os.chmod(paths[name], mode)
        shutil.chown(paths[name], name, name)
    return paths


def _write_hosts(path: str, network: _Network) -> None:
    lines = ["127.0.0.1 localhost", f"{network.controller_address} {CONTROLLER_HOST}"]
    lines += [f"{address} {node}" for node, address in network.addresses.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _start_munge(resources: _Resources, munge_dir: str, munge_socket: str) -> None:
    resources.start(
        "munged",
        [
            _which("setpriv"),
            "--reuid=munge",
            "--regid=munge",
            "--init-groups",
            _which("munged"),
            "--foreground",
            f"--socket={munge_socket}",
            f"--pid-file={munge_dir}/munged.pid",
            f"--seed-file={munge_dir}/munged.seed",
            f"--log-file={munge_dir}/munged.log",
        ],
    )
    _wait_until(resources, "munged", lambda: os.path.exists(munge_socket))


def _start_mariadb(resources: _Resources, mysql_dir: str, port: int, env: dict) -> None:
    """Starts mariadbd on an empty data dir and creates the accounting database.

    Without grant tables (no `mariadb-install-db`, which takes ~5 s here)
    every client may connect: it listens on 127.0.0.1 only and holds nothing
    but this test cluster's accounting.
    """
    data_dir = os.path.join(mysql_dir, "data")
    db_socket = os.path.join(mysql_dir, "mysqld.sock")
    os.makedirs(data_dir)
    shutil.chown(data_dir, "mysql", "mysql")
    resources.start(
        "mariadbd",
        [
            _which("mariadbd"),
            "--no-defaults",
            "--user=mysql",
            f"--datadir={data_dir}",
            f"--socket={db_socket}",
            f"--pid-file={mysql_dir}/mariadbd.pid",
            "--bind-address=127.0.0.1",
            f"--port={port}",
            "--skip-name-resolve",
            "--skip-grant-tables",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=8M",
            # A throw-away database: creating slurmdbd's tables without a
            # file and an fsync each saves seconds.
            "--innodb-file-per-table=0",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--innodb-flush-method=nosync",
        ],
        env,
    )
    client = [_which("mariadb"), "--no-defaults", f"--socket={db_socket}", "-uroot"]
    _wait_for(resources, "mariadbd", [*client, "-e", "SELECT 1"], env)
    subprocess.run(
        [*client, "-e", f"CREATE DATABASE {_DB_NAME};"],
        check=True,
        capture_output=True,
        env=env,
    )


def _write_configs(
    paths: dict,
    controller: str,
    node_lines: list[str],
    node_names: list[str],
    ports: dict,
    munge_socket: str,
) -> None:
    root = os.path.dirname(paths["etc"])
    log = paths["log"]
    multinode = not controller.endswith("(127.0.0.1)")
    if multinode:
        # Each slurmd has its own spool, pid and log; %n is the node name.
        node_files = f"""\
SlurmdSpoolDir={paths["spool"]}/%n
SlurmdPidFile={root}/slurmd-%n.pid
SlurmdLogFile={log}/slurmd-%n.log
# Nodes declare more CPUs and memory than this machine has (tiny test roles).
SlurmdParameters=config_overrides
# Memory is consumable, as on most clusters: steps must ask for theirs.
SelectTypeParameters=CR_Core_Memory
# Heterogeneous jobs are placed by the backfill pass only (every 30 s by default).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
# The backfill pass runs only after some job, node or partition changed. On
# an idle test cluster nothing changes when a requeued job becomes eligible
# again (cred_expire below), so it would wait for the next node ping: every
# SlurmdTimeout / 3 seconds (100 s by default).
SlurmdTimeout=15
"""
    else:
        node_files = f"""\
SlurmdSpoolDir={paths["spool"]}
SlurmdPidFile={root}/slurmd.pid
SlurmdLogFile={log}/slurmd.log
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
"""
    nodes = "\n".join(node_lines)
    slurm_conf = f"""\
ClusterName={CLUSTER_NAME}
SlurmctldHost={controller}
SlurmctldPort={ports["ctld"]}
SlurmdPort={ports["d"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: a requeued job waits this long (+1 s) before it may start again
# (120 s by default); 5 is the least Slurm accepts.
AuthInfo=socket={munge_socket},cred_expire=5
CredType=cred/munge
MpiDefault=none
# cgroups are not usable on these machines (proctrack/cgroup fails every step).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# Schedule at once instead of batching submissions (~3 s per job otherwise).
{node_files}# submitit's task ignores SIGTERM: a cancelled task would hold the node 30 s.
KillWait=5
ReturnToService=2
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports["dbd"]}
# With munge on its own socket, the accounting connection is told it here.
AccountingStoragePass={munge_socket}
StateSaveLocation={paths["state"]}
SlurmctldPidFile={root}/slurmctld.pid
SlurmctldLogFile={log}/slurmctld.log
{nodes}
PartitionName={PARTITION} Nodes={",".join(node_names)} Default=YES MaxTime=INFINITE State=UP
"""
    dbd_conf = f"""\
AuthType=auth/munge
AuthInfo=socket={munge_socket}
# slurmdbd runs in this machine's UTS namespace, whatever the controller's name.
DbdHost={socket.gethostname().split(".")[0]}
DbdAddr=127.0.0.1
DbdPort={ports["dbd"]}
SlurmUser=root
PidFile={root}/slurmdbd.pid
LogFile={log}/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["db"]}
StorageUser={_DB_USER}
StoragePass={_DB_PASSWORD}
StorageLoc={_DB_NAME}
"""
    with open(paths["conf"], "w") as f:
        f.write(slurm_conf)
    # slurmdbd refuses a config others can read (it holds the DB password).
    fd = os.open(paths["dbd_conf"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(dbd_conf)


def _wait_until(resources: _Resources, what: str, ready) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not ready():
        resources.check_running()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {_START_TIMEOUT_S} s")
        time.sleep(0.1)


def _wait_for(resources, what: str, argv: list[str], env: dict, until=None) -> None:
    """Waits until a command succeeds (and its stdout satisfies `until`)."""

    def ready() -> bool:
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        return done.returncode == 0 and (until is None or until(done.stdout))

    _wait_until(resources, what, ready)


def _cancel_all_jobs(cluster: SlurmCluster) -> None:
    """Cancels jobs tests left, so no slurmstepd outlives slurmd."""
    env = cluster.env
    subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        done = subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=env)
        if done.returncode != 0 or not done.stdout.strip():
            return
        time.sleep(0.5)


def _tail_logs(root: str, lines: int = 20) -> str:
    """The last lines of every daemon log under root (log/ and munge/)."""
    parts = []
    for log_dir in (os.path.join(root, "log"), os.path.join(root, "munge")):
        names = sorted(os.listdir(log_dir)) if os.path.isdir(log_dir) else []
        for name in names:
            if not name.endswith((".log", ".out")):
                continue
            with open(os.path.join(log_dir, name), errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
            parts.append(f"--- {name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(parts)
