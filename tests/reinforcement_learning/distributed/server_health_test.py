"""wait_for_server, StallReporter, ServerMonitor and describe_table, on real servers."""

import threading
import time

import portpicker
import pytest
import reverb

from smart_control.reinforcement_learning.distributed import server_health

FAST_BACKOFF = (0.2, 0.4)


def _server(tmp_path, port=None, rate_limiter=None, name="table"):
    return reverb.Server(
        tables=[
            reverb.Table(
                name=name,
                sampler=reverb.selectors.Uniform(),
                remover=reverb.selectors.Fifo(),
                max_size=100,
                rate_limiter=rate_limiter or reverb.rate_limiters.MinSize(1),
            )
        ],
        port=port,
        checkpointer=reverb.checkpointers.DefaultCheckpointer(str(tmp_path)),
    )


def _insert(address, count, table="table"):
    client = reverb.Client(address)
    for i in range(count):
        client.insert([i], {table: 1.0})


def test_wait_for_server_returns_once_a_late_server_is_up(tmp_path):
    port = portpicker.pick_unused_port()
    address = f"localhost:{port}"
    servers = []
    # Later than the first attempt's 1 s deadline (ATTEMPT_TIMEOUT_S).
    starter = threading.Timer(2.0, lambda: servers.append(_server(tmp_path, port=port)))
    starter.daemon = True
    lines = []
    starter.start()
    try:
        failures = server_health.wait_for_server(
            address,
            "replay server",
            backoff_s=FAST_BACKOFF,
            give_up_after_s=60,
            log=lines.append,
        )
        assert server_health.is_reachable(address)
        assert failures >= 1
        assert len(lines) == failures  # one line per retry
        assert lines[0].startswith(f"replay server at {address} unreachable; retry 1 ")
        assert f"retry {failures} " in lines[-1]
    finally:
        starter.join(timeout=30)
        for server in servers:
            server.stop()


def test_wait_for_server_returns_at_once_when_up(tmp_path):
    server = _server(tmp_path)
    try:
        lines = []
        assert (
            server_health.wait_for_server(
                f"localhost:{server.port}", "replay server", log=lines.append
            )
            == 0
        )
        assert lines == []
    finally:
        server.stop()


def test_wait_for_server_gives_up(tmp_path):
    address = f"localhost:{portpicker.pick_unused_port()}"
    lines = []
    with pytest.raises(server_health.ServerUnavailableError) as error:
        server_health.wait_for_server(
            address,
            "weights server",
            backoff_s=FAST_BACKOFF,
            give_up_after_s=1.5,
            log=lines.append,
        )
    assert f"the weights server at {address} did not answer" in str(error.value)
    assert isinstance(error.value, ConnectionError)
    # Every attempt waits up to 1 s (ATTEMPT_TIMEOUT_S): attempts at about 0
    # and 1.2 s, one retry logged in between.
    assert 1 <= len(lines) <= 2, lines
    assert "retry 1 in 0.2 s" in lines[0]


def test_wait_for_server_returns_when_stopped():
    address = f"localhost:{portpicker.pick_unused_port()}"
    stop = threading.Event()
    result = []
    # Without the stop event this would wait forever (give_up_after_s=None).
    waiter = threading.Thread(
        target=lambda: result.append(
            server_health.wait_for_server(
                address, "replay server", stop, log=lambda line: None
            )
        ),
        daemon=True,
    )
    waiter.start()
    time.sleep(0.5)
    assert not result
    stop.set()
    waiter.join(timeout=30)
    assert result and result[0] >= 0


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def _stall_reporter(clock, describe=None, interval_s=30.0):
    lines = []
    reporter = server_health.StallReporter(
        describe or (lambda stalled_for: f"stalled for {stalled_for:.1f} s"),
        interval_s=interval_s,
        log=lines.append,
        clock=clock,
    )
    return reporter, lines


def test_stall_reporter_logs_once_per_interval_while_no_progress():
    clock = FakeClock()
    reporter, lines = _stall_reporter(clock)
    clock.advance(29.5)
    assert reporter.check() == 0.5  # not due yet
    assert lines == []
    clock.advance(0.5)
    assert reporter.check() == 30.0
    clock.advance(15)
    assert reporter.check() == 15  # same stall, reported 15 s ago
    clock.advance(15)
    reporter.check()
    clock.advance(45)
    reporter.check()  # late: one report, not two
    assert lines == ["stalled for 30.0 s", "stalled for 60.0 s", "stalled for 105.0 s"]
    assert reporter.stalls_reported == 3


def test_stall_reporter_is_quiet_while_progressing():
    clock = FakeClock()
    reporter, lines = _stall_reporter(clock)
    for _ in range(20):  # 10 minutes of progress every 29 s
        clock.advance(29)
        reporter.progress()
        assert reporter.check() == 30.0
    assert lines == [] and reporter.stalls_reported == 0


def test_stall_reporter_counts_a_new_stall_from_the_last_progress():
    clock = FakeClock()
    reporter, lines = _stall_reporter(clock)
    clock.advance(30)
    reporter.check()
    clock.advance(1)
    reporter.progress()  # at 31 s: the stall ends
    clock.advance(29.5)
    assert reporter.check() == 0.5
    assert len(lines) == 1
    clock.advance(0.5)
    reporter.check()
    assert lines == ["stalled for 30.0 s", "stalled for 30.0 s"]


def test_stall_reporter_starts_counting_when_entered():
    clock = FakeClock()
    reporter, lines = _stall_reporter(clock)
    clock.advance(100)  # built long before its loop starts
    with reporter:
        clock.advance(10)
        assert reporter.check() == 20
    assert lines == []


def test_stall_reporter_survives_a_failing_describe():
    def describe(stalled_for):
        raise RuntimeError("server gone")

    clock = FakeClock()
    reporter, lines = _stall_reporter(clock, describe=describe)
    clock.advance(42)
    reporter.check()
    assert lines == ["no progress for 42 s (server gone)"]
    assert reporter.stalls_reported == 1


def test_stall_reporter_thread_reports_and_stops_on_exit():
    """The thread calls check(): one report of a stall the fake clock makes."""
    clock = FakeClock()
    reported = threading.Event()
    lines = []

    def log(line):
        lines.append(line)
        reported.set()

    reporter = server_health.StallReporter(
        lambda stalled_for: "stalled", interval_s=0.25, log=log, clock=clock
    )
    with reporter:
        clock.advance(0.5)
        assert reported.wait(timeout=30)
    # The clock stands still after the report, so the next one is never due.
    assert lines == ["stalled"] and reporter.stalls_reported == 1
    assert not reporter._thread.is_alive()


def test_stall_reporter_needs_a_positive_interval():
    with pytest.raises(ValueError, match="interval_s"):
        server_health.StallReporter(lambda s: "", interval_s=0)


def _wait_until(condition, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_server_monitor_counts_an_outage_and_its_downtime(tmp_path):
    """check() by hand on a real server that stops and comes back, fake clock."""
    port = portpicker.pick_unused_port()
    address = f"localhost:{port}"
    clock = FakeClock()
    lines = []
    monitor = server_health.ServerMonitor(
        address, "replay server", poll_interval_s=0.5, log=lines.append, clock=clock
    )
    server = _server(tmp_path / "first", port=port)
    try:
        assert monitor.check() and monitor.reachable
        assert monitor.outages == 0 and lines == []
        server.stop()
        clock.advance(2)
        assert not monitor.check() and not monitor.reachable
        clock.advance(5)
        assert not monitor.check()  # the same outage
        assert monitor.outages == 1 and monitor.downtime_s == 0
        server = _server(tmp_path / "second", port=port)
        clock.advance(7)
        assert monitor.check() and monitor.reachable
        clock.advance(1)
        assert monitor.check()
    finally:
        server.stop()
    assert monitor.outages == 1 and monitor.downtime_s == 12
    assert lines == [
        f"replay server at {address} unreachable (outage 1); Reverb keeps "
        "unconfirmed items and retries",
        f"replay server at {address} is back after 12 s",
    ]


def test_server_monitor_thread_sees_a_server_go(tmp_path):
    """The thread calls check(): an outage shows in `reachable` without an RPC."""
    port = portpicker.pick_unused_port()
    server = _server(tmp_path, port=port)
    lines = []
    try:
        with server_health.ServerMonitor(
            f"localhost:{port}", "replay server", poll_interval_s=0.2, log=lines.append
        ) as monitor:
            server.stop()
            assert _wait_until(lambda: not monitor.reachable)
        assert monitor.outages == 1 and len(lines) == 1
    finally:
        server.stop()


def test_describe_table_below_min_size(tmp_path):
    server = _server(tmp_path, rate_limiter=reverb.rate_limiters.MinSize(5))
    try:
        address = f"localhost:{server.port}"
        _insert(address, 3)
        text = server_health.describe_table(address, "table")
        assert text == "the replay buffer holds 3 items; sampling starts at 5"
    finally:
        server.stop()


def test_describe_table_without_rate_limit(tmp_path):
    server = _server(tmp_path, rate_limiter=reverb.rate_limiters.MinSize(2))
    try:
        address = f"localhost:{server.port}"
        _insert(address, 3)
        text = server_health.describe_table(address, "table")
        assert text.startswith("the replay buffer holds 3 items and nothing limits")
    finally:
        server.stop()


def test_describe_table_with_a_sample_to_insert_ratio(tmp_path):
    server = _server(
        tmp_path,
        rate_limiter=reverb.rate_limiters.SampleToInsertRatio(
            samples_per_insert=4.0, min_size_to_sample=2, error_buffer=8.0
        ),
    )
    try:
        address = f"localhost:{server.port}"
        _insert(address, 3)
        text = server_health.describe_table(address, "table")
        assert text.startswith("the replay buffer holds 3 items; the rate limiter")
        assert "samples per insert 4" in text
    finally:
        server.stop()


def test_describe_table_unreachable():
    address = f"localhost:{portpicker.pick_unused_port()}"
    text = server_health.describe_table(address, "table", timeout_s=1)
    assert text == f"the replay server at {address} is unreachable (Reverb retries)"
