"""Reads Reverb checkpoint files and writes a re-configured copy of one.

A Reverb (0.14) checkpoint directory holds three ZLIB-compressed TFRecord
files and a DONE marker:

  tables.tfrecord   one `PriorityTableCheckpoint` per table: name, max_size,
                    sampler, remover, rate limiter state, signature
  items.tfrecord    one `PrioritizedItem` per item, in insertion order
  chunks.tfrecord   one `ChunkData` per chunk of step data referenced by items

A server restored from a checkpoint takes the table configuration from
tables.tfrecord, not from the code that starts it. To load a buffer into
another capacity (or sampler, or rate limiter) the manager therefore writes a
copy whose table record carries the wanted configuration, keeping the newest
`capacity` items, and starts its server from that copy. The user's checkpoint
is only read.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from typing import Any, Dict, List, Optional

import tensorflow as tf
from reverb.cc import schema_pb2
from reverb.cc.checkpointing import checkpoint_pb2
from tensorflow.python.saved_model import nested_structure_coder

TABLES_FILE = "tables.tfrecord"
ITEMS_FILE = "items.tfrecord"
CHUNKS_FILE = "chunks.tfrecord"
DONE_FILE = "DONE"
_COMPRESSION = "ZLIB"
# Records per batch read: one eager iterator step costs ~0.1 ms whatever it
# holds, so reading one record per step made 50k items take seconds.
_READ_BATCH = 1024


class CheckpointFormatError(ValueError):
    """The directory is not a Reverb checkpoint this version can read."""


def _read_records(path: str) -> List[bytes]:
    if not os.path.isfile(path):
        raise CheckpointFormatError(f"{path} is missing: not a Reverb checkpoint")
    records: List[bytes] = []
    dataset = tf.data.TFRecordDataset(path, compression_type=_COMPRESSION)
    try:
        for batch in dataset.batch(_READ_BATCH).as_numpy_iterator():
            records.extend(batch)
        return records
    except tf.errors.OpError as e:
        raise CheckpointFormatError(f"cannot read {path}: {e.message}") from None


def _write_records(path: str, records: List[bytes]) -> None:
    with tf.io.TFRecordWriter(path, options=_COMPRESSION) as writer:
        for record in records:
            writer.write(record)


@dataclasses.dataclass
class TableCheckpoint:
    """What a checkpoint says about one table.

    `items` (oldest first) and `num_tables` let `write_reconfigured_copy` work
    without reading the checkpoint's files again.
    """

    name: str
    max_size: int
    num_items: int
    sequence_length: Optional[int]
    signature: Any
    proto: checkpoint_pb2.PriorityTableCheckpoint
    items: List[schema_pb2.PrioritizedItem] = dataclasses.field(
        default_factory=list, repr=False
    )
    num_tables: int = 1


def read_tables(
    checkpoint_path: str,
) -> Dict[str, checkpoint_pb2.PriorityTableCheckpoint]:
    records = _read_records(os.path.join(checkpoint_path, TABLES_FILE))
    tables = {}
    for record in records:
        proto = checkpoint_pb2.PriorityTableCheckpoint.FromString(record)
        tables[proto.table_name] = proto
    return tables


def read_items(
    checkpoint_path: str, table_name: str
) -> List[schema_pb2.PrioritizedItem]:
    """The table's items, oldest first."""
    items = []
    for record in _read_records(os.path.join(checkpoint_path, ITEMS_FILE)):
        item = schema_pb2.PrioritizedItem.FromString(record)
        if item.table == table_name:
            items.append(item)
    # The file is written in insertion order; sorting by insertion time with a
    # stable sort only guards against a writer that ever interleaves.
    items.sort(key=lambda it: (it.inserted_at.seconds, it.inserted_at.nanos))
    return items


def item_sequence_length(item: schema_pb2.PrioritizedItem) -> int:
    """Steps in an item: the summed slice lengths of its first column."""
    if not item.flat_trajectory.columns:
        return 0
    column = item.flat_trajectory.columns[0]
    if column.squeeze:
        return 1
    return sum(s.length for s in column.chunk_slices)


def inspect_table(checkpoint_path: str, table_name: str) -> TableCheckpoint:
    """Reads one table's configuration, size and step count from a checkpoint.

    Raises:
      CheckpointFormatError: If the files are unreadable or the table is absent.
    """
    tables = read_tables(checkpoint_path)
    if table_name not in tables:
        raise CheckpointFormatError(
            f"checkpoint {checkpoint_path} has no table {table_name!r} "
            f"(tables: {sorted(tables)})"
        )
    proto = tables[table_name]
    items = read_items(checkpoint_path, table_name)
    signature = None
    if proto.HasField("signature"):
        signature = nested_structure_coder.decode_proto(proto.signature)
    return TableCheckpoint(
        name=table_name,
        max_size=proto.max_size,
        num_items=len(items),
        sequence_length=item_sequence_length(items[0]) if items else None,
        signature=signature,
        proto=proto,
        items=items,
        num_tables=len(tables),
    )


def _link_or_copy(src: str, dst: str) -> None:
    # A hard link costs nothing for a 100 MB chunks file; Reverb only reads it.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_reconfigured_copy(
    checkpoint_path: str,
    output_path: str,
    table_name: str,
    table_info: Any,
    capacity: int,
    table: Optional[TableCheckpoint] = None,
) -> Dict[str, int]:
    """Writes a copy of one table of a checkpoint with a new configuration.

    The copy holds only `table_name`, with `table_info`'s max_size, sampler,
    remover, max_times_sampled and rate limiter, and the newest `capacity`
    items. The rate limiter's counters are set as if the kept items had just
    been inserted and sampled just enough to sit at the centre of the
    limiter's allowed band, so a `SampleToInsertRatio` limiter starts balanced
    instead of blocking inserts until the learner has caught up with the whole
    starter buffer.

    Args:
      checkpoint_path: A complete Reverb checkpoint (only read).
      output_path: A directory to create; must not exist.
      table_name: The table to keep.
      table_info: A `reverb.TableInfo` describing the wanted configuration.
      capacity: Maximum items to keep (the newest are kept).
      table: What `inspect_table(checkpoint_path, table_name)` returned, if
        the caller has it: saves reading the tables and items files again.

    Returns:
      {"items": kept, "dropped": dropped}.
    """
    if table is None:
        table = inspect_table(checkpoint_path, table_name)
    proto = checkpoint_pb2.PriorityTableCheckpoint()
    proto.CopyFrom(table.proto)
    items = table.items
    kept = items[-capacity:] if len(items) > capacity else items
    dropped = len(items) - len(kept)

    proto.max_size = table_info.max_size
    proto.max_times_sampled = table_info.max_times_sampled
    proto.sampler.CopyFrom(table_info.sampler_options)
    proto.remover.CopyFrom(table_info.remover_options)
    limiter = table_info.rate_limiter_info
    proto.rate_limiter.samples_per_insert = limiter.samples_per_insert
    proto.rate_limiter.min_diff = limiter.min_diff
    proto.rate_limiter.max_diff = limiter.max_diff
    proto.rate_limiter.min_size_to_sample = limiter.min_size_to_sample
    proto.rate_limiter.insert_count = len(kept)
    proto.rate_limiter.delete_count = 0
    # A limiter lets inserts and samples proceed while inserts * samples_per_insert
    # - samples stays within [min_diff, max_diff]; start at the centre of it.
    centre = (limiter.min_diff + limiter.max_diff) / 2.0
    if not math.isfinite(centre):
        centre = 0.0
    proto.rate_limiter.sample_count = max(
        0, int(round(len(kept) * limiter.samples_per_insert - centre))
    )

    os.makedirs(output_path)
    _write_records(os.path.join(output_path, TABLES_FILE), [proto.SerializeToString()])
    src_chunks = os.path.join(checkpoint_path, CHUNKS_FILE)
    dst_chunks = os.path.join(output_path, CHUNKS_FILE)
    if dropped == 0 and table.num_tables == 1:
        # Nothing to leave out: the item and chunk records stay as they are
        # (only the table record carries the configuration).
        _link_or_copy(
            os.path.join(checkpoint_path, ITEMS_FILE),
            os.path.join(output_path, ITEMS_FILE),
        )
        _link_or_copy(src_chunks, dst_chunks)
    else:
        _write_records(
            os.path.join(output_path, ITEMS_FILE),
            [it.SerializeToString() for it in kept],
        )
        referenced = {
            s.chunk_key
            for it in kept
            for col in it.flat_trajectory.columns
            for s in col.chunk_slices
        }
        chunks = []
        for record in _read_records(src_chunks):
            if schema_pb2.ChunkData.FromString(record).chunk_key in referenced:
                chunks.append(record)
        _write_records(dst_chunks, chunks)
    with open(os.path.join(output_path, DONE_FILE), "w"):
        pass
    return {"items": len(kept), "dropped": dropped}


def step_spec_from_signature(signature: Any) -> Any:
    """The per-step data spec of a table signature (drops the time dimension)."""
    return tf.nest.map_structure(
        lambda s: tf.TensorSpec(s.shape[1:], s.dtype, s.name), signature
    )
