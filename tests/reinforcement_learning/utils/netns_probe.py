"""Processes for the network isolation tests: an isolated server and its attackers.

    python -m tests.reinforcement_learning.utils.netns_probe status
    python -m tests.reinforcement_learning.utils.netns_probe launch MODULE ARGS...
    python -m tests.reinforcement_learning.utils.netns_probe server
    python -m tests.reinforcement_learning.utils.netns_probe client PORT
    python -m tests.reinforcement_learning.utils.netns_probe connect PORT [--own-netns|--join PID]
    python -m tests.reinforcement_learning.utils.netns_probe join PID
    python -m tests.reinforcement_learning.utils.netns_probe reverb-client

Every command prints one JSON line per result on stdout. Only `server`,
`client` and `reverb-client` import Reverb (3 s), and only after isolating.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading

from smart_control.reinforcement_learning.utils import network_isolation

TABLE = "isolation_probe"
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1


def _emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def status(argv) -> None:
    """Isolates and prints the status (--child: and a child's status).

    --threads: with a second thread running; --refuse-loopback: with the
    namespace's set-up denied after unshare().
    """
    if "--threads" in argv:
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    if "--refuse-loopback" in argv:
        # As AppArmor's restricted user namespaces do: unshare() succeeds,
        # setting the namespace up is denied.
        def refuse() -> None:
            raise network_isolation.IsolationError("loopback: Operation not permitted")

        network_isolation._bring_loopback_up = refuse
    result = network_isolation.enter_private_network()
    _emit(**result.to_json(), env=os.environ.get(network_isolation.ENV_VAR, ""))
    if "--child" in argv:
        child = subprocess.run(
            [sys.executable, "-m", __spec__.name, "status"],
            capture_output=True,
            text=True,
            check=True,
        )
        print(child.stdout, end="", flush=True)


def launch(argv) -> None:
    """Isolates like a launcher, then runs `python -m ARGV...` as its child.

    Prints the status, then the child's pid, then passes the child's stdout
    through; on stdin EOF it stops the child with SIGTERM and exits with its
    exit code.
    """
    result = network_isolation.enter_private_network()
    _emit(**result.to_json())
    child = subprocess.Popen(
        [sys.executable, "-m", *argv], stdout=subprocess.PIPE, text=True
    )
    _emit(child_pid=child.pid)

    def forward() -> None:
        for line in child.stdout:
            print(line, end="", flush=True)

    threading.Thread(target=forward, daemon=True).start()
    sys.stdin.read()
    child.terminate()
    sys.exit(child.wait())


def server(argv) -> None:
    """An isolated Reverb server and a child client that uses it; stops on stdin EOF.

    The child is forked before anything imports Reverb (the process is still
    single-threaded), as a launcher starts its children: it inherits the
    namespace. (Forked rather than exec'd: a non-root user may be unable to
    exec this interpreter from inside a user namespace, e.g. a venv whose
    base interpreter lies under /root.)
    """
    result = network_isolation.enter_private_network()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Dies with the server, whichever way that ends.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        os.close(write_end)
        with os.fdopen(read_end) as f:
            port = int(f.readline())
        try:
            client([str(port)])
        finally:
            sys.stdout.flush()
            os._exit(0)
    os.close(read_end)
    import reverb

    table = reverb.Table.queue(TABLE, 100)
    srv = reverb.Server([table], port=None)
    _emit(**result.to_json(), port=srv.port, pid=os.getpid(), uid=os.getuid())
    with os.fdopen(write_end, "w") as f:
        f.write(f"{srv.port}\n")
    _, child_status = os.waitpid(pid, 0)
    _emit(child_exit=os.waitstatus_to_exitcode(child_status))
    sys.stdin.read()
    srv.stop()


def client(argv) -> None:
    """Inserts one item through localhost:PORT and reads the table size back."""
    port = int(argv[0])
    inherited = network_isolation.enter_private_network()
    import numpy as np
    import reverb

    c = reverb.Client(f"localhost:{port}")
    c.insert([np.int32(7)], {TABLE: 1.0})
    info = c.server_info(timeout=10)
    _emit(
        client_network=inherited.state,
        client_namespace=inherited.namespace,
        size=int(info[TABLE].current_size),
    )


def connect(argv) -> None:
    """Plain TCP connects to 127.0.0.1:PORT and [::1]:PORT (no Reverb import).

    --own-netns: from a fresh network namespace of this process's own;
    --join PID: from inside process PID's network namespace (root only).
    """
    port = int(argv[0])
    if "--own-netns" in argv:
        os.environ.pop(network_isolation.ENV_VAR, None)
        network_isolation.enter_private_network()
    if "--join" in argv:
        joined = _join(int(argv[argv.index("--join") + 1]))
        if joined != "joined":
            _emit(uid=os.getuid(), join=joined)
            return
    results = {}
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(3)
                s.connect((host, port))
            results[host] = "connected"
        except OSError as e:
            results[host] = type(e).__name__
    _emit(uid=os.getuid(), namespace=network_isolation.current_namespace(), **results)


def join(argv) -> None:
    """Tries to enter the network namespace of process PID (setns)."""
    _emit(uid=os.getuid(), join=_join(int(argv[0])))


def _join(pid: int) -> str:
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    except OSError as e:
        return f"open: {type(e).__name__}"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        return f"setns: {os.strerror(ctypes.get_errno())}"
    return "joined"


def reverb_client(argv) -> None:
    """For each PORT line on stdin: can a Reverb client read localhost:PORT's tables?"""
    import reverb

    _emit(ready=True)
    for line in sys.stdin:
        port = int(line)
        try:
            tables = sorted(reverb.Client(f"localhost:{port}").server_info(timeout=3))
            _emit(port=port, uid=os.getuid(), result="read", tables=tables)
        except Exception as e:  # noqa: BLE001 - any failure is "could not read"
            _emit(port=port, uid=os.getuid(), result=type(e).__name__)


COMMANDS = {
    "status": status,
    "launch": launch,
    "server": server,
    "client": client,
    "connect": connect,
    "join": join,
    "reverb-client": reverb_client,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
