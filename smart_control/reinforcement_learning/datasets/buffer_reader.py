"""Reads every item of a buffer's newest checkpoint, decoded by Reverb itself.

The checkpoint's protos say which writer episode and step each item starts
at (an item's first chunk slice: the chunk's `sequence_range` and the slice's
offset), but the step data is compressed in Reverb's own chunk format. So the
checkpoint is restored into a private, throw-away Reverb server whose table
is a FIFO queue that deletes every item once sampled, and all items are
sampled once: the server decodes them, the protos place them. The source
directory is only read (the server starts from a re-configured copy in a
temporary directory).
"""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import reverb
import tensorflow as tf
from reverb.cc import schema_pb2
from reverb.cc.checkpointing import checkpoint_pb2

from smart_control.reinforcement_learning.datasets import (
    buffer_contents,
    paths,
    spec_codec,
)
from smart_control.reinforcement_learning.replay_buffer import (
    checkpoint_files,
    checkpoint_store,
)
from smart_control.reinforcement_learning.replay_buffer import (
    metadata as buffer_metadata,
)
from smart_control.reinforcement_learning.utils import json_files

POPULATE_FILE = "populate.json"
OPERATIVE_CONFIG_FILE = "operative_config.gin"


def _buffer_root(checkpoint: str, buffer_dir: str) -> str:
    """The directory holding metadata.json and populate.json, if any."""
    path = os.path.abspath(os.path.expanduser(buffer_dir))
    if path != checkpoint:
        return path
    # Given a checkpoint itself: <buffer>/checkpoints/ckpt-N, or a checkpoint
    # directly under a plain Reverb root.
    parent = os.path.dirname(checkpoint)
    if os.path.basename(parent) == checkpoint_store.CHECKPOINTS_DIR:
        return os.path.dirname(parent)
    return parent


def _choose_table(
    checkpoint: str, table_name: Optional[str], metadata: Dict[str, Any]
) -> str:
    names = sorted(checkpoint_files.read_tables(checkpoint))
    if table_name is not None:
        if table_name not in names:
            raise ValueError(
                f"table_name {table_name!r} is not in checkpoint {checkpoint} "
                f"(tables: {names})"
            )
        return table_name
    if len(names) == 1:
        return names[0]
    if metadata.get("table_name") in names:
        return metadata["table_name"]
    raise ValueError(
        f"checkpoint {checkpoint} holds several tables {names}; pass table_name"
    )


def _read_chunk_ranges(checkpoint: str) -> Dict[int, Tuple[int, int, bool]]:
    """chunk key -> (writer episode id, first step, sparse) of every chunk."""
    path = os.path.join(checkpoint, checkpoint_files.CHUNKS_FILE)
    ranges = {}
    dataset = tf.data.TFRecordDataset(path, compression_type="ZLIB")
    for batch in dataset.batch(1024).as_numpy_iterator():
        for record in batch:
            chunk = schema_pb2.ChunkData.FromString(record)
            r = chunk.sequence_range
            ranges[chunk.chunk_key] = (r.episode_id, r.start, r.sparse)
    return ranges


def _write_queue_copy(
    found: checkpoint_files.TableCheckpoint, checkpoint: str, output: str
) -> reverb.Table:
    """A copy of the table as a FIFO queue that deletes items once sampled."""
    table = reverb.Table(
        name=found.name,
        sampler=reverb.selectors.Fifo(),
        remover=reverb.selectors.Fifo(),
        max_size=max(found.num_items, 1),
        rate_limiter=reverb.rate_limiters.MinSize(1),
        max_times_sampled=1,
        signature=found.signature,
    )
    info = table.info
    proto = checkpoint_pb2.PriorityTableCheckpoint()
    proto.CopyFrom(found.proto)
    proto.max_size = info.max_size
    proto.max_times_sampled = 1
    proto.sampler.CopyFrom(info.sampler_options)
    proto.remover.CopyFrom(info.remover_options)
    limiter = info.rate_limiter_info
    proto.rate_limiter.samples_per_insert = limiter.samples_per_insert
    proto.rate_limiter.min_diff = limiter.min_diff
    proto.rate_limiter.max_diff = limiter.max_diff
    proto.rate_limiter.min_size_to_sample = limiter.min_size_to_sample
    proto.rate_limiter.insert_count = found.num_items
    proto.rate_limiter.sample_count = 0
    proto.rate_limiter.delete_count = 0
    os.makedirs(output)
    options = tf.io.TFRecordOptions(compression_type="ZLIB")
    with tf.io.TFRecordWriter(
        os.path.join(output, checkpoint_files.TABLES_FILE), options
    ) as writer:
        writer.write(proto.SerializeToString())
    with tf.io.TFRecordWriter(
        os.path.join(output, checkpoint_files.ITEMS_FILE), options
    ) as writer:
        for item in found.items:
            copy = schema_pb2.PrioritizedItem()
            copy.CopyFrom(item)
            # An item sampled before (in training) would otherwise never reach
            # max_times_sampled=1 and be served again and again.
            copy.times_sampled = 0
            writer.write(copy.SerializeToString())
    src = os.path.join(checkpoint, checkpoint_files.CHUNKS_FILE)
    dst = os.path.join(output, checkpoint_files.CHUNKS_FILE)
    try:
        os.link(src, dst)  # Reverb only reads it; a link costs nothing.
    except OSError:
        shutil.copyfile(src, dst)
    with open(os.path.join(output, checkpoint_files.DONE_FILE), "w"):
        pass
    return table


def _sample_all(
    found: checkpoint_files.TableCheckpoint, checkpoint: str
) -> Dict[int, List[np.ndarray]]:
    """item key -> its flat data (one [sequence_length, ...] array per leaf)."""
    scratch = tempfile.mkdtemp(prefix="smart_control-export-")
    server = None
    try:
        copy = os.path.join(scratch, "checkpoint")
        table = _write_queue_copy(found, checkpoint, copy)
        server = reverb.Server(
            tables=[table],
            port=None,
            checkpointer=reverb.checkpointers.DefaultCheckpointer(
                path=os.path.join(scratch, "root"), fallback_checkpoint_path=copy
            ),
        )
        client = reverb.Client(f"localhost:{server.port}")
        restored = client.server_info()[found.name].current_size
        if restored != found.num_items:
            # Sampling more items than the queue holds would block forever.
            raise RuntimeError(
                f"restored {restored} of the {found.num_items} items of {checkpoint}"
            )
        data = {}
        for sample in client.sample(
            found.name, num_samples=found.num_items, emit_timesteps=False
        ):
            data[int(sample.info.key)] = [np.asarray(leaf) for leaf in sample.data]
        return data
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _item_start(
    item: schema_pb2.PrioritizedItem, ranges: Dict[int, Tuple[int, int, bool]]
) -> Tuple[int, int]:
    """(writer episode id, step index) of an item's first step."""
    first = item.flat_trajectory.columns[0].chunk_slices[0]
    if first.chunk_key not in ranges:
        raise ValueError(f"item {item.key} references a missing chunk")
    episode_id, start, sparse = ranges[first.chunk_key]
    if sparse:
        raise ValueError(
            f"item {item.key} has sparse chunks (steps with missing columns): "
            "not a buffer of whole trajectories"
        )
    return episode_id, start + first.offset


def _assemble_segments(
    found: checkpoint_files.TableCheckpoint,
    data: Dict[int, List[np.ndarray]],
    ranges: Dict[int, Tuple[int, int, bool]],
    checkpoint: str,
) -> List[buffer_contents.Segment]:
    steps: Dict[int, Dict[int, List[np.ndarray]]] = collections.defaultdict(dict)
    items_of: Dict[int, int] = collections.Counter()
    order: List[int] = []  # Writer episodes by their first item (insertion order).
    for item in found.items:
        episode_id, start = _item_start(item, ranges)
        if episode_id not in steps:
            order.append(episode_id)
        items_of[episode_id] += 1
        leaves = data[item.key]
        for offset in range(leaves[0].shape[0]):
            step = [leaf[offset] for leaf in leaves]
            known = steps[episode_id].get(start + offset)
            if known is None:
                steps[episode_id][start + offset] = step
            elif not all(np.array_equal(a, b) for a, b in zip(known, step)):
                raise ValueError(
                    f"checkpoint {checkpoint}: two items disagree on step "
                    f"{start + offset} of writer episode {episode_id}"
                )
    segments = []
    for episode_id in order:
        by_index = steps[episode_id]
        indices = sorted(by_index)
        if indices != list(range(indices[0], indices[-1] + 1)):
            raise ValueError(
                f"checkpoint {checkpoint}: writer episode {episode_id} has steps "
                "no item holds (stride_length > sequence_length?); its episodes "
                "cannot be reconstructed"
            )
        columns = zip(*(by_index[i] for i in indices))
        segments.append(
            buffer_contents.Segment(
                leaves=[np.stack(column) for column in columns],
                first_step=indices[0],
                num_items=items_of[episode_id],
            )
        )
    return segments


def _stride_length(metadata: Dict[str, Any]) -> int:
    stride = metadata.get("stride_length", 1)
    return stride if isinstance(stride, int) and stride >= 1 else 1


def read_buffer(
    buffer_dir: str, table_name: Optional[str] = None
) -> buffer_contents.BufferContents:
    """Reads the newest checkpoint of a buffer directory into `BufferContents`.

    Args:
      buffer_dir: A buffer directory written by `ReplayBufferManager` (or the
        populate binary), a plain Reverb checkpoint root, or one checkpoint.
        Only read.
      table_name: The table to read; needed only when the checkpoint holds
        several and metadata.json names none of them.

    Returns:
      Every stored step, by writer episode, and the buffer's provenance.

    Raises:
      FileNotFoundError: If `buffer_dir` does not exist.
      paths.NotABufferError: If it holds no complete checkpoint.
      ValueError: If the table is missing, has no signature, or its items are
        not whole TF-Agents trajectories.
    """
    checkpoint = paths.find_checkpoint(buffer_dir)
    root = _buffer_root(checkpoint, buffer_dir)
    store = checkpoint_store.CheckpointStore(root)
    metadata = buffer_metadata.read(store.metadata_path) or {}
    try:
        name = _choose_table(checkpoint, table_name, metadata)
        found = checkpoint_files.inspect_table(checkpoint, name)
    except checkpoint_files.CheckpointFormatError as e:
        raise paths.NotABufferError(str(e)) from None
    if found.signature is None:
        raise ValueError(
            f"table {name!r} of checkpoint {checkpoint} has no signature: its data "
            "spec is unknown, so it cannot be exported"
        )
    data_spec = spec_codec.step_spec_from_signature(found.signature)
    buffer_contents.check_trajectory_spec(data_spec, f"checkpoint {checkpoint}")
    segments = []
    if found.num_items:
        ranges = _read_chunk_ranges(checkpoint)
        data = _sample_all(found, checkpoint)
        segments = _assemble_segments(found, data, ranges, checkpoint)
    operative_config = None
    config_path = os.path.join(root, OPERATIVE_CONFIG_FILE)
    if os.path.isfile(config_path):
        with open(config_path) as f:
            operative_config = f.read()
    source = {
        "buffer_dir": root,
        "checkpoint": checkpoint,
        "table_name": name,
        "metadata": metadata or None,
        "populate": json_files.read_json(os.path.join(root, POPULATE_FILE)),
        "operative_config": operative_config,
    }
    return buffer_contents.BufferContents(
        data_spec=data_spec,
        segments=segments,
        sequence_length=found.sequence_length or metadata.get("sequence_length", 2),
        stride_length=_stride_length(metadata),
        capacity=int(metadata.get("capacity") or found.max_size),
        num_items=found.num_items,
        source=source,
    )
