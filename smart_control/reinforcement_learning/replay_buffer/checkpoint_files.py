"""Reads Reverb checkpoint files: tables, items, chunk keys and column specs.

A Reverb (0.14) checkpoint directory holds three ZLIB-compressed TFRecord
files and a DONE marker:

  tables.tfrecord   one `PriorityTableCheckpoint` per table: name, max_size,
                    sampler, remover, rate limiter state, signature (optional)
  items.tfrecord    one `PrioritizedItem` per item, in insertion order; each
                    column of an item lists slices of chunks
  chunks.tfrecord   one `ChunkData` per chunk of step data referenced by items
                    (one column, `[chunk length, *step shape]`)

A server restored from a checkpoint takes the table configuration from
tables.tfrecord, not from the code that starts it. To load a buffer into
another capacity (or sampler, rate limiter, table name or signature) the
manager therefore writes a copy whose table record carries the wanted
configuration, keeping the newest `capacity` items, and starts its server from
that copy (`checkpoint_copy.py`). The user's checkpoint is only read.

Every unreadable file raises `CheckpointFormatError` naming the file.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import numpy as np
import tensorflow as tf
from google.protobuf import message as protobuf_message
from reverb.cc import schema_pb2
from reverb.cc.checkpointing import checkpoint_pb2
from tensorflow.python.saved_model import nested_structure_coder

TABLES_FILE = "tables.tfrecord"
ITEMS_FILE = "items.tfrecord"
CHUNKS_FILE = "chunks.tfrecord"
DONE_FILE = "DONE"
COMPRESSION = "ZLIB"
# Records per batch read: one eager iterator step costs ~0.1 ms whatever it
# holds, so reading one record per step made 50k items take seconds.
_READ_BATCH = 1024


class CheckpointFormatError(ValueError):
    """The directory is not a Reverb checkpoint this version can read."""


class TableChoiceError(ValueError):
    """The checkpoint has no table of the name asked for, or several to pick from."""


def _record_batches(path: str) -> Iterator[np.ndarray]:
    if not os.path.isfile(path):
        raise CheckpointFormatError(f"{path} is missing: not a Reverb checkpoint")
    dataset = tf.data.TFRecordDataset(path, compression_type=COMPRESSION)
    try:
        yield from dataset.batch(_READ_BATCH).as_numpy_iterator()
    except tf.errors.OpError as e:
        raise CheckpointFormatError(
            f"{path} is corrupt or truncated: {e.message}"
        ) from None


def read_records(path: str) -> List[bytes]:
    records: List[bytes] = []
    for batch in _record_batches(path):
        records.extend(batch)
    return records


def _parse(proto_class: Any, record: bytes, path: str) -> Any:
    try:
        return proto_class.FromString(record)
    except protobuf_message.DecodeError as e:
        raise CheckpointFormatError(f"{path} holds an unreadable record: {e}") from None


def count_records(path: str) -> int:
    """Records in one checkpoint file, counted without parsing them.

    Raises:
      CheckpointFormatError: If the file is missing, corrupt or truncated.
    """
    if not os.path.isfile(path):
        raise CheckpointFormatError(f"{path} is missing: not a Reverb checkpoint")
    dataset = tf.data.TFRecordDataset(path, compression_type=COMPRESSION)
    try:
        return int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
    except tf.errors.OpError as e:
        raise CheckpointFormatError(
            f"{path} is corrupt or truncated: {e.message}"
        ) from None


def chunk_key(record: bytes, path: str) -> int:
    # ChunkData's first field is chunk_key (field 1, varint: tag byte 0x08);
    # decoding just it is ~20x faster than parsing the chunk's tensors.
    if record[:1] == b"\x08":
        key, shift = 0, 0
        for byte in record[1:11]:
            key |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return key
    return _parse(schema_pb2.ChunkData, record, path).chunk_key


def stored_chunk_keys(checkpoint_path: str) -> Set[int]:
    """The keys of the chunks in chunks.tfrecord (a chunk may be stored twice).

    Raises:
      CheckpointFormatError: If the file is missing, corrupt or truncated.
    """
    path = os.path.join(checkpoint_path, CHUNKS_FILE)
    return {chunk_key(r, path) for batch in _record_batches(path) for r in batch}


@dataclasses.dataclass
class TableCheckpoint:
    """What a checkpoint says about one table.

    `items` (oldest first) and `num_tables` let `write_reconfigured_copy` work
    without reading the checkpoint's files again. The items of a single-table
    checkpoint are counted without parsing them (a load that keeps them all
    only hard-links the file); `items` parses them on first use.
    """

    name: str
    max_size: int
    num_items: int
    sequence_length: Optional[int]
    signature: Any
    proto: checkpoint_pb2.PriorityTableCheckpoint
    first_item: Optional[schema_pb2.PrioritizedItem] = dataclasses.field(
        default=None, repr=False
    )
    num_tables: int = 1
    path: str = ""
    parsed_items: Optional[List[schema_pb2.PrioritizedItem]] = dataclasses.field(
        default=None, repr=False
    )

    @property
    def items(self) -> List[schema_pb2.PrioritizedItem]:
        """The table's items, oldest first (parsed from the checkpoint once).

        Raises:
          CheckpointFormatError: If a record does not parse, or the file does
            not hold `num_items` items of the table.
        """
        if self.parsed_items is None:
            items = read_items(self.path, self.name)
            if len(items) != self.num_items:
                raise CheckpointFormatError(
                    f"{os.path.join(self.path, ITEMS_FILE)} holds {len(items)} "
                    f"items of table {self.name!r}, not the {self.num_items} counted"
                )
            self.parsed_items = items
        return self.parsed_items


def read_tables(
    checkpoint_path: str,
) -> Dict[str, checkpoint_pb2.PriorityTableCheckpoint]:
    path = os.path.join(checkpoint_path, TABLES_FILE)
    tables = {}
    for record in read_records(path):
        proto = _parse(checkpoint_pb2.PriorityTableCheckpoint, record, path)
        tables[proto.table_name] = proto
    if not tables:
        raise CheckpointFormatError(f"{path} holds no table: not a Reverb checkpoint")
    return tables


def choose_table(
    tables: Dict[str, Any], wanted: Optional[str], preferred: Optional[str] = None
) -> str:
    """The table a load reads: `wanted`, else `preferred` if present, else the only one.

    Raises:
      TableChoiceError: If `wanted` is absent, or there are several tables
        and neither name picks one.
    """
    if wanted is not None:
        if wanted not in tables:
            raise TableChoiceError(
                f"no table {wanted!r} in the checkpoint (tables: {sorted(tables)})"
            )
        return wanted
    if preferred is not None and preferred in tables:
        return preferred
    if len(tables) == 1:
        return next(iter(tables))
    raise TableChoiceError(
        f"the checkpoint holds several tables {sorted(tables)}: pass table_name "
        "to pick one"
    )


def count_items(
    checkpoint_path: str,
) -> Tuple[int, Optional[schema_pb2.PrioritizedItem]]:
    """(records in items.tfrecord, the first one parsed); the rest is not parsed.

    Raises:
      CheckpointFormatError: If the file is missing, corrupt or truncated.
    """
    path = os.path.join(checkpoint_path, ITEMS_FILE)
    count, first = 0, None
    for batch in _record_batches(path):
        if first is None and len(batch):
            first = _parse(schema_pb2.PrioritizedItem, batch[0], path)
        count += len(batch)
    return count, first


def read_items(
    checkpoint_path: str, table_name: str
) -> List[schema_pb2.PrioritizedItem]:
    """The table's items, oldest first."""
    path = os.path.join(checkpoint_path, ITEMS_FILE)
    items = []
    for batch in _record_batches(path):
        for record in batch:
            item = _parse(schema_pb2.PrioritizedItem, record, path)
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


def referenced_chunk_keys(items: List[schema_pb2.PrioritizedItem]) -> Set[int]:
    return {
        s.chunk_key
        for it in items
        for col in it.flat_trajectory.columns
        for s in col.chunk_slices
    }


def inspect_table(
    checkpoint_path: str,
    table_name: Optional[str],
    preferred: Optional[str] = None,
    parse_items: bool = False,
) -> TableCheckpoint:
    """Reads one table's configuration, items and step count from a checkpoint.

    Args:
      checkpoint_path: A checkpoint directory.
      table_name: The table to read; None picks `preferred` if the checkpoint
        has it, else its only table.
      preferred: See `table_name`.
      parse_items: Parse every item now (the caller will use `items`). Else
        a single-table checkpoint's items are only counted, and parsed when
        `items` is first used; several tables' items are always parsed (to
        tell which are the table's).

    Raises:
      CheckpointFormatError: If the files are unreadable.
      TableChoiceError: If the table is absent, or several could be meant.
    """
    tables = read_tables(checkpoint_path)
    chunks = os.path.join(checkpoint_path, CHUNKS_FILE)
    if not os.path.isfile(chunks):
        raise CheckpointFormatError(f"{chunks} is missing: not a Reverb checkpoint")
    try:
        name = choose_table(tables, table_name, preferred)
    except TableChoiceError as e:
        raise TableChoiceError(f"checkpoint {checkpoint_path}: {e}") from None
    proto = tables[name]
    items = None
    if parse_items or len(tables) > 1:
        items = read_items(checkpoint_path, name)
        num_items, first = len(items), (items[0] if items else None)
    else:
        # Every record is this table's: Reverb checkpoints only its tables' items.
        num_items, first = count_items(checkpoint_path)
    signature = None
    if proto.HasField("signature"):
        signature = nested_structure_coder.decode_proto(proto.signature)
    return TableCheckpoint(
        name=name,
        max_size=proto.max_size,
        num_items=num_items,
        sequence_length=item_sequence_length(first) if first else None,
        signature=signature,
        proto=proto,
        first_item=first,
        num_tables=len(tables),
        path=checkpoint_path,
        parsed_items=items,
    )


def stored_column_specs(
    checkpoint_path: str, item: schema_pb2.PrioritizedItem
) -> List[Tuple[str, Tuple[int, ...]]]:
    """(dtype name, step shape) of each column of `item`, read from its chunks.

    For checkpoints without a signature this is the only record of what the
    items hold. Only the chunks of the item's first slice per column are
    parsed; the scan stops once all are found.

    Raises:
      CheckpointFormatError: If chunks.tfrecord is unreadable or lacks them.
    """
    wanted = {}
    for index, column in enumerate(item.flat_trajectory.columns):
        if column.chunk_slices:
            first = column.chunk_slices[0]
            wanted.setdefault(first.chunk_key, []).append((index, first.index))
    specs: Dict[int, Tuple[str, Tuple[int, ...]]] = {}
    path = os.path.join(checkpoint_path, CHUNKS_FILE)
    for batch in _record_batches(path):
        for record in batch:
            chunk = _parse(schema_pb2.ChunkData, record, path)
            for column, tensor_index in wanted.pop(chunk.chunk_key, ()):
                tensor = chunk.data.tensors[tensor_index]
                dims = tuple(d.size for d in tensor.tensor_shape.dim)
                dtype = tf.dtypes.as_dtype(tensor.dtype).name
                # Chunks are [time, *step shape]; a squeezed column has no time.
                squeeze = item.flat_trajectory.columns[column].squeeze
                specs[column] = (dtype, dims if squeeze else dims[1:])
            if not wanted:
                break
        if not wanted:
            break
    if wanted:
        raise CheckpointFormatError(
            f"{path} lacks chunks that items.tfrecord references: truncated or "
            "not from the same checkpoint"
        )
    return [specs[i] for i in sorted(specs)]


def step_spec_from_signature(signature: Any) -> Any:
    """The per-step data spec of a table signature (drops the time dimension)."""
    return tf.nest.map_structure(
        lambda s: tf.TensorSpec(s.shape[1:], s.dtype, s.name), signature
    )


def step_spec_from_columns(columns: List[Tuple[str, Tuple[int, ...]]]) -> Tuple:
    """A flat per-step spec (one `TensorSpec` per column) of stored data."""
    return tuple(
        tf.TensorSpec(shape, tf.as_dtype(dtype), f"column_{i}")
        for i, (dtype, shape) in enumerate(columns)
    )
