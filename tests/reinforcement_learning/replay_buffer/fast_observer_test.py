"""FastTrajectoryObserver writes the same items as TF-Agents' observer.

Each test feeds the same steps to a `ReverbAddTrajectoryObserver` writing to
one queue table and to a `FastTrajectoryObserver` writing to another, then
drains both queues (FIFO order) and compares every item field by field.
"""

import time

import numpy as np
import pytest
import reverb
import tree
from tf_agents.replay_buffers import reverb_utils

from smart_control.reinforcement_learning.replay_buffer import table_config
from smart_control.reinforcement_learning.replay_buffer.fast_observer import (
    FastTrajectoryObserver,
)
from tests.reinforcement_learning.replay_buffer.buffer_testing import (
    make_spec,
    make_step,
)


@pytest.fixture(scope="module")
def server():
    signature = table_config.table_signature(make_spec())
    tables = [
        reverb.Table.queue(name, 10_000, signature=signature)
        for name in ("tf_agents", "fast", "fast_b")
    ]
    server = reverb.Server(tables, port=None)
    yield server
    server.stop()


@pytest.fixture
def client(server):
    client = reverb.Client(f"localhost:{server.port}")
    for name in ("tf_agents", "fast", "fast_b"):
        client.reset(name)
    return client


def _episodes(lengths, first_id=0):
    """Steps of consecutive episodes; each ends with a boundary step."""
    steps, step_id = [], first_id
    for length in lengths:
        for i in range(length):
            steps.append(make_step(step_id, last=i == length - 1))
            step_id += 1
    return steps


def _drain(client, table):
    """Every item of a queue table, oldest first, as (priority, flat arrays)."""
    size = client.server_info()[table].current_size
    items = []
    for sample in client.sample(table, num_samples=size, emit_timesteps=False):
        flat = [np.asarray(x) for x in tree.flatten(sample.data)]
        items.append((float(sample.info.priority), flat))
    return items


def _assert_same_items(client, table_a="tf_agents", table_b="fast"):
    a, b = _drain(client, table_a), _drain(client, table_b)
    assert len(a) == len(b) > 0
    for (prio_a, flat_a), (prio_b, flat_b) in zip(a, b):
        assert prio_a == prio_b
        assert len(flat_a) == len(flat_b)
        for x, y in zip(flat_a, flat_b):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)
    return a


def _feed(observers, steps):
    for step in steps:
        for observer in observers:
            observer(step)


def _pair(client, max_chunk_length=None, **kwargs):
    reference = reverb_utils.ReverbAddTrajectoryObserver(client, "tf_agents", **kwargs)
    fast = FastTrajectoryObserver(
        client, "fast", max_chunk_length=max_chunk_length, **kwargs
    )
    return reference, fast


@pytest.mark.parametrize("max_chunk_length", [None, 32])
@pytest.mark.parametrize(
    "sequence_length, stride_length", [(1, 1), (2, 1), (3, 1), (3, 2), (4, 4)]
)
def test_same_items_as_tf_agents_observer(
    client, sequence_length, stride_length, max_chunk_length
):
    reference, fast = _pair(
        client,
        max_chunk_length,
        sequence_length=sequence_length,
        stride_length=stride_length,
    )
    # Episodes shorter than, equal to and much longer than an item, and more
    # steps than one chunk, so that chunk boundaries fall inside items.
    steps = _episodes([1, 2, sequence_length, 5, 70, 3, 41])
    _feed([reference, fast], steps)
    for observer in (reference, fast):
        observer.flush()
    items = _assert_same_items(client)
    first_ids = [int(flat[1][0, 0]) for _, flat in items]
    assert len(set(first_ids)) == len(first_ids)
    reference.close()
    fast.close()


def test_items_never_span_episodes(client):
    reference, fast = _pair(client, sequence_length=2)
    _feed([reference, fast], _episodes([3, 3]))
    fast.flush()
    reference.flush()
    items = _assert_same_items(client)
    # Episode 1 holds steps 0-2 and episode 2 steps 3-5: no item (2, 3).
    assert [int(flat[1][0, 0]) for _, flat in items] == [0, 1, 3, 4]


def test_reset_drops_or_writes_the_cache_like_tf_agents(client):
    reference, fast = _pair(client, sequence_length=3)
    mid_episode = _episodes([10])[:5]
    _feed([reference, fast], mid_episode)
    for observer in (reference, fast):
        observer.reset(write_cached_steps=False)  # dropped, next item starts anew
    _feed([reference, fast], _episodes([10], first_id=100)[:4])
    for observer in (reference, fast):
        # The last full window is written once more (TF-Agents' behaviour).
        observer.reset(write_cached_steps=True)
    _feed([reference, fast], _episodes([10], first_id=200)[:2])
    for observer in (reference, fast):
        with pytest.raises(ValueError, match="not enough steps"):
            observer.reset(write_cached_steps=True)
        observer.reset(write_cached_steps=False)
        observer.flush()
    _assert_same_items(client)


@pytest.mark.parametrize("tile", [False, True])
def test_padding_matches(client, tile):
    reference, fast = _pair(
        client, sequence_length=3, pad_end_of_episodes=True, tile_end_of_episodes=tile
    )
    _feed([reference, fast], _episodes([1, 2, 5]))
    for observer in (reference, fast):
        observer.flush()
    _assert_same_items(client)


def test_close_then_open_starts_a_new_episode(client):
    reference, fast = _pair(client, sequence_length=2)
    steps = _episodes([20])
    _feed([reference, fast], steps[:7])
    for observer in (reference, fast):
        observer.close()
        observer.open()
    _feed([reference, fast], steps[7:])
    for observer in (reference, fast):
        observer.flush()
    _assert_same_items(client)


def test_several_tables_get_every_item(client):
    fast = FastTrajectoryObserver(
        client, ["fast", "fast_b"], sequence_length=2, max_chunk_length=32
    )
    _feed([fast], _episodes([9]))
    fast.flush()
    _assert_same_items(client, "fast", "fast_b")


def test_flush_makes_every_item_visible(client):
    fast = FastTrajectoryObserver(
        client, "fast", sequence_length=2, max_chunk_length=32, flush_every=0
    )
    _feed([fast], _episodes([40])[:-1])  # no episode end: nothing forces a chunk
    fast.flush()
    assert client.server_info()["fast"].current_size == 38
    assert fast.py_client is client
    assert fast.get_table_signature() == client.server_info()["fast"].signature


def test_periodic_flush_bounds_the_backlog(client):
    fast = FastTrajectoryObserver(
        client, "fast", sequence_length=2, max_chunk_length=8, flush_every=16
    )
    _feed([fast], _episodes([200])[:-1])
    # Without any explicit flush, all but the open chunk's items have landed.
    assert client.server_info()["fast"].current_size >= 198 - 16 - 8


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"sequence_length": 0}, "sequence_length"),
        ({"sequence_length": 2, "stride_length": 0}, "stride_length"),
        ({"sequence_length": 2, "max_chunk_length": 0}, "max_chunk_length"),
        ({"sequence_length": 2, "flush_every": -1}, "flush_every"),
        ({"sequence_length": 2, "tile_end_of_episodes": True}, "pad_end_of_episodes"),
    ],
)
def test_bad_arguments_are_named(client, kwargs, name):
    with pytest.raises(ValueError, match=name):
        FastTrajectoryObserver(client, "fast", **kwargs)


def test_items_arrive_without_flush_like_tf_agents(client):
    """With the default (auto-tuned) chunks, as with TF-Agents' observer, a few
    steps are enough for items to reach the server: a learner sampling right
    after them does not wait forever."""
    reference, fast = _pair(client, sequence_length=2)
    _feed([reference, fast], _episodes([40])[:10])
    deadline = time.monotonic() + 30
    sizes = {}
    while time.monotonic() < deadline:
        info = client.server_info()
        sizes = {name: info[name].current_size for name in ("tf_agents", "fast")}
        if all(sizes.values()):
            break
        time.sleep(0.05)
    assert sizes["tf_agents"] > 0 and sizes["fast"] > 0, sizes


def test_constant_chunks_write_the_same_items(client):
    reference, fast = _pair(client, max_chunk_length=8, sequence_length=2)
    _feed([reference, fast], _episodes([30, 4]))
    for observer in (reference, fast):
        observer.flush()
    _assert_same_items(client)


def test_default_flushes_keep_the_backlog_under_reverbs_warning(client):
    """Reverb's writer warns ("pending items is alarmingly high") at 50 items
    pending; by default the observer waits for the server before that."""
    fast = FastTrajectoryObserver(client, "fast", sequence_length=2)
    _feed([fast], _episodes([300])[:-1])
    assert client.server_info()["fast"].current_size >= 298 - 49
