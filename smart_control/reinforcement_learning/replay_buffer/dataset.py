"""The sampling pipeline: `tf.data` datasets of whole items or of sub-sequences.

`ReplayBufferManager.get_dataset` hands out these datasets. Their elements are
those of TF-Agents' `ReverbReplayBuffer.as_dataset(sample_batch_size=B,
num_steps=T)`: (Trajectory [B, T, ...], SampleInfo [B, T]) tuples, the sample
info of each item repeated along its steps.
"""

from __future__ import annotations

from typing import Any, Tuple

import reverb
import tensorflow as tf

from smart_control.reinforcement_learning.replay_buffer.errors import check_int

# Sampling threads, samples in flight per item of a batch, and batches
# prefetched: bench/bench_sample.py measured these against TF-Agents'
# as_dataset. Two threads sample 1.3-1.9x faster than Reverb's default choice
# (one), most over gRPC at B = 256, and leave the train loop's speed alone.
SAMPLE_WORKERS = 2
IN_FLIGHT_PER_SAMPLE = 2
PREFETCH_BATCHES = 2


def whole_item_dataset(
    server_address: str,
    table_name: str,
    data_spec: Any,
    sequence_length: int,
    batch_size: int,
    *,
    num_workers: int = SAMPLE_WORKERS,
    in_flight_per_sample: int = IN_FLIGHT_PER_SAMPLE,
    prefetch: int = PREFETCH_BATCHES,
    rate_limiter_timeout_ms: int = -1,
) -> tf.data.Dataset:
    """Batches of whole items, as `ReverbReplayBuffer.as_dataset` makes them.

    Elements are (Trajectory [batch_size, sequence_length, ...], SampleInfo
    [batch_size, sequence_length]) tuples, like `as_dataset(sample_batch_size=
    batch_size, num_steps=sequence_length)`, from one Reverb
    `TrajectoryDataset` instead of `as_dataset`'s interleave of up to 32.
    `ReplayBufferManager.get_dataset` uses it; the keyword arguments are the
    settings bench/bench_sample.py compares.

    Args:
      server_address: "host:port" of the Reverb server.
      table_name: The table to sample.
      data_spec: Nest of `TensorSpec` of one step.
      sequence_length: Steps per item.
      batch_size: Items per batch.
      num_workers: Sampling threads of the dataset's iterator (-1: Reverb's
        choice).
      in_flight_per_sample: Samples each worker keeps requested per item of
        a batch.
      prefetch: Batches prepared ahead.
      rate_limiter_timeout_ms: How long sampling waits on the rate limiter
        before the dataset ends; -1 waits forever.

    Returns:
      The dataset.
    """
    dataset = reverb.TrajectoryDataset(
        server_address,
        table_name,
        dtypes=tf.nest.map_structure(lambda s: s.dtype, data_spec),
        shapes=tf.nest.map_structure(
            lambda s: tf.TensorShape([sequence_length]).concatenate(s.shape),
            data_spec,
        ),
        max_in_flight_samples_per_worker=in_flight_per_sample * batch_size,
        num_workers_per_iterator=num_workers,
        rate_limiter_timeout_ms=rate_limiter_timeout_ms,
    )

    def to_experience_and_info(sample: reverb.ReplaySample) -> Tuple[Any, Any]:
        # as_dataset repeats every scalar of the info along the item's steps.
        info = tf.nest.map_structure(
            lambda t: tf.tile(t[:, None], [1, sequence_length]), sample.info
        )
        return sample.data, info

    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.map(to_experience_and_info).prefetch(prefetch)


def make_dataset(
    replay_buffer: Any,
    server_address: str,
    table_name: str,
    data_spec: Any,
    sequence_length: int,
    batch_size: int,
    num_steps: int,
    rate_limiter_timeout_ms: int,
) -> tf.data.Dataset:
    """The dataset `get_dataset(batch_size, num_steps)` returns.

    With whole items (`num_steps == sequence_length`) it is one Reverb
    `TrajectoryDataset`, batched, with the info spread once per batch (2-3x
    faster than `as_dataset`, bench/bench_sample.py). Shorter `num_steps`
    split every item into `sequence_length // num_steps` sequences, shuffled,
    through TF-Agents' `as_dataset`.

    Raises:
      ValueError: If `batch_size` or `num_steps` is out of range.
    """
    check_int("batch_size", batch_size, 1)
    check_int("num_steps", num_steps, 1)
    if num_steps > sequence_length or sequence_length % num_steps:
        raise ValueError(
            f"num_steps must divide sequence_length={sequence_length}, "
            f"got {num_steps!r}"
        )
    if num_steps != sequence_length:
        dataset = replay_buffer.as_dataset(
            sample_batch_size=batch_size,
            num_steps=num_steps,
            num_parallel_calls=min(batch_size, 3),
        )
        return dataset.prefetch(3)
    options = replay_buffer.py_client.server_info()[table_name].sampler_options
    # Several threads would take a queue's items out of order (Reverb's
    # TrajectoryDataset docs).
    queue = options.fifo or options.lifo
    return whole_item_dataset(
        server_address,
        table_name,
        data_spec,
        sequence_length,
        batch_size,
        num_workers=1 if queue else SAMPLE_WORKERS,
        rate_limiter_timeout_ms=rate_limiter_timeout_ms,
    )
