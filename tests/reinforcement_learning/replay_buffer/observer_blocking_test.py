"""FastTrajectoryObserver blocks no longer than TF-Agents' observer (issue 14.3).

Both observers write into tables whose rate limiter refuses inserts after a
few items (no one samples). TF-Agents' observer only waits at episode ends;
ours must not wait mid-episode either, and `close()`/garbage collection must
return whatever the server does. Time bounds are generous: they only catch a
hang.
"""

import gc
import threading
import time

import numpy as np
import pytest
import reverb
from tf_agents.replay_buffers import reverb_utils

from smart_control.reinforcement_learning.replay_buffer import table_config
from smart_control.reinforcement_learning.replay_buffer.fast_observer import (
    FastTrajectoryObserver,
)
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)
from tests.reinforcement_learning.replay_buffer.buffer_testing import (
    make_spec,
    make_step,
)

HANG = 60  # seconds: far beyond any legitimate wait here
STEPS = 200


def _blocked_table(name):
    # Inserts stop once inserts - samples exceeds ~3 items; nothing samples.
    return reverb.Table(
        name,
        reverb.selectors.Uniform(),
        reverb.selectors.Fifo(),
        1000,
        reverb.rate_limiters.SampleToInsertRatio(
            samples_per_insert=1.0, min_size_to_sample=1, error_buffer=3.0
        ),
        signature=table_config.table_signature(make_spec()),
    )


@pytest.fixture
def blocked():
    server = reverb.Server(
        [_blocked_table("tf_agents"), _blocked_table("fast")], port=None
    )
    yield server, reverb.Client(f"localhost:{server.port}")
    server.stop()


def _in_thread(function, *args):
    """Runs `function` in a thread; returns (finished within HANG, seconds)."""
    started = time.monotonic()
    thread = threading.Thread(target=function, args=args, daemon=True)
    thread.start()
    thread.join(HANG)
    return not thread.is_alive(), time.monotonic() - started


def _feed_mid_episode(observer, counter):
    for step_id in range(STEPS):
        observer(make_step(step_id))
        counter.append(step_id)


def test_mid_episode_steps_return_like_tf_agents_under_a_blocking_limiter(blocked):
    _, client = blocked
    reference = reverb_utils.ReverbAddTrajectoryObserver(client, "tf_agents", 2)
    fast = FastTrajectoryObserver(client, "fast", 2)
    returned = {"tf_agents": [], "fast": []}
    reference_done, _ = _in_thread(_feed_mid_episode, reference, returned["tf_agents"])
    fast_done, fast_seconds = _in_thread(_feed_mid_episode, fast, returned["fast"])
    assert reference_done and len(returned["tf_agents"]) == STEPS
    assert fast_done and len(returned["fast"]) == STEPS, (
        f"returned {len(returned['fast'])} of {STEPS} steps"
    )
    info = client.server_info()
    assert info["fast"].current_size == info["tf_agents"].current_size < 10
    # Dropping both while their inserts are blocked returns at once (TF-Agents'
    # writer closes without flushing; ours waits a bounded time).
    del reference
    dropped, _ = _in_thread(lambda: (fast.__del__(), gc.collect()))
    assert dropped


def test_close_returns_in_bounded_time_while_inserts_are_blocked(blocked):
    _, client = blocked
    fast = FastTrajectoryObserver(client, "fast", 2, close_timeout_ms=300)
    _feed_mid_episode(fast, [])
    closed, seconds = _in_thread(fast.close)
    assert closed and seconds < HANG
    # TF-Agents' own close() waits for the server forever here (it flushes
    # without a timeout), so it is not run.


def test_close_returns_when_the_server_is_gone(blocked):
    server, client = blocked
    fast = FastTrajectoryObserver(client, "fast", 2, close_timeout_ms=300)
    _feed_mid_episode(fast, [])
    server.stop()
    closed, _ = _in_thread(fast.close)
    assert closed


def test_the_manager_closes_while_its_observer_is_blocked(tmp_path):
    manager = ReplayBufferManager(
        make_spec(),
        100,
        tmp_path / "buf",
        rate_limiter_factory=lambda: table_config.sample_to_insert_ratio_rate_limiter(
            samples_per_insert=1.0, error_buffer=3.0
        ),
    )
    _, observer = manager.create_replay_buffer()
    fed, _ = _in_thread(_feed_mid_episode, observer, [])
    assert fed
    closed, _ = _in_thread(manager.close)
    assert closed


def test_the_observer_still_waits_at_episode_ends_like_tf_agents(blocked):
    """An episode end blocks while the limiter blocks, as TF-Agents' does:
    collectors are throttled at the same place."""
    server, client = blocked
    fast = FastTrajectoryObserver(client, "fast", 2)

    def one_episode():
        try:
            for i in range(10):
                fast(make_step(i, last=i == 9))
        except Exception:  # The server is stopped under it below.
            pass

    thread = threading.Thread(target=one_episode, daemon=True)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive()
    server.stop()  # releases it


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"priority": "high"}, "priority"),
        ({"priority": -1.0}, "priority"),
        ({"priority": float("nan")}, "priority"),
        ({"sequence_length": 2.5}, "sequence_length"),
        ({"stride_length": "1"}, "stride_length"),
        ({"close_timeout_ms": 0}, "close_timeout_ms"),
        ({"table_name": ""}, "table_name"),
    ],
)
def test_argument_errors_name_the_argument(blocked, kwargs, name):
    _, client = blocked
    args = {"table_name": "fast", "sequence_length": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        FastTrajectoryObserver(client, **args)


def test_batched_trajectories_are_refused_naming_the_batch_size(blocked):
    _, client = blocked
    fast = FastTrajectoryObserver(client, "fast", 2)
    step = make_step(0)
    batched = step._replace(
        step_type=np.full([3], step.step_type),
        observation=np.stack([step.observation] * 3),
    )
    with pytest.raises(
        ValueError, match=r"batch of 3 steps \(step_type shape \(3,\)\)"
    ):
        fast(batched)
