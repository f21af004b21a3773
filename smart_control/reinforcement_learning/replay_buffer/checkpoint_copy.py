"""Writes a re-configured copy of one table of a Reverb checkpoint.

A server restored from a checkpoint takes the table configuration from
tables.tfrecord, not from the code that starts it (`checkpoint_files.py`
describes the files). To load a buffer into another capacity, sampler, rate
limiter, table name or signature, the manager starts its server from a copy
whose table record carries the wanted configuration, keeping the newest
`capacity` items. The source checkpoint is only read; item and chunk files
that need no change are hard-linked.
"""

from __future__ import annotations

import math
import os
import shutil
from typing import Any, Dict, List

import tensorflow as tf
from reverb.cc import schema_pb2
from reverb.cc.checkpointing import checkpoint_pb2
from tensorflow.python.saved_model import nested_structure_coder

from smart_control.reinforcement_learning.replay_buffer import checkpoint_files


def _write_records(path: str, records: List[bytes]) -> None:
    with tf.io.TFRecordWriter(path, options=checkpoint_files.COMPRESSION) as writer:
        for record in records:
            writer.write(record)


def _link_or_copy(src: str, dst: str) -> None:
    # A hard link costs nothing for a 100 MB chunks file; Reverb only reads it.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_reconfigured_copy(
    checkpoint_path: str,
    output_path: str,
    table: checkpoint_files.TableCheckpoint,
    table_info: Any,
    capacity: int,
    signature: Any,
) -> Dict[str, int]:
    """Writes a copy of one table of a checkpoint with a new configuration.

    The copy holds only `table`, renamed to `table_info.name`, with
    `table_info`'s max_size, sampler, remover, max_times_sampled and rate
    limiter, `signature`, and the newest `capacity` items. The rate
    limiter's counters are set as if the kept items had just been inserted
    and sampled just enough to sit at the centre of the limiter's allowed
    band, so a `SampleToInsertRatio` limiter starts balanced instead of
    blocking inserts until the learner has caught up with the whole starter
    buffer.

    Args:
      checkpoint_path: A complete Reverb checkpoint (only read).
      output_path: A directory to create; must not exist.
      table: What `inspect_table(checkpoint_path, ...)` returned.
      table_info: A `reverb.TableInfo` describing the wanted configuration.
      capacity: Maximum items to keep (the newest are kept).
      signature: The table signature to write (a nest of `TensorSpec`).

    Returns:
      {"items": kept, "dropped": dropped}.
    """
    proto = checkpoint_pb2.PriorityTableCheckpoint()
    proto.CopyFrom(table.proto)
    num_kept = min(table.num_items, capacity)
    dropped = table.num_items - num_kept
    renamed = table_info.name != table.name

    proto.table_name = table_info.name
    proto.max_size = table_info.max_size
    proto.max_times_sampled = table_info.max_times_sampled
    proto.sampler.CopyFrom(table_info.sampler_options)
    proto.remover.CopyFrom(table_info.remover_options)
    proto.signature.CopyFrom(nested_structure_coder.encode_structure(signature))
    limiter = table_info.rate_limiter_info
    proto.rate_limiter.samples_per_insert = limiter.samples_per_insert
    proto.rate_limiter.min_diff = limiter.min_diff
    proto.rate_limiter.max_diff = limiter.max_diff
    proto.rate_limiter.min_size_to_sample = limiter.min_size_to_sample
    proto.rate_limiter.insert_count = num_kept
    proto.rate_limiter.delete_count = 0
    # A limiter lets inserts and samples proceed while inserts * samples_per_insert
    # - samples stays within [min_diff, max_diff]; start at the centre of it.
    centre = (limiter.min_diff + limiter.max_diff) / 2.0
    if not math.isfinite(centre):
        centre = 0.0
    proto.rate_limiter.sample_count = max(
        0, int(round(num_kept * limiter.samples_per_insert - centre))
    )

    os.makedirs(output_path)
    _write_records(
        os.path.join(output_path, checkpoint_files.TABLES_FILE),
        [proto.SerializeToString()],
    )
    src_chunks = os.path.join(checkpoint_path, checkpoint_files.CHUNKS_FILE)
    dst_chunks = os.path.join(output_path, checkpoint_files.CHUNKS_FILE)
    if dropped == 0 and table.num_tables == 1 and not renamed:
        # Nothing to leave out: the item and chunk records stay as they are
        # (only the table record carries the configuration).
        _link_or_copy(
            os.path.join(checkpoint_path, checkpoint_files.ITEMS_FILE),
            os.path.join(output_path, checkpoint_files.ITEMS_FILE),
        )
        _link_or_copy(src_chunks, dst_chunks)
    else:
        records = []
        kept = table.items[dropped:]
        for item in kept:
            if renamed:
                item = schema_pb2.PrioritizedItem.FromString(item.SerializeToString())
                item.table = table_info.name
            records.append(item.SerializeToString())
        _write_records(os.path.join(output_path, checkpoint_files.ITEMS_FILE), records)
        if dropped == 0 and table.num_tables == 1:
            _link_or_copy(src_chunks, dst_chunks)
        else:
            referenced = checkpoint_files.referenced_chunk_keys(kept)
            chunks = [
                record
                for record in checkpoint_files.read_records(src_chunks)
                if checkpoint_files.chunk_key(record, src_chunks) in referenced
            ]
            _write_records(dst_chunks, chunks)
    with open(os.path.join(output_path, checkpoint_files.DONE_FILE), "w"):
        pass
    return {"items": num_kept, "dropped": dropped}
