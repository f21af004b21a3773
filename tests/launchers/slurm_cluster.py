"""A real single-node Slurm cluster for tests, started under a temporary dir.

The session fixture `slurm_cluster` starts, in this order, munged, mariadbd
(a fresh database on 127.0.0.1), slurmdbd (accounting: submitit reads job
states with sacct), slurmctld and slurmd, waits until the node is idle, points
the Slurm client commands at it through SLURM_CONF, and at the end cancels any
job left, then stops every daemon by PID in reverse order and removes the dir:

    /tmp/slurm-XXXX/
      etc/slurm.conf, etc/slurmdbd.conf   the cluster's configuration
      munge/                               munged's socket, pid and seed
      mysql/                               mariadbd's data dir and socket
      state/, spool/                       slurmctld's and slurmd's state
      log/<daemon>.log                     each daemon's log (shown on failure)

Needs root and the Debian packages installed by launchers/install_slurm.sh.
Without them the tests using the fixture are skipped, or fail when the CI
environment variable is set, so CI never passes without running them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import portpicker
import pytest

PARTITION = "debug"
CLUSTER_NAME = "smartctltest"
_DB_NAME = "slurm_acct_db"
_DB_USER = "slurm"
_DB_PASSWORD = "slurm-test-only"
# Seconds each daemon gets to come up, and to stop after SIGTERM.
_START_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 20
_SBIN_DIRS = ("/usr/sbin", "/sbin")
_REQUIRED_COMMANDS = (
    "munged",
    "mariadb-install-db",
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
    "squeue",
    "setpriv",
)
INSTALL_HINT = "install it as root with: bash launchers/install_slurm.sh"


@dataclasses.dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster.

    Attributes:
      partition: The only partition (the default one).
      conf_path: slurm.conf; SLURM_CONF points at it while the fixture lives.
      root: The temporary directory holding configs, state and logs.
      env: Environment for Slurm client commands run in subprocesses.
    """

    partition: str
    conf_path: str
    root: str
    env: dict = dataclasses.field(repr=False)

    def logs(self) -> str:
        """The tail of every daemon's log, for failure messages."""
        return _tail_logs(self.root)


@pytest.fixture(scope="session")
def slurm_cluster():
    """Starts a single-node Slurm for the session; yields a SlurmCluster."""
    problem = _missing_requirements()
    if problem:
        message = (
            f"{problem}: the Slurm executor tests need a real Slurm; {INSTALL_HINT}"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    root = tempfile.mkdtemp(prefix="slurm-", dir="/tmp")
    # munge and mysql must reach their directories below it.
    os.chmod(root, 0o755)
    daemons = _Daemons(root)
    try:
        cluster = _start_cluster(root, daemons)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", cluster.conf_path)
            yield cluster
            _cancel_all_jobs(cluster)
    finally:
        daemons.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def _which(command: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which(command, path=path)


def _missing_requirements() -> str | None:
    missing = [command for command in _REQUIRED_COMMANDS if _which(command) is None]
    if missing:
        return f"Slurm is not installed (missing: {', '.join(missing)})"
    if os.geteuid() != 0:
        return (
            "starting a test Slurm needs root (munged and mariadbd drop to their users)"
        )
    return None


# Runs beside the tests and learns each daemon's PID on stdin. If stdin closes
# without "done" (pytest killed, or pytest-timeout's os._exit), it cancels the
# jobs and stops the daemons by PID in reverse order, then removes the dir.
_WATCHDOG = """
import os, shutil, signal, subprocess, sys, time
root, pids = sys.argv[1], []
for line in sys.stdin:
    if line.strip() == "done":
        sys.exit(0)
    pids.append(int(line))

def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

env = dict(os.environ, SLURM_CONF=os.path.join(root, "etc", "slurm.conf"))
subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
time.sleep(7)  # KillWait=5: let slurmd end the jobs' steps
for pid in reversed(pids):
    if running(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running(pid):
            os.kill(pid, signal.SIGKILL)
shutil.rmtree(root, ignore_errors=True)
"""


class _Daemons:
    """Daemons started in the foreground, stopped by PID in reverse order."""

    def __init__(self, root: str):
        self.log_dir = os.path.join(root, "log")
        os.makedirs(self.log_dir)
        self._started: list[tuple[str, subprocess.Popen]] = []
        with open(os.path.join(self.log_dir, "watchdog.out"), "wb") as out:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, root],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                text=True,
            )

    def start(self, name: str, argv: list[str], env: dict | None = None) -> None:
        with open(os.path.join(self.log_dir, f"{name}.out"), "wb") as out:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self._started.append((name, process))
        self._watchdog.stdin.write(f"{process.pid}\n")
        self._watchdog.stdin.flush()

    def check_running(self) -> None:
        for name, process in self._started:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")

    def stop_all(self) -> None:
        while self._started:
            _, process = self._started.pop()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._watchdog.poll() is None:
            self._watchdog.stdin.write("done\n")
            self._watchdog.stdin.close()
            self._watchdog.wait()


def _start_cluster(root: str, daemons: _Daemons) -> SlurmCluster:
    host = socket.gethostname().split(".")[0]
    ports = {name: portpicker.pick_unused_port() for name in ("db", "dbd", "ctld", "d")}
    paths = _make_dirs(root)
    env = dict(os.environ, SLURM_CONF=paths["conf"])
    env["PATH"] = os.pathsep.join([env.get("PATH", ""), *_SBIN_DIRS])
    munge_socket = os.path.join(paths["munge"], "munge.socket")
    try:
        _start_munge(daemons, paths["munge"], munge_socket)
        _start_mariadb(daemons, paths["mysql"], ports["db"], env)
        _write_configs(paths, host, ports, munge_socket)
        daemons.start("slurmdbd", [_which("slurmdbd"), "-D"], env)
        _wait_for(daemons, "slurmdbd", ["sacctmgr", "-n", "list", "cluster"], env)
        daemons.start("slurmctld", [_which("slurmctld"), "-D", "-i"], env)
        daemons.start("slurmd", [_which("slurmd"), "-D"], env)
        _wait_for(
            daemons,
            "the node to be idle",
            ["sinfo", "-h", "-o", "%T"],
            env,
            until=lambda out: out.split() == ["idle"],
        )
    except Exception as error:
        raise RuntimeError(
            f"could not start the test Slurm: {error}\n{_tail_logs(root)}"
        ) from error
    return SlurmCluster(
        partition=PARTITION, conf_path=paths["conf"], root=root, env=env
    )


def _make_dirs(root: str) -> dict:
    paths = {name: os.path.join(root, name) for name in ("etc", "state", "spool")}
    for path in paths.values():
        os.makedirs(path)
    paths["log"] = os.path.join(root, "log")
    paths["conf"] = os.path.join(paths["etc"], "slurm.conf")
    paths["dbd_conf"] = os.path.join(paths["etc"], "slurmdbd.conf")
    paths["munge"] = os.path.join(root, "munge")
    paths["mysql"] = os.path.join(root, "mysql")
    # munged wants its socket's directory searchable by all (clients connect).
    for name, mode in (("munge", 0o755), ("mysql", 0o700)):
        os.makedirs(paths[name])
        os.chmod(paths[name], mode)
        shutil.chown(paths[name], name, name)
    return paths


def _start_munge(daemons: _Daemons, munge_dir: str, munge_socket: str) -> None:
    daemons.start(
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
    _wait_until(daemons, "munged", lambda: os.path.exists(munge_socket))


def _start_mariadb(daemons: _Daemons, mysql_dir: str, port: int, env: dict) -> None:
    data_dir = os.path.join(mysql_dir, "data")
    db_socket = os.path.join(mysql_dir, "mysqld.sock")
    subprocess.run(
        [
            _which("mariadb-install-db"),
            "--no-defaults",
            "--user=mysql",
            f"--datadir={data_dir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    daemons.start(
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
            "--innodb-buffer-pool-size=64M",
        ],
        env,
    )
    sql = (
        f"CREATE DATABASE {_DB_NAME}; "
        f"CREATE USER '{_DB_USER}'@'127.0.0.1' IDENTIFIED BY '{_DB_PASSWORD}'; "
        f"GRANT ALL ON {_DB_NAME}.* TO '{_DB_USER}'@'127.0.0.1';"
    )
    client = [_which("mariadb"), "--no-defaults", f"--socket={db_socket}", "-uroot"]
    _wait_for(daemons, "mariadbd", [*client, "-e", "SELECT 1"], env)
    subprocess.run([*client, "-e", sql], check=True, capture_output=True, env=env)


def _write_configs(paths: dict, host: str, ports: dict, munge_socket: str) -> None:
    root = os.path.dirname(paths["etc"])
    log = paths["log"]
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    slurm_conf = f"""\
ClusterName={CLUSTER_NAME}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports["ctld"]}
SlurmdPort={ports["d"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
MpiDefault=none
# cgroups are not usable on these machines (proctrack/cgroup fails every step).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Schedule at once instead of batching submissions (~3 s per job otherwise).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
# submitit's task ignores SIGTERM: a cancelled task would hold the node 30 s.
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
SlurmdSpoolDir={paths["spool"]}
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={log}/slurmctld.log
SlurmdLogFile={log}/slurmd.log
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={memory_mb * 9 // 10} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
    dbd_conf = f"""\
AuthType=auth/munge
AuthInfo=socket={munge_socket}
DbdHost={host}
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


def _wait_until(daemons: _Daemons, what: str, ready) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not ready():
        daemons.check_running()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {_START_TIMEOUT_S} s")
        time.sleep(0.2)


def _wait_for(daemons, what: str, argv: list[str], env: dict, until=None) -> None:
    """Waits until a command succeeds (and its stdout satisfies `until`)."""

    def ready() -> bool:
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        return done.returncode == 0 and (until is None or until(done.stdout))

    _wait_until(daemons, what, ready)


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
