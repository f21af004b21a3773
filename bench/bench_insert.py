"""Insert throughput: frames/s written one step at a time.

Rows (group "insert"; baseline: the TF-Agents observer):
  * numpy preallocated ring: every field of the step copied into
    preallocated arrays (the in-process floor; no sequences, no server);
  * TFUniformReplayBuffer.add_batch, batch 1 (eager);
  * raw reverb `trajectory_writer` (sequence 2, stride 1), the Python writer
    as its docs show it: append, `history[-2:]`, create_item, end_episode;
  * TF-Agents `ReverbAddTrajectoryObserver` (sequence 2);
  * the `ReplayBufferManager` observer (what `create_replay_buffer()` returns:
    `FastTrajectoryObserver`, replay_buffer/fast_observer.py; the same items
    and auto-tuned chunks as TF-Agents' observer);
  * `FastTrajectoryObserver` with constant 32-step chunks;
  * TF-Agents' and the manager's observer with the server in another process.

Each Reverb row writes whole 672-step episodes into a server with the
manager's table and counts the final flush, so every item has landed when
the clock stops; the item count is checked.
"""

from __future__ import annotations

import tempfile
from typing import Any, Callable, Dict, List

import numpy as np

from bench import common

GROUP = "insert"
NUMPY = "numpy preallocated ring"
TF_UNIFORM = "TFUniformReplayBuffer.add_batch, batch 1"
RAW = "raw reverb trajectory_writer (seq 2, stride 1)"
TF_AGENTS = "TF-Agents ReverbAddTrajectoryObserver"
MANAGER = "ReplayBufferManager observer (create_replay_buffer)"
FAST32 = "FastTrajectoryObserver, 32-step chunks"
TF_AGENTS_REMOTE = "TF-Agents observer, server in another process"
FAST_REMOTE = "manager observer (FastTrajectoryObserver), server in another process"


class _RawWriterObserver:
    """Sequence-2 items with Reverb's Python `TrajectoryWriter`, as documented."""

    def __init__(self, client: Any, table: str):
        import tree

        self._map = tree.map_structure
        self._table = table
        self._writer = client.trajectory_writer(num_keep_alive_refs=3)

    def __call__(self, step: Any) -> None:
        writer = self._writer
        writer.append(step)
        if writer.episode_steps >= 2:
            history = writer.history  # rebuilt on every access: read once
            writer.create_item(
                self._table, 1.0, self._map(lambda column: column[-2:], history)
            )
        if step.is_boundary():
            writer.end_episode()

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _numpy_ring(steps: List[Any], frames: int) -> float:
    import tree

    flat0 = tree.flatten(steps[0])
    capacity = frames
    arrays = [np.zeros((capacity, *np.shape(x)), np.asarray(x).dtype) for x in flat0]
    flatten = tree.flatten
    n = len(steps)

    def write():
        index = 0
        for i in range(frames):
            for array, value in zip(arrays, flatten(steps[i % n])):
                array[index] = value
            index += 1
            if index == capacity:
                index = 0

    return frames / common.timed(write)


def _tf_uniform(spec: Any, steps: List[Any], frames: int) -> float:
    import tensorflow as tf
    from tf_agents.replay_buffers import tf_uniform_replay_buffer

    buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
        spec, batch_size=1, max_length=frames
    )
    batched = [tf.nest.map_structure(lambda x: np.asarray(x)[None], s) for s in steps]
    n = len(batched)
    buffer.add_batch(batched[0])  # warm-up: variable creation, op caching
    buffer.clear()

    def write():
        for i in range(frames):
            buffer.add_batch(batched[i % n])

    return frames / common.timed(write)


def _through_observer(
    observer: Any, steps: List[Any], size: Callable[[], int], expected: int
) -> float:
    def write():
        for step in steps:
            observer(step)
        observer.flush()

    rate = len(steps) / common.timed(write)
    if size() != expected:
        raise RuntimeError(f"observer wrote {size()} items, expected {expected}")
    return rate


def run(repetitions: int = 3, quick: bool = False) -> List[dict]:
    import reverb
    from tf_agents.replay_buffers import reverb_utils

    from smart_control.reinforcement_learning.replay_buffer.fast_observer import (
        FastTrajectoryObserver,
    )
    from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
        ReplayBufferManager,
    )

    # 3,000 steps (4 episodes) take about a second through TF-Agents'
    # observer: long enough for a steady rate, short enough for 3 repetitions.
    reverb_frames = 1_000 if quick else 3_000
    numpy_frames = 10_000 if quick else 30_000
    tf_uniform_frames = 100 if quick else 300
    capacity = 2 * reverb_frames
    spec = common.make_spec()
    steps = common.make_steps(reverb_frames)
    expected = common.items_written(reverb_frames)
    table = common.TABLE_NAME

    server = reverb.Server([common.build_table(capacity, spec)], port=None)
    client = reverb.Client(f"localhost:{server.port}")
    remote = common.ServerProcess(capacity)
    remote_client = reverb.Client(remote.address)
    buffer_dir = tempfile.mkdtemp(prefix="bench_insert_")
    manager = ReplayBufferManager(spec, capacity, buffer_dir)
    _, manager_observer = manager.create_replay_buffer()

    def reverb_row(make_observer, on_client):
        def measure():
            on_client.reset(table)
            observer = make_observer(on_client)
            try:
                return _through_observer(
                    observer,
                    steps,
                    lambda: on_client.server_info()[table].current_size,
                    expected,
                )
            finally:
                observer.close()

        return measure

    def manager_row():
        manager.clear()
        return _through_observer(manager_observer, steps, manager.num_frames, expected)

    variants: Dict[str, Callable[[], float]] = {
        NUMPY: lambda: _numpy_ring(steps, numpy_frames),
        TF_UNIFORM: lambda: _tf_uniform(spec, steps, tf_uniform_frames),
        RAW: reverb_row(lambda c: _RawWriterObserver(c, table), client),
        TF_AGENTS: reverb_row(
            lambda c: reverb_utils.ReverbAddTrajectoryObserver(c, table, 2), client
        ),
        MANAGER: manager_row,
        FAST32: reverb_row(
            lambda c: FastTrajectoryObserver(c, table, 2, max_chunk_length=32), client
        ),
        TF_AGENTS_REMOTE: reverb_row(
            lambda c: reverb_utils.ReverbAddTrajectoryObserver(c, table, 2),
            remote_client,
        ),
        FAST_REMOTE: reverb_row(
            lambda c: FastTrajectoryObserver(c, table, 2), remote_client
        ),
    }
    values: Dict[str, List[float]] = {name: [] for name in variants}
    try:
        for _, name in common.interleaved(repetitions, list(variants)):
            values[name].append(variants[name]())
            common.collect()
    finally:
        manager.close()
        server.stop()
        remote.close()
    return [
        common.row(
            GROUP,
            name,
            "frames/s",
            values[name],
            None if name == TF_AGENTS else TF_AGENTS,
        )
        for name in variants
    ]
