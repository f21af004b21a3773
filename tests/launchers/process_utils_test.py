"""process_utils: signals held back to a safe point, and groups stopped in time."""

import os
import signal
import subprocess
import sys
import threading

import pytest

from launchers import process_utils


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt (a background run may inherit it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_waits_for_deliver(ctrl_c_raises):
    with process_utils.DeferredSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)
        # Would have raised at once without DeferredSignals.
        assert signals.pending()
        with pytest.raises(KeyboardInterrupt):
            signals.deliver()
        assert not signals.pending()

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_pending_at_exit_is_delivered_then(ctrl_c_raises):
    with pytest.raises(KeyboardInterrupt):
        with process_utils.DeferredSignals():
            os.kill(os.getpid(), signal.SIGINT)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_runs_its_own_handler_at_deliver():
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _: received.append(signum))
    try:
        with process_utils.DeferredSignals() as signals:
            os.kill(os.getpid(), signal.SIGTERM)
            assert received == []
            signals.deliver()
            assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_ignored_ctrl_c_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with process_utils.DeferredSignals() as signals:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            assert not signals.pending()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_nothing_is_changed(ctrl_c_raises):
    seen = []

    def enter_and_look():
        with process_utils.DeferredSignals():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=enter_and_look)
    thread.start()
    thread.join()

    assert seen == [signal.default_int_handler]


def _stubborn_child():
    """A child in its own session that ignores SIGTERM."""
    return process_utils.start_in_session(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(600)",
        ],
        subprocess.PIPE,
    )


def test_stop_groups_gives_up_the_grace_period_when_hurried():
    child = _stubborn_child()
    assert child.stdout.readline() == b"ready\n"
    asked = []

    def hurry():
        asked.append(True)
        return len(asked) > 1

    # Without `hurry`, the 600 s grace period would outlast the join below.
    stopper = threading.Thread(
        target=process_utils.stop_groups, args=([child], 600.0, hurry)
    )
    stopper.start()
    stopper.join(timeout=120)

    assert not stopper.is_alive()
    assert child.returncode == -signal.SIGKILL
    assert len(asked) == 2


def test_stop_groups_sigterms_first():
    child = process_utils.start_in_session(
        [
            sys.executable,
            "-c",
            "print('ready', flush=True); import time; time.sleep(600)",
        ],
        subprocess.PIPE,
    )
    assert child.stdout.readline() == b"ready\n"

    process_utils.stop_groups([child], 60.0)

    assert child.returncode == -signal.SIGTERM
