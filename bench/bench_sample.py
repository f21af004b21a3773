"""Sampling throughput: transitions/s out of a dataset iterator.

Groups "sample B=64 in-process", "sample B=256 in-process" (server in this
process: Reverb skips gRPC) and "sample B=64 2nd process", "sample B=256 2nd
process" (server in a child process, reached over gRPC). Baseline of each:
the plain TF-Agents call `ReverbReplayBuffer.as_dataset(sample_batch_size=B,
num_steps=2)`. Rows:
  * `ReplayBufferManager.get_dataset(B)` as it is;
  * raw `reverb.TrajectoryDataset` (in flight 2B, `.batch(B)`): the floor of
    what a tf.data pipeline over Reverb costs; its elements are Reverb's
    `ReplaySample`, not TF-Agents' (Trajectory, SampleInfo);
  * `lean_dataset` (below), the proposed `get_dataset`: one
    TrajectoryDataset, batched, the sample info broadcast per batch, same
    output structure as get_dataset (checked);
  * in process only: a numpy gather (the in-process floor) and, at B = 256,
    `lean_dataset` over a table written by FastTrajectoryObserver with
    32-step chunks, and `TFUniformReplayBuffer.as_dataset`;
  * B = 256 only: other dataset settings (in process: num_parallel_calls and
    prefetch AUTOTUNE, lean with one worker thread, lean with 4B in flight;
    in the 2nd process: lean with one worker thread); left out with `quick`.
    (Measured and dropped: `max_cycle_length=1` with 2B in flight, ~0.3x;
    `max_cycle_length=4`, ~0.7x.)

Tables hold sequence-2 items written by the manager's observer (unless said
otherwise). Each value: pipeline built, 3 batches of warm-up, then batches
for at least 0.6 s; the iterator is dropped before the next row.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from bench import common

BASELINE = "TF-Agents ReverbReplayBuffer.as_dataset(num_steps=2)"
MANAGER = "ReplayBufferManager.get_dataset (current)"
RAW = "raw reverb.TrajectoryDataset (in flight 2B)"
LEAN = "lean_dataset (proposed get_dataset)"
LEAN_FAST_TABLE = "lean_dataset over 32-step-chunk items"
TF_UNIFORM = "TFUniformReplayBuffer.as_dataset(num_steps=2)"
NUMPY = "numpy gather"
SETTINGS = {
    "as_dataset, num_parallel_calls=AUTOTUNE, prefetch(AUTOTUNE)": "autotune",
    "lean_dataset, 1 worker thread": "lean_1_worker",
    "lean_dataset, in flight 4B": "lean_4b",
}


def lean_dataset(
    server_address: str,
    table_name: str,
    data_spec: Any,
    batch_size: int,
    sequence_length: int,
    *,
    max_in_flight_per_batch: int = 2,
    num_workers_per_iterator: int = -1,
    prefetch: int = 2,
    rate_limiter_timeout_ms: int = -1,
) -> Any:
    """A dataset of (Trajectory [B, T, ...], SampleInfo [B, T]), as get_dataset.

    TF-Agents' `as_dataset` interleaves min(B, 32) TrajectoryDatasets, each
    with its own workers and streams, and broadcasts the sample info with a
    map per sequence. One TrajectoryDataset with 2B samples in flight, batched
    first and broadcast once per batch, yields the same structure for less.
    """
    import reverb
    import tensorflow as tf

    dtypes = tf.nest.map_structure(lambda s: s.dtype, data_spec)
    shapes = tf.nest.map_structure(
        lambda s: tf.TensorShape([sequence_length]).concatenate(s.shape), data_spec
    )
    dataset = reverb.TrajectoryDataset(
        server_address,
        table_name,
        dtypes,
        shapes,
        max_in_flight_samples_per_worker=max_in_flight_per_batch * batch_size,
        num_workers_per_iterator=num_workers_per_iterator,
        rate_limiter_timeout_ms=rate_limiter_timeout_ms,
    )
    dataset = dataset.batch(batch_size, drop_remainder=True)

    def to_trajectory_and_info(sample):
        info = tf.nest.map_structure(
            lambda t: tf.tile(t[:, None], [1, sequence_length]), sample.info
        )
        return sample.data, info

    return dataset.map(to_trajectory_and_info).prefetch(prefetch)


def _rate(make: Callable[[], Any], batch_size: int, min_seconds: float) -> float:
    """Transitions/s of an iterator over `make()` after a warm-up.

    The warm-up (3 batches and 0.2 s at least) absorbs the first batch's
    latency; after the measurement the pipeline is dropped and the process
    left idle for 0.3 s, so that its worker threads and streams wind down
    before the next row is built.
    """
    dataset = make()
    iterator = iter(dataset)
    start = time.perf_counter()
    warm = 0
    while warm < 3 or time.perf_counter() - start < min(0.2, min_seconds):
        next(iterator)
        warm += 1
    batches = 0
    start = time.perf_counter()
    while True:
        next(iterator)
        batches += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and batches >= 5:
            break
    del iterator, dataset
    common.collect()
    time.sleep(0.3 if min_seconds >= 0.2 else 0.0)
    return batches * batch_size / elapsed


def _numpy_gather(
    arrays: List[np.ndarray], batch_size: int, min_seconds: float
) -> float:
    rng = np.random.default_rng(0)
    size = len(arrays[0])
    offsets = np.arange(2)
    batches = 0
    start = time.perf_counter()
    while True:
        index = rng.integers(0, size - 1, batch_size)[:, None] + offsets
        batch = [array[index] for array in arrays]  # [B, 2, ...] per field
        del batch
        batches += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and batches >= 5:
            break
    return batches * batch_size / elapsed


def _fill(observer: Any, steps: List[Any]) -> None:
    for step in steps:
        observer(step)
    observer.flush()


def _same_structure(a: Any, b: Any) -> bool:
    import tensorflow as tf

    try:
        tf.nest.assert_same_structure(a.element_spec, b.element_spec)
    except (ValueError, TypeError):
        return False
    return all(
        x.shape == y.shape and x.dtype == y.dtype
        for x, y in zip(
            tf.nest.flatten(a.element_spec), tf.nest.flatten(b.element_spec)
        )
    )


def run(
    repetitions: int = 3, quick: bool = False, min_seconds: Optional[float] = None
) -> List[dict]:
    import reverb
    import tensorflow as tf
    from tf_agents.replay_buffers import tf_uniform_replay_buffer

    from smart_control.reinforcement_learning.replay_buffer.fast_observer import (
        FastTrajectoryObserver,
    )
    from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
        ReplayBufferManager,
    )

    if min_seconds is None:
        min_seconds = 0.05 if quick else 0.6
    frames = 400 if quick else 20_000
    batches = (16,) if quick else (64, 256)
    capacity = 50_000
    spec = common.make_spec()
    steps = common.make_steps(frames)
    table = common.TABLE_NAME

    managers = []
    local = ReplayBufferManager(
        spec, capacity, tempfile.mkdtemp(prefix="bench_sample_"), table_name=table
    )
    managers.append(local)
    fast_table = ReplayBufferManager(
        spec, capacity, tempfile.mkdtemp(prefix="bench_sample_"), table_name=table
    )
    managers.append(fast_table)
    remote_server = common.ServerProcess(capacity)
    remote = ReplayBufferManager(
        spec, capacity, None, table_name=table, server_address=remote_server.address
    )
    managers.append(remote)
    try:
        for manager in (local, remote):
            _, observer = manager.create_replay_buffer()
            _fill(observer, steps)
        buffer, _ = fast_table.create_replay_buffer()
        fast_observer = FastTrajectoryObserver(
            buffer.py_client, table, 2, max_chunk_length=32
        )
        _fill(fast_observer, steps)
        fast_observer.close()

        tf_uniform = tf_uniform_replay_buffer.TFUniformReplayBuffer(
            spec, batch_size=100, max_length=frames // 100 + 1
        )
        flat_steps = [tf.nest.flatten(s) for s in steps]
        arrays = [np.stack(column) for column in zip(*flat_steps)]
        for start in range(0, frames - 99, 100):
            tf_uniform.add_batch(
                tf.nest.pack_sequence_as(spec, [a[start : start + 100] for a in arrays])
            )

        groups: Dict[str, Dict[str, Callable[[], float]]] = {}
        for where, manager in (("in-process", local), ("2nd process", remote)):
            address = manager.server_address
            rb = manager.get_replay_buffer_and_observer()[0]
            for batch in batches:

                def rate(make, batch=batch):
                    return lambda: _rate(make, batch, min_seconds)

                def lean(b=batch, address=address, **kwargs):
                    return lean_dataset(address, table, spec, b, 2, **kwargs)

                variants = {
                    BASELINE: rate(
                        lambda rb=rb, b=batch: rb.as_dataset(
                            sample_batch_size=b, num_steps=2
                        )
                    ),
                    MANAGER: rate(lambda m=manager, b=batch: m.get_dataset(b)),
                    RAW: rate(
                        lambda a=address, b=batch: (
                            reverb.TrajectoryDataset.from_table_signature(
                                a, table, max_in_flight_samples_per_worker=2 * b
                            ).batch(b, drop_remainder=True)
                        )
                    ),
                    LEAN: rate(lean),
                }
                largest = batch == batches[-1]
                if where == "in-process":
                    if largest:
                        fast_address = fast_table.server_address
                        variants[LEAN_FAST_TABLE] = rate(
                            lambda b=batch, a=fast_address: lean_dataset(
                                a, table, spec, b, 2
                            )
                        )
                        variants[TF_UNIFORM] = rate(
                            lambda b=batch: tf_uniform.as_dataset(
                                sample_batch_size=b, num_steps=2
                            )
                        )
                    variants[NUMPY] = lambda b=batch: _numpy_gather(
                        arrays, b, min_seconds
                    )
                if largest and not quick:
                    settings = {
                        "autotune": lambda rb=rb, b=batch: rb.as_dataset(
                            sample_batch_size=b,
                            num_steps=2,
                            num_parallel_calls=tf.data.AUTOTUNE,
                        ).prefetch(tf.data.AUTOTUNE),
                        "lean_1_worker": lambda: lean(num_workers_per_iterator=1),
                        "lean_4b": lambda: lean(max_in_flight_per_batch=4),
                    }
                    for name, key in SETTINGS.items():
                        if where == "in-process" or key == "lean_1_worker":
                            variants[name] = rate(settings[key])
                groups[f"sample B={batch} {where}"] = variants

        # The proposed pipeline must hand out what get_dataset hands out.
        proposed = lean_dataset(local.server_address, table, spec, 8, 2)
        if not _same_structure(proposed, local.get_dataset(8)):
            raise RuntimeError("lean_dataset's element_spec differs from get_dataset's")
        del proposed

        values = {(g, n): [] for g, variants in groups.items() for n in variants}
        order = list(values)
        for _, key in common.interleaved(repetitions, order):
            group, name = key
            values[key].append(groups[group][name]())
    finally:
        for manager in managers:
            manager.close()
        remote_server.close()
    return [
        common.row(
            group,
            name,
            "transitions/s",
            values[(group, name)],
            None if name == BASELINE else BASELINE,
        )
        for group, name in order
    ]
