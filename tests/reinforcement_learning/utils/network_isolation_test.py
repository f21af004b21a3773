"""Network isolation with real processes, real Reverb servers and real attackers.

A server started by an isolated process works for that process and its
children, and a connect attempt from another uid or another network namespace
fails; a shared reverb_server says it is open; a busy port is refused; where
the kernel refuses isolation, one warning line says so. The cross-uid and
cross-namespace tests need root (setpriv, setns), as CI has.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from smart_control.reinforcement_learning.utils import network_isolation

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
PROBE = "tests.reinforcement_learning.utils.netns_probe"
SCRIPTS = "smart_control.reinforcement_learning.scripts"
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
DAEMON = ["setpriv", "--reuid=1", "--regid=1", "--clear-groups"]

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("unshare"),
    reason="needs root, setpriv and unshare (util-linux) to act as other users",
)


def _env(world_tmp=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT  # children import this tree
    env.pop(network_isolation.ENV_VAR, None)
    if world_tmp:
        # Other uids cannot write under pytest's tmp_path (0700).
        env.update(TMPDIR=world_tmp, HOME=world_tmp)
    return env


def _probe(args, prefix=(), env=None, timeout=120):
    done = subprocess.run(
        [*prefix, sys.executable, "-m", PROBE, *args],
        cwd=REPO_ROOT,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def _listening_ports(pid):
    """TCP ports in LISTEN state in the network namespace of process `pid`."""
    ports = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _start(args, **kwargs):
    """Popen in a process group of its own, so that `_kill` also stops its children."""
    return subprocess.Popen(args, start_new_session=True, **kwargs)


def _kill(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGCONT)  # a stopped process too
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def _refused(result):
    return result["127.0.0.1"] != "connected" and result["::1"] != "connected"


@pytest.fixture
def world_tmp():
    path = tempfile.mkdtemp(prefix="netns-test-")
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _can_run_python_as(user, env) -> bool:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    check = subprocess.run(
        [
            *user,
            sys.executable,
            "-c",
            "import importlib.util, smart_control; "
            "assert importlib.util.find_spec('reverb')",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
    )
    return check.returncode == 0


@pytest.fixture
def other_uids_can_run_python(world_tmp):
    for user in (NOBODY, DAEMON):
        if not _can_run_python_as(user, _env(world_tmp)):
            pytest.skip(f"{user[1]} cannot run {sys.executable} with this tree")


def _attacks(port, host_listeners, other_uids=True):
    """TCP connects to `port` from outside its namespace; returns the probes' results."""
    results = {
        "root, host namespace": _probe(["connect", str(port)])[0][0],
        "root, another namespace": _probe(["connect", str(port), "--own-netns"])[0][0],
    }
    if other_uids:
        for name, user in (("nobody", NOBODY), ("daemon", DAEMON)):
            (result,), _ = _probe(["connect", str(port)], user)
            results[f"{name}, host namespace"] = result
    if port in host_listeners:
        # Some unrelated server holds the same port number outside: a connect
        # there would reach it, not ours, and prove nothing either way.
        for key in [k for k in results if "host" in k]:
            del results[key]
    return results


@pytest.mark.slow
@needs_root
def test_populate_server_is_closed_to_other_uids_and_namespaces(
    tmp_path, world_tmp, other_uids_can_run_python
):
    env = _env(world_tmp)
    # A Reverb client of another uid, its imports done beforehand.
    attacker = _start(
        [*NOBODY, sys.executable, "-m", PROBE, "reverb-client"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    log = open(tmp_path / "populate.log", "w+")
    populate = _start(
        [
            sys.executable,
            "-m",
            f"{SCRIPTS}.populate_starter_buffer",
            f"--root_dir={tmp_path / 'buffer'}",
            "--num_runs=1",
            "--steps_per_run=2000",
            "--noprogress",
        ],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        ours = network_isolation.current_namespace()
        deadline = time.monotonic() + 240
        ports = set()
        while not ports:
            try:
                if os.readlink(f"/proc/{populate.pid}/ns/net") != ours:
                    ports = _listening_ports(populate.pid)
            except FileNotFoundError:  # exited meanwhile
                pass
            if not ports:
                assert populate.poll() is None, (
                    "populate ended without ever listening in a namespace of its "
                    "own:\n" + open(tmp_path / "populate.log").read()[-3000:]
                )
                assert time.monotonic() < deadline, "populate's server never listened"
                time.sleep(0.02)
        # Frozen while probed, so that its server outlives the probes; the
        # kernel still completes TCP handshakes on its listening socket.
        os.kill(populate.pid, signal.SIGSTOP)
        (port,) = ports
        inside = _probe(["connect", str(port), "--join", str(populate.pid)])[0][0]
        assert inside["127.0.0.1"] == "connected", inside
        results = _attacks(port, _listening_ports(os.getpid()))
        results["nobody joins its namespace"] = _probe(
            ["join", str(populate.pid)], NOBODY
        )[0][0]
        assert json.loads(attacker.stdout.readline()) == {"ready": True}
        attacker.stdin.write(f"{port}\n")
        attacker.stdin.flush()
        results["nobody, Reverb client"] = json.loads(attacker.stdout.readline())
        os.kill(populate.pid, signal.SIGCONT)
        print(json.dumps({"inside": inside, **results}, indent=1))
        for name, result in results.items():
            if "join" in name:
                assert result["join"] == "open: PermissionError", (name, result)
            elif "Reverb" in name:
                assert result["result"] != "read", (name, result)
            else:
                assert _refused(result), (name, result)
        assert populate.wait(timeout=300) == 0, open(tmp_path / "populate.log").read()
        output = open(tmp_path / "populate.log").read()
        assert re.search(r"Starter buffer: [1-9]\d* frames", output), output
        assert "network isolation unavailable" not in output
    finally:
        for process in (populate, attacker):
            _kill(process)
        log.close()


@pytest.mark.slow
@needs_root
def test_non_root_launcher_and_its_child_share_a_namespace_nobody_else_reaches(
    world_tmp, other_uids_can_run_python
):
    server = _start(
        [*NOBODY, sys.executable, "-m", PROBE, "server"],
        cwd=REPO_ROOT,
        env=_env(world_tmp),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        started = json.loads(server.stdout.readline())
        assert started["network"] == "isolated", started
        assert started["detail"] == "user and network namespace"
        assert started["uid"] == 65534  # mapped to itself: files keep their owner
        assert started["namespace"] != network_isolation.current_namespace()
        # Its child found the launcher's namespace, did not unshare again, and
        # wrote to and read from the server.
        child = json.loads(server.stdout.readline())
        assert child == {
            "client_network": "inherited",
            "client_namespace": started["namespace"],
            "size": 1,
        }
        assert json.loads(server.stdout.readline()) == {"child_exit": 0}

        port, pid = started["port"], started["pid"]
        inside = _probe(["connect", str(port), "--join", str(pid)])[0][0]
        assert inside["127.0.0.1"] == "connected", inside
        results = _attacks(port, _listening_ports(os.getpid()))
        results["daemon joins its namespace"] = _probe(["join", str(pid)], DAEMON)[0][0]
        print(json.dumps({"inside": inside, **results}, indent=1))
        for name, result in results.items():
            if "join" in name:
                assert result["join"].startswith("open: PermissionError"), result
            else:
                assert _refused(result), (name, result)
        server.stdin.close()
        assert server.wait(timeout=60) == 0
    finally:
        _kill(server)


@pytest.mark.slow
def test_shared_reverb_server_says_it_is_open_and_a_busy_port_is_refused(tmp_path):
    err = open(tmp_path / "server.err", "w")
    first = _start(
        [
            sys.executable,
            "-m",
            f"{SCRIPTS}.reverb_server",
            f"--root_dir={tmp_path / 'first'}",
            "--checkpoint_interval_s=0",
        ],
        cwd=REPO_ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    try:
        notice = None
        for line in first.stdout:
            if line.startswith("Listening on"):
                notice = line.strip()
                break
        assert notice, open(tmp_path / "server.err").read()[-3000:]
        match = re.fullmatch(
            r"Listening on \*:(\d+): all IPv4 and IPv6 addresses of this machine\. "
            r"Reverb has no authentication: whoever can reach this port can read, "
            r"insert into and reset the tables \(see README, Security\)\.",
            notice,
        )
        assert match, notice
        port = int(match.group(1))
        # Open indeed, to another uid (which also shows that the probes used
        # on isolated servers do detect an open one).
        if _can_run_python_as(NOBODY, _env()):
            (reached,), _ = _probe(["connect", str(port)], NOBODY)
            assert "connected" in (reached["127.0.0.1"], reached["::1"]), reached
        for flag in ("port", "variable_container_port"):
            second = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    f"{SCRIPTS}.reverb_server",
                    f"--root_dir={tmp_path / 'second'}",
                    f"--{flag}={port}",
                ],
                cwd=REPO_ROOT,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert second.returncode == 1
            assert second.stderr.splitlines() == [
                f"error: --{flag}: port {port} is already in use on this machine "
                "(another server listens on it and Reverb would silently share it); "
                "choose another port or stop that server"
            ]
            assert not (tmp_path / "second").exists()
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=120) == 0
    finally:
        _kill(first)
        err.close()


@pytest.mark.slow
@needs_root
def test_reverb_server_of_an_isolated_launcher_serves_only_the_run(tmp_path):
    """The distributed run's layout: launcher isolated, reverb_server its child."""
    launcher = _start(
        [
            sys.executable,
            "-m",
            PROBE,
            "launch",
            f"{SCRIPTS}.reverb_server",
            f"--root_dir={tmp_path / 'buffer'}",
            "--checkpoint_interval_s=0",
        ],
        cwd=REPO_ROOT,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        status = json.loads(launcher.stdout.readline())
        assert status["network"] == "isolated"
        server_pid = json.loads(launcher.stdout.readline())["child_pid"]
        notice = next(
            line.strip() for line in launcher.stdout if line.startswith("Listening")
        )
        match = re.fullmatch(
            r"Listening on \*:(\d+) inside this run's private network namespace "
            r"\((net:\[\d+\])\): reachable only by this run's processes\.",
            notice,
        )
        assert match, notice
        port = int(match.group(1))
        assert match.group(2) == status["namespace"]
        inside = _probe(["connect", str(port), "--join", str(server_pid)])[0][0]
        assert inside["127.0.0.1"] == "connected", inside
        # (Other uids: covered above, where they are known to run python.)
        attacks = _attacks(port, _listening_ports(os.getpid()), other_uids=False)
        for name, result in attacks.items():
            assert _refused(result), (name, result)
        launcher.stdin.close()
        assert launcher.wait(timeout=120) == 0
    finally:
        _kill(launcher)


@needs_root
def test_unavailable_when_the_kernel_refuses_says_so_in_one_line():
    # A user namespace of our own where user namespaces are disabled
    # (user.max_user_namespaces = 0, as hardened distributions set it) and
    # root has no CAP_SYS_ADMIN (as in a container): both unshares fail.
    def refused(*args):
        script = (
            "echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv "
            '--bounding-set=-sys_admin --inh-caps=-sys_admin "$@"'
        )
        return subprocess.run(
            ["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", *args],
            cwd=REPO_ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = refused(sys.executable, "-m", PROBE, "status")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["network"] == "unavailable"
    assert status["namespace"] == network_isolation.current_namespace()
    assert "unshare(CLONE_NEWNET): not permitted" in status["detail"]
    assert (
        "unshare(CLONE_NEWUSER|CLONE_NEWNET): user namespaces disabled"
        in status["detail"]
    )
    assert status["env"] == ""  # children are not told they are isolated
    assert done.stderr.splitlines() == [
        f"warning: network isolation unavailable ({status['detail']}): this run's "
        "Reverb servers listen on all addresses of this machine without "
        "authentication and are reachable by its other users"
    ]

    # Through a binary: the warning once, then the binary goes on.
    missing = "/nonexistent/buffer"
    done = refused(
        sys.executable, "-m", f"{SCRIPTS}.inspect_buffer", f"--root_dir={missing}"
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 1
    assert len(lines) == 2 and lines[0].startswith("warning: network isolation")
    assert lines[1] == f"error: no such buffer directory: {missing}"


def test_unavailable_in_a_multithreaded_process_changes_nothing():
    (status,), stderr = _probe(["status", "--threads"])
    assert status["network"] == "unavailable"
    assert status["detail"].startswith("process already runs 2 threads")
    assert status["namespace"] == network_isolation.current_namespace()
    assert len(stderr.splitlines()) == 1


def test_a_set_up_refused_after_unshare_leaves_the_process_untouched():
    (status,), stderr = _probe(["status", "--refuse-loopback"])
    assert status["network"] == "unavailable"
    assert status["detail"] == "loopback: Operation not permitted"
    assert status["namespace"] == network_isolation.current_namespace()
    assert status["env"] == ""
    assert len(stderr.splitlines()) == 1


@needs_root
def test_children_inherit_and_a_stale_variable_is_not_trusted():
    (parent, child), _ = _probe(["status", "--child"])
    assert parent["network"] == "isolated"
    assert parent["env"] == parent["namespace"]
    assert parent["namespace"] != network_isolation.current_namespace()
    assert child["network"] == "inherited"
    assert child["namespace"] == parent["namespace"]

    # A variable naming a namespace the process is not in isolates anew.
    env = _env()
    env[network_isolation.ENV_VAR] = network_isolation.current_namespace() + "x"
    (status,), _ = _probe(["status"], env=env)
    assert status["network"] == "isolated"


@needs_root
def test_binaries_flag_choices():
    def run(module, *args):
        return subprocess.run(
            [sys.executable, "-m", f"{SCRIPTS}.{module}", *args],
            cwd=REPO_ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    # A trainer in its own namespace could not reach the given server.
    done = run(
        "train",
        "--root_dir=/nonexistent/run",
        "--gin_file=experiments/quickstart.gin",
        "--replay_buffer_server_address=localhost:8000",
        "--network=private",
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: --network=private: this process has a network namespace of its "
        "own and cannot reach --replay_buffer_server_address; drop --network"
    ]
    # Opening a binary that is closed by default says so.
    done = run("inspect_buffer", "--root_dir=/nonexistent/b", "--network=shared")
    assert done.stderr.splitlines() == [
        "warning: --network=shared: the Reverb servers of this process listen on "
        "all addresses of this machine without authentication",
        "error: no such buffer directory: /nonexistent/b",
    ]
    done = run("inspect_buffer", "--root_dir=/nonexistent/b", "--network=open")
    assert done.returncode == 2
    assert "--network" in done.stderr and len(done.stderr.splitlines()) == 1


def test_check_port_free_refuses_a_listener_in_one_line():
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_STREAM) as listener:
            try:
                listener.bind((host, 0))
            except OSError:
                continue  # no IPv6 here
            listener.listen()
            port = listener.getsockname()[1]
            with pytest.raises(network_isolation.PortInUseError) as error:
                network_isolation.check_port_free(port, "ReplayBufferManager.port")
            message = str(error.value)
            assert message.startswith(f"ReplayBufferManager.port: port {port} ")
            assert "\n" not in message
    network_isolation.check_port_free(port)  # closed again: free
    network_isolation.check_port_free(0)  # "pick one"
    network_isolation.check_port_free(None)


def test_listening_notice_and_run_json_record():
    shared = network_isolation.NetworkStatus("shared", "", "net:[1]")
    assert "all IPv4 and IPv6" in network_isolation.listening_notice([8000], shared)
    assert "no authentication" in network_isolation.listening_notice(
        [8000, 8001], shared
    )
    inherited = network_isolation.NetworkStatus("inherited", "x", "net:[2]")
    assert network_isolation.listening_notice([8000, 8001], inherited) == (
        "Listening on *:8000 and *:8001 inside this run's private network "
        "namespace (net:[2]): reachable only by this run's processes."
    )
    assert inherited.private and not shared.private
    assert inherited.to_json() == {
        "network": "inherited",
        "detail": "x",
        "namespace": "net:[2]",
    }
