"""Sampling throughput: transitions/s out of a dataset iterator.

Groups "sample B=64 in-process", "sample B=256 in-process" (server in this
process: Reverb skips gRPC) and "sample B=64 2nd process", "sample B=256 2nd
process" (server in a child process, reached over gRPC). Baseline of each:
the plain TF-Agents call `ReverbReplayBuffer.as_dataset(sample_batch_size=B,
num_steps=2)`. Rows:
  * `ReplayBufferManager.get_dataset(B)`: for whole items (num_steps =
    sequence_length) one Reverb `TrajectoryDataset`, batched, the sample info
    spread to [B, T] once per batch (`replay_buffer.whole_item_dataset`);
    its element structure is checked to equal `as_dataset`'s;
  * raw `reverb.TrajectoryDataset` (in flight 2B, `.batch(B)`): the floor of
    what a tf.data pipeline over Reverb costs; its elements are Reverb's
    `ReplaySample`, not TF-Agents' (Trajectory, SampleInfo);
  * in process only: a numpy gather (the in-process floor) and, at B = 256,
    `TFUniformReplayBuffer.as_dataset`;
  * B = 256 with the server in the 2nd process (the case where TF-Agents'
    pipeline was slowest): `whole_item_dataset` with other worker-thread
    counts than get_dataset's two (left out with `quick`). (Measured and dropped in earlier
    runs: `as_dataset` with num_parallel_calls and prefetch AUTOTUNE, 0.90x;
    with `max_cycle_length=1` and 2B in flight, ~0.3x; `max_cycle_length=4`,
    ~0.7x; get_dataset's pipeline with 4B in flight or prefetch 4, level with
    2B and prefetch 2.)

Tables hold 10,000 sequence-2 items written by the manager's observer. Each
value: pipeline built, 3 batches and 0.2 s of warm-up, then batches for at
least 0.3 s; the iterator is dropped before the next row.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from bench import common

BASELINE = "TF-Agents ReverbReplayBuffer.as_dataset(num_steps=2)"
MANAGER = "ReplayBufferManager.get_dataset"
RAW = "raw reverb.TrajectoryDataset (in flight 2B)"
TF_UNIFORM = "TFUniformReplayBuffer.as_dataset(num_steps=2)"
NUMPY = "numpy gather"
# Worker threads of get_dataset's pipeline compared at B = 256 (-1: Reverb's).
WORKER_SETTINGS = (-1, 1, 2, 4)


def _workers_name(workers: int) -> str:
    threads = "Reverb's default" if workers == -1 else str(workers)
    return f"get_dataset pipeline, worker threads: {threads}"


def _rate(make: Callable[[], Any], batch_size: int, min_seconds: float) -> float:
    """Transitions/s of an iterator over `make()` after a warm-up.

    The warm-up (3 batches and 0.2 s at least) absorbs the first batch's
    latency; after the measurement the pipeline is dropped and the process
    left idle for 0.2 s, so that its worker threads and streams wind down
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
    time.sleep(0.2 if min_seconds >= 0.2 else 0.0)
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

    from smart_control.reinforcement_learning.replay_buffer import replay_buffer

    if min_seconds is None:
        min_seconds = 0.05 if quick else 0.3
    frames = 400 if quick else 10_000
    batches = (16,) if quick else (64, 256)
    capacity = 50_000
    spec = common.make_spec()
    steps = common.make_steps(frames)
    table = common.TABLE_NAME

    managers = []
    local = replay_buffer.ReplayBufferManager(
        spec, capacity, tempfile.mkdtemp(prefix="bench_sample_"), table_name=table
    )
    managers.append(local)
    remote_server = common.ServerProcess(capacity)
    remote = replay_buffer.ReplayBufferManager(
        spec, capacity, None, table_name=table, server_address=remote_server.address
    )
    managers.append(remote)
    try:
        for manager in (local, remote):
            _, observer = manager.create_replay_buffer()
            _fill(observer, steps)

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
                }
                largest = batch == batches[-1]
                if where == "in-process":
                    if largest:
                        variants[TF_UNIFORM] = rate(
                            lambda b=batch: tf_uniform.as_dataset(
                                sample_batch_size=b, num_steps=2
                            )
                        )
                    variants[NUMPY] = lambda b=batch: _numpy_gather(
                        arrays, b, min_seconds
                    )
                if largest and where == "2nd process" and not quick:
                    for workers in WORKER_SETTINGS:
                        if workers == replay_buffer._SAMPLE_WORKERS:
                            continue  # that is the get_dataset row
                        variants[_workers_name(workers)] = rate(
                            lambda a=address, b=batch, w=workers: (
                                replay_buffer.whole_item_dataset(
                                    a, table, spec, 2, b, num_workers=w
                                )
                            )
                        )
                groups[f"sample B={batch} {where}"] = variants

        # get_dataset must hand out what as_dataset hands out.
        rb = local.get_replay_buffer_and_observer()[0]
        if not _same_structure(
            local.get_dataset(8), rb.as_dataset(sample_batch_size=8, num_steps=2)
        ):
            raise RuntimeError("get_dataset's element_spec differs from as_dataset's")

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
