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


def test_stall_reporter_logs_while_no_progress():
    lines = []
    start = time.monotonic()
    with server_health.StallReporter(
        lambda stalled_for: f"stalled for {stalled_for:.1f} s",
        interval_s=0.3,
        log=lines.append,
    ) as reporter:
        time.sleep(1.2)
    elapsed = time.monotonic() - start
    # One line per 0.3 s without progress: at 0.3, 0.6, 0.9 (and 1.2) s.
    assert 2 <= reporter.stalls_reported <= elapsed / 0.3 + 1
    assert len(lines) == reporter.stalls_reported
    stalled = [float(line.split()[2]) for line in lines]
    assert stalled[0] >= 0.3
    assert stalled == sorted(stalled)  # one stall, growing


def test_stall_reporter_is_quiet_while_progressing():
    lines = []
    with server_health.StallReporter(
        lambda stalled_for: "stalled", interval_s=1.0, log=lines.append
    ) as reporter:
        for _ in range(30):  # 1.5 s of progress every 0.05 s
            time.sleep(0.05)
            reporter.progress()
    assert lines == [] and reporter.stalls_reported == 0


def test_stall_reporter_survives_a_failing_describe():
    lines = []

    def describe(stalled_for):
        raise RuntimeError("server gone")

    with server_health.StallReporter(describe, interval_s=0.2, log=lines.append):
        time.sleep(0.7)
    assert lines and "(server gone)" in lines[0] and "no progress for" in lines[0]


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


def test_server_monitor_counts_an_outage_and_logs_the_return(tmp_path):
    port = portpicker.pick_unused_port()
    address = f"localhost:{port}"
    server = _server(tmp_path / "first", port=port)
    lines = []
    try:
        with server_health.ServerMonitor(
            address, "replay server", poll_interval_s=0.2, log=lines.append
        ) as monitor:
            time.sleep(0.5)  # a few polls of a server that is up
            assert monitor.outages == 0 and lines == []
            server.stop()
            assert _wait_until(lambda: not monitor.reachable)
            assert monitor.outages == 1
            server = _server(tmp_path / "second", port=port)
            assert _wait_until(lambda: monitor.reachable)
            time.sleep(0.5)
        assert monitor.outages == 1
        assert monitor.downtime_s > 0
        assert len(lines) == 2, lines
        assert lines[0].startswith(f"replay server at {address} unreachable (outage 1)")
        assert lines[1].startswith(f"replay server at {address} is back after ")
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
