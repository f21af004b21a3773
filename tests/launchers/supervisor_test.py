"""launchers.supervisor on real child processes (supervisor_child.py)."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from launchers import supervisor

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor_child.py")
_PROJECT_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
# Bounds waits on conditions that hold within milliseconds, so that a broken
# supervisor fails a test instead of hanging it; never a duration asserted.
_PATIENCE_S = 30


def _alive(pid):
    """Whether a process runs (a zombie nobody reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_until(condition, what):
    deadline = time.monotonic() + _PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def _started_pids(tmp_path, name):
    path = tmp_path / f"{name}.started"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _read_json(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture
def group(tmp_path):
    """Makes supervisors over supervisor_child.py; stops any left running."""
    made = []

    def make(children, **kwargs):
        specs = []
        for name, options in children.items():
            options = dict(options)
            args = options.pop("args", [])
            specs.append(
                supervisor.ProcessSpec(
                    name=name,
                    command=[
                        sys.executable,
                        _CHILD,
                        f"--name={name}",
                        f"--dir={tmp_path}",
                        *args,
                    ],
                    log_path=str(tmp_path / "logs" / f"{name}.log"),
                    **{"stop_timeout_s": 10.0, **options},
                )
            )
        kwargs.setdefault("stream", io.StringIO())
        kwargs.setdefault("backoff_s", (0.05,))
        made.append(supervisor.Supervisor(specs, **kwargs))
        return made[-1]

    yield make
    for sup in made:
        sup.stop()
        for process in sup.summary()["processes"].values():
            assert not any(_alive(pid) for pid in process["pids"])


def _started(tmp_path, *names):
    return "--wait_for=" + ",".join(str(tmp_path / f"{n}.started") for n in names)


def _no_child_alive(summary):
    pids = [p for proc in summary["processes"].values() for p in proc["pids"]]
    return [pid for pid in pids if _alive(pid)] == []


def test_output_is_prefixed_and_absl_info_stays_in_the_log(group, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "talker.log").write_text("from an earlier run\n")
    stream = io.StringIO()
    sup = group(
        {
            "talker": {"args": ["--print_lines", "--exit_code=0"], "primary": True},
        },
        stream=stream,
    )

    summary = sup.wait()

    assert summary["outcome"] == supervisor.SUCCESS
    terminal = stream.getvalue().splitlines()
    assert "[talker] hello from talker" in terminal
    assert "[talker] to stderr from talker" in terminal
    assert "[talker] W0101 00:00:00.000000 1 child.py:2] an absl WARNING" in terminal
    assert "[talker] a last line without newline" in terminal
    assert not any("absl INFO" in line for line in terminal)
    log = (tmp_path / "logs" / "talker.log").read_text()
    assert log.startswith("from an earlier run\n")  # appended, not overwritten
    assert "I0101 00:00:00.000000 1 child.py:1] an absl INFO detail\n" in log
    assert "hello from talker\n" in log and "to stderr from talker\n" in log
    assert "[supervisor]" in log and "exited with code 0" in log
    json.dumps(summary)


def test_lines_of_concurrent_processes_never_mix(group, tmp_path):
    stream = io.StringIO()
    names = ["aa", "bb", "cc"]
    children = {n: {"args": ["--burst=300", "--exit_code=0"]} for n in names}
    sup = group(children, stream=stream)

    assert sup.wait()["outcome"] == supervisor.SUCCESS

    lines = stream.getvalue().splitlines()
    output = [line for line in lines if not line.startswith("[supervisor] ")]
    assert len(output) == 3 * 300
    for line in output:
        assert re.fullmatch(r"\[(aa|bb|cc)\] (\1){200}", line), line[:80]


def test_primary_exit_zero_stops_the_others_with_sigterm(group, tmp_path):
    events = []
    sup = group(
        {
            "server": {"stop_order": 1},
            "worker": {"restart": True},
            "trainer": {
                "args": [_started(tmp_path, "server", "worker"), "--exit_code=0"],
                "primary": True,
            },
        },
        on_event=events.append,
    )

    summary = sup.wait()

    assert summary["outcome"] == supervisor.SUCCESS
    assert summary["reason"] == "trainer exited with code 0"
    procs = summary["processes"]
    assert procs["trainer"]["status"] == supervisor.EXITED
    assert procs["trainer"]["exit_codes"] == [0]
    for name in ("server", "worker"):
        assert procs[name]["status"] == supervisor.STOPPED
        assert procs[name]["exit_codes"] == [0]  # its SIGTERM handler's exit
        assert procs[name]["restarts"] == 0
        terminated = _read_json(tmp_path / f"{name}.terminated")
        assert terminated["pid"] == procs[name]["pids"][0]
        assert procs[name]["started_at"] <= procs[name]["ended_at"]
    assert _no_child_alive(summary)
    kinds = [e["event"] for e in events]
    assert kinds.count("started") == 3 and kinds[-1] == "done"
    assert events[-1]["outcome"] == supervisor.SUCCESS
    json.dumps(events)


def test_restartable_child_killed_is_restarted(group, tmp_path):
    stream = io.StringIO()
    events = []
    sup = group(
        {
            "worker": {"restart": True},
            "trainer": {
                "args": [f"--wait_for={tmp_path / 'finish'}", "--exit_code=0"],
                "primary": True,
            },
        },
        stream=stream,
        on_event=events.append,
        max_restarts=2,
        backoff_s=(0.2, 0.4),
    )
    sup.start()
    first = sup.pid("worker")
    _wait_until(lambda: _started_pids(tmp_path, "worker") == [first], "worker up")

    sup.kill("worker", signal.SIGKILL)
    _wait_until(lambda: sup.pid("worker") not in (None, first), "worker restarted")

    live = sup.summary()["processes"]["worker"]
    assert live["status"] == supervisor.RUNNING
    assert live["restarts"] == 1
    assert live["exit_codes"] == [-9]
    assert live["pids"] == [first, sup.pid("worker")]
    assert not _alive(first)
    assert (
        "[supervisor] worker exited with signal SIGKILL (-9); restarting in 0.2 s "
        "(restart 1 of 2)\n"
    ) in stream.getvalue()
    exits = [e for e in events if e["event"] == "exited"]
    assert exits[0]["exit_code"] == -9 and not exits[0]["requested"]
    assert any(e["event"] == "restarting" and e["restart"] == 1 for e in events)

    (tmp_path / "finish").touch()
    summary = sup.wait()
    assert summary["outcome"] == supervisor.SUCCESS
    assert summary["processes"]["worker"]["status"] == supervisor.STOPPED
    assert _no_child_alive(summary)


def test_max_restarts_then_gives_up_and_stop_on_failure_stops(group, tmp_path):
    stream = io.StringIO()
    events = []
    sup = group(
        {
            "flaky": {"args": ["--exit_code=3"], "restart": True},
            "trainer": {"primary": True},
        },
        stream=stream,
        on_event=events.append,
        max_restarts=2,
        stop_on_failure=True,
    )

    summary = sup.wait()

    flaky = summary["processes"]["flaky"]
    assert flaky["status"] == supervisor.FAILED
    assert flaky["restarts"] == 2
    assert flaky["exit_codes"] == [3, 3, 3]
    assert len(set(flaky["pids"])) == 3
    assert summary["outcome"] == supervisor.FAILED
    assert summary["processes"]["trainer"]["status"] == supervisor.STOPPED
    assert (
        "[supervisor] flaky exited with code 3; giving up after 2 restarts\n"
        in stream.getvalue()
    )
    assert [e["name"] for e in events if e["event"] == "gave_up"] == ["flaky"]
    assert _no_child_alive(summary)


def test_non_restartable_failure_is_recorded_and_group_runs_on(group, tmp_path):
    sup = group(
        {
            "helper": {"args": ["--exit_code=2"]},
            "trainer": {
                "args": [f"--wait_for={tmp_path / 'finish'}", "--exit_code=0"],
                "primary": True,
            },
        },
    )
    sup.start()
    _wait_until(
        lambda: sup.summary()["processes"]["helper"]["status"] == supervisor.FAILED,
        "helper failed",
    )
    assert sup.summary()["outcome"] == supervisor.RUNNING

    (tmp_path / "finish").touch()
    summary = sup.wait()
    assert summary["outcome"] == supervisor.SUCCESS
    assert summary["processes"]["helper"]["exit_codes"] == [2]
    assert summary["processes"]["helper"]["restarts"] == 0


def test_non_restartable_failure_with_stop_on_failure_fails_the_group(group, tmp_path):
    stream = io.StringIO()
    sup = group(
        {
            "server": {"args": [_started(tmp_path, "trainer"), "--exit_code=2"]},
            "trainer": {"primary": True},
        },
        stream=stream,
        stop_on_failure=True,
    )

    summary = sup.wait()

    assert summary["outcome"] == supervisor.FAILED
    assert summary["reason"] == "server exited with code 2"
    assert summary["processes"]["server"]["status"] == supervisor.FAILED
    assert summary["processes"]["trainer"]["status"] == supervisor.STOPPED
    assert "[supervisor] server exited with code 2; not restarted" in stream.getvalue()
    assert (tmp_path / "trainer.terminated").exists()


def test_primary_failure_fails_the_group(group, tmp_path):
    sup = group(
        {
            "worker": {"restart": True},
            "trainer": {
                "args": [_started(tmp_path, "worker"), "--exit_code=4"],
                "primary": True,
            },
        },
    )

    summary = sup.wait()

    assert summary["outcome"] == supervisor.FAILED
    assert summary["processes"]["trainer"]["status"] == supervisor.FAILED
    assert summary["processes"]["worker"]["status"] == supervisor.STOPPED


def test_stop_order_stops_the_server_after_everything_else(group, tmp_path):
    # The writers linger after SIGTERM, so a server signalled at the same time
    # would see them alive.
    slow = ["--term_delay_s=0.3"]
    writers = ["collector-0", "collector-1", "trainer"]
    sup = group(
        {
            "server": {"stop_order": 1},
            "collector-0": {"args": slow, "restart": True},
            "collector-1": {"args": slow, "restart": True},
            "trainer": {
                "args": [
                    *slow,
                    _started(tmp_path, "server", *writers[:2]),
                    "--exit_code=0",
                ],
                "primary": True,
            },
        },
    )

    summary = sup.wait()

    assert summary["outcome"] == supervisor.SUCCESS
    server = _read_json(tmp_path / "server.terminated")
    assert server["others_alive"] == []
    for name in writers[:2]:
        assert _read_json(tmp_path / f"{name}.terminated")["others_alive"]  # server
    assert summary["processes"]["server"]["status"] == supervisor.STOPPED


def test_child_ignoring_sigterm_is_killed_after_stop_timeout(group, tmp_path):
    stream = io.StringIO()
    sup = group(
        {
            "stubborn": {"args": ["--ignore_term"], "stop_timeout_s": 0.3},
            "trainer": {
                "args": [_started(tmp_path, "stubborn"), "--exit_code=0"],
                "primary": True,
            },
        },
        stream=stream,
    )

    summary = sup.wait()

    stubborn = summary["processes"]["stubborn"]
    assert stubborn["status"] == supervisor.STOPPED
    assert stubborn["exit_codes"] == [-9]
    assert not (tmp_path / "stubborn.terminated").exists()
    assert (
        "[supervisor] stubborn did not stop within 0.3 s of SIGTERM; sending SIGKILL"
        in stream.getvalue()
    )
    assert _no_child_alive(summary)


def test_collectors_start_once_the_server_is_ready(group, tmp_path):
    server_json = tmp_path / "server.json"
    # A stale file from an earlier server must not count as ready.
    server_json.write_text(json.dumps({"pid": os.getpid()}))
    events = []
    sup = group(
        {
            "server": {
                "args": [f"--ready_json={server_json}", "--ready_delay_s=0.3"],
                "ready": supervisor.PidInJsonFile(str(server_json)),
                "stop_order": 1,
            },
            "collector-0": {"args": [f"--read_json={server_json}"], "restart": True},
            "trainer": {
                "args": [_started(tmp_path, "collector-0"), "--exit_code=0"],
                "primary": True,
            },
        },
        on_event=events.append,
    )

    summary = sup.wait()

    assert summary["outcome"] == supervisor.SUCCESS
    server_pid = summary["processes"]["server"]["pids"][0]
    assert _read_json(tmp_path / "collector-0.seen") == {"seen": {"pid": server_pid}}
    kinds = [(e["event"], e["name"]) for e in events]
    assert kinds.index(("ready", "server")) < kinds.index(("started", "collector-0"))


def test_readiness_timeout_stops_the_group_with_a_clear_error(group, tmp_path):
    server_json = tmp_path / "server.json"
    sup = group(
        {
            "server": {
                "ready": supervisor.PidInJsonFile(str(server_json)),
                "ready_timeout_s": 0.5,
            },
            "trainer": {"primary": True},
        },
    )

    with pytest.raises(supervisor.StartupError) as raised:
        sup.start()

    message = str(raised.value)
    assert "server was not ready within 0.5 s" in message
    assert str(server_json) in message
    assert str(tmp_path / "logs" / "server.log") in message
    summary = sup.summary()
    assert summary["outcome"] == supervisor.FAILED
    assert summary["error"] == message
    assert summary["processes"]["server"]["status"] == supervisor.STOPPED
    assert summary["processes"]["trainer"]["status"] == supervisor.NOT_STARTED
    assert summary["processes"]["trainer"]["pids"] == []
    assert _no_child_alive(summary)
    with pytest.raises(supervisor.StartupError):
        sup.wait()


def test_server_exiting_before_ready_is_a_startup_error(group, tmp_path):
    sup = group(
        {
            "server": {
                "args": ["--exit_code=1"],
                "ready": supervisor.PidInJsonFile(str(tmp_path / "server.json")),
                "restart": True,
            },
            "trainer": {"primary": True},
        },
    )

    with pytest.raises(
        supervisor.StartupError, match="server exited with code 1 before it was ready"
    ):
        sup.wait()

    assert sup.summary()["processes"]["server"]["restarts"] == 0


def test_command_that_cannot_start_is_a_startup_error(tmp_path):
    spec = supervisor.ProcessSpec(
        name="ghost",
        command=[str(tmp_path / "no-such-program")],
        log_path=str(tmp_path / "ghost.log"),
    )
    sup = supervisor.Supervisor([spec], stream=io.StringIO())

    with pytest.raises(supervisor.StartupError, match="cannot start ghost"):
        sup.start()


def test_requested_restart_is_not_counted_as_a_fault(group, tmp_path):
    sup = group({"worker": {}, "trainer": {"primary": True}})
    sup.start()
    first = sup.pid("worker")
    _wait_until(lambda: _started_pids(tmp_path, "worker") == [first], "worker up")

    second = sup.restart("worker")

    assert second not in (None, first)
    assert _read_json(tmp_path / "worker.terminated")["pid"] == first
    worker = sup.summary()["processes"]["worker"]
    assert worker["restarts"] == 0 and worker["requested_restarts"] == 1
    assert worker["exit_codes"] == [0] and worker["status"] == supervisor.RUNNING
    assert sup.stop()["outcome"] == supervisor.INTERRUPTED


def test_keyboard_interrupt_stops_every_child_before_propagating(group, tmp_path):
    sup = group(
        {
            "server": {"stop_order": 1},
            "worker": {"restart": True},
            "trainer": {"primary": True},
        },
    )
    names = ["server", "worker", "trainer"]

    def interrupt_once_all_started():
        # Children only start inside wait(), which handles the interrupt.
        _wait_until(
            lambda: all(_started_pids(tmp_path, n) for n in names), "all started"
        )
        os.kill(os.getpid(), signal.SIGINT)

    # A test run started in the background inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sender = threading.Thread(target=interrupt_once_all_started)
        sender.start()
        with pytest.raises(KeyboardInterrupt):
            sup.wait()
        sender.join()
    finally:
        signal.signal(signal.SIGINT, previous)

    summary = sup.summary()
    assert summary["outcome"] == supervisor.INTERRUPTED
    assert _no_child_alive(summary)
    for name in names:
        assert summary["processes"][name]["status"] == supervisor.STOPPED
        assert (tmp_path / f"{name}.terminated").exists()
    assert _read_json(tmp_path / "server.terminated")["others_alive"] == []


_LAUNCHER = textwrap.dedent(
    """
    import sys
    from launchers import supervisor
    child, directory = sys.argv[1], sys.argv[2]
    specs = [
        supervisor.ProcessSpec(
            name=name,
            command=[sys.executable, child, f"--name={name}", f"--dir={directory}"],
            log_path=f"{directory}/{name}.log",
            restart=True,
        )
        for name in ("a", "b")
    ]
    supervisor.Supervisor(specs).wait()
    """
)


def test_sigkilled_launcher_leaves_no_child_behind(tmp_path):
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, _CHILD, str(tmp_path)],
        cwd=_PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": _PROJECT_ROOT},
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_until(
            lambda: _started_pids(tmp_path, "a") and _started_pids(tmp_path, "b"),
            "children started",
        )
    finally:
        launcher.kill()
        launcher.wait()
    pids = _started_pids(tmp_path, "a") + _started_pids(tmp_path, "b")
    _wait_until(lambda: not any(_alive(pid) for pid in pids), "children ended")
    assert (tmp_path / "a.terminated").exists()  # by PR_SET_PDEATHSIG's SIGTERM


def test_invalid_specs_are_rejected(tmp_path):
    def spec(name, **kwargs):
        return supervisor.ProcessSpec(name, ["true"], str(tmp_path / "x.log"), **kwargs)

    with pytest.raises(ValueError, match="unique"):
        supervisor.Supervisor([spec("a"), spec("a")])
    with pytest.raises(ValueError, match="primary"):
        supervisor.Supervisor([spec("a", primary=True), spec("b", primary=True)])
    with pytest.raises(ValueError, match="backoff_s"):
        supervisor.Supervisor([spec("a")], backoff_s=())
