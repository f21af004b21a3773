"""Closes a run's Reverb servers to everyone but the run's own processes.

Reverb 0.14's `Server` takes no host argument: every server listens on
`[::]:port` (all IPv4 and IPv6 addresses of the machine) and has no
authentication, so any user of the machine, or any host that can route to it,
can read, insert into and reset its tables. Instead of binding to loopback
(impossible), a process moves into a network namespace of its own that holds
only a loopback interface: its servers work as usual for it and for the
processes it starts (they inherit the namespace), and nothing outside can
reach them. As root this is `unshare(CLONE_NEWNET)`; as any other user
`unshare(CLONE_NEWUSER | CLONE_NEWNET)` with the user's own uid and gid mapped
to themselves, so files keep their owner.

The namespace must be entered while the process has a single thread, i.e.
before TensorFlow or Reverb is imported: `unshare` of a user namespace
refuses multithreaded callers, and a network namespace would only move the
calling thread.

A process that isolated itself sets `SMART_CONTROL_PRIVATE_NETWORK` to the
name of its namespace; a child that finds it (and is still in that namespace)
reports "inherited" and leaves it alone, so a launcher that isolates itself
first keeps its server, collectors and trainer in ONE namespace.

    status = network_isolation.enter_private_network()   # before TensorFlow
    run_json["network"] = status.to_json()

Where isolation is unavailable (user namespaces disabled, seccomp, missing
capabilities, not Linux) one warning line says so and the returned status is
"unavailable" with the reason. Nothing here runs at import time.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import os
import socket
import struct
import sys
from typing import Dict, Optional, Sequence, TextIO

# Set by a process that isolated itself, to its namespace ("net:[4026532177]"):
# its children (which inherit both) know they share it and do not unshare.
ENV_VAR = "SMART_CONTROL_PRIVATE_NETWORK"

ISOLATED = "isolated"  # this process entered a namespace of its own
INHERITED = "inherited"  # an ancestor did; this process shares it
UNAVAILABLE = "unavailable"  # wanted, but the kernel or sandbox refused
SHARED = "shared"  # not asked for: servers listen on the machine's addresses

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH22x"  # struct ifreq: name, then ifr_flags in the 24-byte union


@dataclasses.dataclass(frozen=True)
class NetworkStatus:
    """Whether this process's servers are reachable by other processes.

    Attributes:
      state: ISOLATED, INHERITED, UNAVAILABLE or SHARED.
      detail: how it was isolated, or why it could not be.
      namespace: the network namespace the process is in ("net:[inode]").
    """

    state: str
    detail: str = ""
    namespace: str = ""

    @property
    def private(self) -> bool:
        """True if only this run's processes can reach its servers."""
        return self.state in (ISOLATED, INHERITED)

    def to_json(self) -> Dict[str, str]:
        """The status as run.json records it."""
        return {
            "network": self.state,
            "detail": self.detail,
            "namespace": self.namespace,
        }


def current_namespace() -> str:
    """This process's network namespace, e.g. "net:[4026531833]" ("" if unknown)."""
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return ""


def inherited_status() -> Optional[NetworkStatus]:
    """INHERITED if an ancestor isolated itself and this process is still in its namespace.

    The namespace is compared, not just the variable's presence, so that a
    variable copied into an unrelated shell cannot disable isolation.
    """
    recorded = os.environ.get(ENV_VAR, "")
    if recorded and recorded == current_namespace():
        return NetworkStatus(
            INHERITED, "private network namespace of a parent process", recorded
        )
    return None


def shared_status() -> NetworkStatus:
    """The status of a process that does not isolate itself (INHERITED or SHARED)."""
    return inherited_status() or NetworkStatus(
        SHARED, "listens on all addresses of this machine", current_namespace()
    )


class _Unavailable(Exception):
    """Isolation refused before anything changed; the message says why."""


class IsolationError(OSError):
    """The namespace was entered but could not be set up; the process must stop."""


def enter_private_network(warn_to: Optional[TextIO] = None) -> NetworkStatus:
    """Moves this process (and its future children) into a private network namespace.

    Call before any thread starts (before importing TensorFlow or Reverb). A
    no-op returning INHERITED when a parent already did it. Launchers call the
    same function before starting their children: the children then share
    the launcher's namespace and reach each other on localhost.

    Args:
      warn_to: where the one warning line goes when isolation is unavailable
        (default: sys.stderr).

    Returns:
      ISOLATED, INHERITED or UNAVAILABLE (with the reason in `detail`).

    Raises:
      IsolationError: the namespace was entered but could not be set up,
        although a trial run of the same steps had succeeded (servers would
        not work, and there is no way back).
    """
    inherited = inherited_status()
    if inherited:
        return inherited
    try:
        _check_preconditions()
        # A namespace cannot be left again, and some refusals only show after
        # unshare() succeeded (e.g. AppArmor's restricted user namespaces deny
        # bringing lo up). A forked child tries every step first, so that
        # those end as "unavailable" with this process untouched.
        _trial_in_child()
        how = _unshare()
    except _Unavailable as e:
        status = NetworkStatus(UNAVAILABLE, str(e), current_namespace())
        print(unavailable_warning(status), file=warn_to or sys.stderr, flush=True)
        return status
    _bring_loopback_up()
    namespace = current_namespace()
    os.environ[ENV_VAR] = namespace
    return NetworkStatus(ISOLATED, how, namespace)


def _trial_in_child() -> None:
    """Runs unshare, the uid map and loopback set-up in a forked child.

    Raises:
      _Unavailable: with the child's reason, if any step failed there.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_end)
            _unshare()
            _bring_loopback_up()
            code = 0
        except BaseException as e:  # noqa: BLE001 - everything is reported
            os.write(write_end, (str(e) or type(e).__name__).encode()[:2000])
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        reason = f.read().decode(errors="replace")
    _, wait_status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    if code != 0:
        raise _Unavailable(reason or f"trial process exited with {code}")


def unavailable_warning(status: NetworkStatus) -> str:
    """The one warning line for an UNAVAILABLE status."""
    return (
        f"warning: network isolation unavailable ({status.detail}): this run's "
        "Reverb servers listen on all addresses of this machine without "
        "authentication and are reachable by its other users"
    )


def _check_preconditions() -> None:
    if not sys.platform.startswith("linux"):
        raise _Unavailable(f"network namespaces need Linux, this is {sys.platform}")
    threads = _thread_count()
    if threads > 1:
        # unshare(CLONE_NEWUSER) fails with EINVAL here and CLONE_NEWNET would
        # move only this thread: the others (gRPC, TensorFlow pools) stay out.
        raise _Unavailable(
            f"process already runs {threads} threads; isolate before importing "
            "TensorFlow/Reverb"
        )


def _unshare() -> str:
    """Enters new namespaces; returns which. Raises _Unavailable if refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        unshare = libc.unshare
    except (OSError, AttributeError) as e:
        raise _Unavailable(f"no unshare() in the C library: {e}") from None
    unshare.argtypes = [ctypes.c_int]
    failures = []
    if os.geteuid() == 0:
        if unshare(_CLONE_NEWNET) == 0:
            return "network namespace"
        failures.append(f"unshare(CLONE_NEWNET): {_reason(ctypes.get_errno())}")
    # Root without CAP_SYS_ADMIN (a container) may still create a user
    # namespace, which grants the capabilities over the new network namespace.
    uid, gid = os.geteuid(), os.getegid()
    if unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        _map_to_self(uid, gid)
        return "user and network namespace"
    failures.append(
        f"unshare(CLONE_NEWUSER|CLONE_NEWNET): {_reason(ctypes.get_errno())}"
    )
    raise _Unavailable("; ".join(failures))


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _reason(code: int) -> str:
    hints = {
        errno.EPERM: "not permitted: no CAP_SYS_ADMIN, or blocked by seccomp/AppArmor",
        errno.ENOSPC: "user namespaces disabled or exhausted (user.max_user_namespaces)",
        errno.EUSERS: "user namespaces nested too deep",
        errno.EINVAL: "not supported here (kernel or multithreaded process)",
        errno.ENOSYS: "unshare() not supported by this kernel or sandbox",
    }
    return hints.get(code, os.strerror(code))


def _map_to_self(uid: int, gid: int) -> None:
    """Maps the user's own uid and gid into the new user namespace.

    Without a map the process would run as the overflow uid (nobody) and
    create files it cannot chown back; "deny" on setgroups is required before
    an unprivileged process may write gid_map.
    """
    try:
        if os.path.exists("/proc/self/setgroups"):
            _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as e:
        raise IsolationError(
            f"entered a user namespace but could not map uid {uid}/gid {gid}: {e}"
        ) from None


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _bring_loopback_up() -> None:
    """`ip link set lo up` without the ip binary: a new namespace's lo is down."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            request = struct.pack(_IFREQ, b"lo", 0)
            flags = struct.unpack(_IFREQ, fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))
    except OSError as e:
        raise IsolationError(
            "entered a private network namespace but could not bring up its "
            f"loopback interface: {e.strerror or e}"
        ) from None


class PortInUseError(OSError):
    """A server was asked for a port that another socket already listens on."""


def check_port_free(port: int, name: str = "port") -> None:
    """Refuses a port that something in this network namespace already listens on.

    gRPC binds with SO_REUSEPORT, so a Reverb server started on a busy port
    starts without error and the kernel splits connections between the two
    servers. A plain bind (no SO_REUSEPORT) conflicts with any listener,
    whatever its options. SO_REUSEADDR keeps the TIME_WAIT connections of a
    server that just stopped on this port from counting as "in use". There is
    a window between this check and the server's bind; inside a private
    network namespace nothing else can take the port in that window.

    Args:
      port: the explicit port (0 or None, "pick one", is always accepted).
      name: how the user gave the port, e.g. "--port" or "ReplayBufferManager.port".

    Raises:
      PortInUseError: the port is taken; the message names it in one line.
    """
    if not port:
        return
    error = _try_bind(socket.AF_INET6, "::", port)
    if error is not None and error.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
        error = _try_bind(socket.AF_INET, "0.0.0.0", port)
    if error is None:
        return
    if error.errno == errno.EADDRINUSE:
        raise PortInUseError(
            f"{name}: port {port} is already in use on this machine (another "
            "server listens on it and Reverb would silently share it); choose "
            "another port or stop that server"
        )
    raise PortInUseError(f"{name}: cannot use port {port}: {error.strerror}")


def _try_bind(family: int, host: str, port: int) -> Optional[OSError]:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # Dual stack: one bind covers IPv4 listeners too, as gRPC's does.
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind((host, port))
        return None
    except OSError as e:
        return e


def listening_notice(ports: Sequence[int], status: NetworkStatus) -> str:
    """One line for a server's start-up: who can reach `ports`, and that there is no auth."""
    where = " and ".join(f"*:{p}" for p in ports)
    these = "this port" if len(ports) == 1 else "these ports"
    if status.state == INHERITED:
        return (
            f"Listening on {where} inside this run's private network namespace "
            f"({status.namespace}): reachable only by this run's processes."
        )
    if status.state == ISOLATED:
        return (
            f"Listening on {where} inside this process's private network namespace "
            f"({status.namespace}): reachable only by it and its child processes."
        )
    return (
        f"Listening on {where}: all IPv4 and IPv6 addresses of this machine. Reverb "
        f"has no authentication: whoever can reach {these} can read, insert into "
        "and reset the tables (see README, Security)."
    )
