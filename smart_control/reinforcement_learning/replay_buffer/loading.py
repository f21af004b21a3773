"""Which checkpoint a load restores, and whether it holds what it should.

A load considers *candidates*, newest first: every complete checkpoint of a
buffer directory, or a named checkpoint and the older ones beside it. Before a
candidate is handed to Reverb it is read and checked here:

  * its files parse (each unreadable file is named);
  * its item count equals every record of it: the count metadata.json
    recorded when the manager wrote it, and the count the caller's own
    committed state recorded (`expected_items`);
  * without any record (buffers written elsewhere or by older versions), its
    items and chunks agree: a clean cut of items.tfrecord leaves chunks no
    item references, a cut of chunks.tfrecord leaves items without chunks;
  * its steps fit `data_spec`: by the table signature (with an unknown or a
    fixed `sequence_length` outer dimension), or, for checkpoints written
    without a signature (the reference smart_control's), by the dtypes and
    shapes of the stored chunks of the first item;
  * it fits `capacity`, unless shrinking was allowed.

A candidate that is damaged or short raises `UnusableCheckpoint` and the load
moves on to the next one; a checkpoint that is intact but does not fit this
run (spec, sequence length, capacity, table name) raises the user-facing
error at once, because older checkpoints of the same buffer would not fit
either. The checked candidate is then copied with this run's table name,
configuration and signature (`checkpoint_copy.write_reconfigured_copy`);
the source is only read.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from smart_control.reinforcement_learning.replay_buffer import (
    checkpoint_copy,
    checkpoint_files,
    checkpoint_store,
    metadata,
    table_config,
)
from smart_control.reinforcement_learning.replay_buffer.errors import (
    CapacityTooSmallError,
    NoCheckpointFoundError,
    SpecMismatchError,
)

# A count for the named (or newest) checkpoint, or counts by checkpoint name
# (None: a candidate whose count the caller did not record).
ExpectedItems = Union[None, int, Mapping[str, Optional[int]]]


class UnusableCheckpoint(Exception):
    """This candidate is damaged or short; an older one may still load."""


@dataclasses.dataclass
class Candidate:
    """One checkpoint a load may restore, with what it should hold.

    Attributes:
      path: The checkpoint directory.
      records: (item count, who recorded it) pairs to check it against.
      problem: Why it is unusable before reading anything (missing, no DONE).
      own: Whether it lives in the loading manager's own buffer directory.
    """

    path: str
    records: List[Tuple[int, str]] = dataclasses.field(default_factory=list)
    problem: Optional[str] = None
    own: bool = False

    @property
    def name(self) -> str:
        return checkpoint_store.checkpoint_name(self.path)


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What the loading manager needs of a checkpoint."""

    data_spec: Any
    sequence_length: int
    table_name: str
    source_table: Optional[str]
    capacity: int
    allow_shrink: bool
    table_info: Any


@dataclasses.dataclass
class Prepared:
    """A checked candidate, copied and ready to restore."""

    candidate: Candidate
    copy_path: str
    items: int
    dropped: int
    stored_items: int
    source_table: str


def _looks_like_checkpoint(path: str) -> bool:
    names = (
        checkpoint_files.DONE_FILE,
        checkpoint_files.TABLES_FILE,
        checkpoint_files.ITEMS_FILE,
    )
    return any(os.path.exists(os.path.join(path, n)) for n in names) or (
        os.path.basename(os.path.dirname(path)) == checkpoint_store.CHECKPOINTS_DIR
    )


def _problem(path: str) -> Optional[str]:
    if not os.path.isdir(path):
        return "the directory is missing"
    if not checkpoint_store.is_complete(path):
        return f"it has no {checkpoint_files.DONE_FILE} file (an interrupted write, or damage)"
    return None


def find_candidates(
    source: str,
    store: checkpoint_store.CheckpointStore,
    own_records: Optional[Dict[str, int]],
    expected_items: ExpectedItems,
) -> List[Candidate]:
    """The checkpoints a load of `source` may restore, newest first.

    Args:
      source: A buffer directory, or one checkpoint directory.
      store: The loading manager's own buffer directory.
      own_records: The item counts the manager holds for its own directory
        (None to read them from `source`'s metadata.json).
      expected_items: The caller's record: a count for the named (or newest)
        checkpoint, or counts by checkpoint name (then only those named are
        candidates; a None count checks nothing).

    Raises:
      NoCheckpointFoundError: If `source` holds no checkpoint at all.
    """
    source = os.path.abspath(source)
    named = _looks_like_checkpoint(source)
    if named:
        parent = os.path.dirname(source)
        in_layout = os.path.basename(parent) == checkpoint_store.CHECKPOINTS_DIR
        buffer_root = os.path.dirname(parent) if in_layout else parent
    else:
        buffer_root = source
    own = buffer_root == store.root
    if own and own_records is not None:
        records = own_records
    else:
        records = metadata.recorded_items(
            metadata.read(os.path.join(buffer_root, checkpoint_store.METADATA_FILE))
        )
    source_store = checkpoint_store.CheckpointStore(buffer_root)
    # Numbered checkpoints metadata.json recorded but that lost their DONE
    # are damaged, not interrupted writes: they count (and fail) as candidates.
    numbered = [
        p
        for p in source_store.numbered_dirs()
        if checkpoint_store.is_complete(p)
        or checkpoint_store.checkpoint_name(p) in records
    ]
    if named:
        number = checkpoint_store.checkpoint_number(source)
        older = [
            p
            for p in numbered
            if in_layout and -1 < checkpoint_store.checkpoint_number(p) < number
        ]
        paths = older + [source]
    else:
        paths = (
            source_store.plain_reverb_checkpoints()
            + numbered
            + source_store.staged_checkpoints()
        )
    paths.reverse()
    if isinstance(expected_items, Mapping):
        names = {str(n) for n in expected_items}
        paths = [p for p in paths if checkpoint_store.checkpoint_name(p) in names]
    if not paths:
        raise NoCheckpointFoundError(
            f"no complete replay buffer checkpoint found in {source} "
            "(a checkpoint is a directory with a DONE file)"
        )
    candidates = []
    for index, path in enumerate(paths):
        name = checkpoint_store.checkpoint_name(path)
        candidate = Candidate(path=path, problem=_problem(path), own=own)
        if name in records:
            candidate.records.append((records[name], checkpoint_store.METADATA_FILE))
        if isinstance(expected_items, Mapping):
            if expected_items[name] is not None:
                candidate.records.append(
                    (int(expected_items[name]), "the caller's state")
                )
        elif expected_items is not None and index == 0:
            candidate.records.append((int(expected_items), "the caller's state"))
        candidates.append(candidate)
    return candidates


def _check_records(candidate: Candidate, table: checkpoint_files.TableCheckpoint):
    for count, who in candidate.records:
        if table.num_items != count:
            raise UnusableCheckpoint(
                f"{checkpoint_files.ITEMS_FILE} holds {table.num_items} items, "
                f"{who} recorded {count}"
            )
    if candidate.records or table.num_tables != 1:
        return
    # No record to check against: the files must at least agree. A Reverb
    # checkpoint stores exactly the chunks its items reference, so chunks no
    # item references mean items were lost (a clean cut of items.tfrecord).
    stored = checkpoint_files.stored_chunk_keys(candidate.path)
    referenced = checkpoint_files.referenced_chunk_keys(table.items)
    missing, unreferenced = len(referenced - stored), len(stored - referenced)
    if missing or unreferenced:
        raise UnusableCheckpoint(
            f"{checkpoint_files.ITEMS_FILE} and {checkpoint_files.CHUNKS_FILE} "
            f"disagree: {missing} chunks the {table.num_items} items reference are "
            f"missing, {unreferenced} stored chunks belong to no item (a "
            "truncated file?)"
        )


def _check_fit(
    candidate: Candidate, table: checkpoint_files.TableCheckpoint, wanted: Wanted
) -> None:
    where = f"checkpoint {candidate.path}"
    if table.sequence_length not in (None, wanted.sequence_length):
        raise ValueError(
            f"{where} holds sequences of {table.sequence_length} steps, but "
            f"sequence_length={wanted.sequence_length}"
        )
    expected = table_config.table_signature(wanted.data_spec)
    if table.signature is not None:
        if not table_config.signatures_match(
            expected, table.signature, wanted.sequence_length
        ):
            raise SpecMismatchError(
                f"the replay buffer in {where} holds items of another spec.\n"
                f"  data_spec of this run: {table_config.describe_signature(expected)}\n"
                f"  spec of the buffer:    "
                f"{table_config.describe_signature(table.signature)}"
            )
    elif table.first_item is not None:
        try:
            columns = checkpoint_files.stored_column_specs(
                candidate.path, table.first_item
            )
        except checkpoint_files.CheckpointFormatError as e:
            raise UnusableCheckpoint(str(e)) from None
        if not table_config.columns_match(wanted.data_spec, columns):
            raise SpecMismatchError(
                f"the replay buffer in {where} (table {table.name!r}, written "
                "without a signature) holds items of another spec.\n"
                f"  data_spec of this run: {table_config.describe_signature(expected)}\n"
                f"  stored data:           "
                f"{table_config.describe_columns(columns, wanted.data_spec)}"
            )
    if table.num_items > wanted.capacity and not wanted.allow_shrink:
        raise CapacityTooSmallError(
            f"{where} holds {table.num_items} items, more than capacity "
            f"{wanted.capacity}: raise ReplayBufferManager.capacity to at least "
            f"{table.num_items}, or bind ReplayBufferManager.allow_shrink = True "
            f"to keep only the newest {wanted.capacity} (the checkpoint is kept)"
        )


def prepare(candidate: Candidate, wanted: Wanted, copy_path: str) -> Prepared:
    """Checks one candidate and writes its re-configured copy to `copy_path`.

    Raises:
      UnusableCheckpoint: If it is damaged or short (try an older one).
      SpecMismatchError: If it holds steps of another spec.
      CapacityTooSmallError: If it holds more items than `capacity` allows.
      ValueError: If its sequence length or table does not fit.
    """
    if candidate.problem:
        raise UnusableCheckpoint(candidate.problem)
    try:
        table = checkpoint_files.inspect_table(
            candidate.path,
            wanted.source_table,
            preferred=wanted.table_name,
            # Without a record the items are cross-checked against the chunks.
            parse_items=not candidate.records,
        )
        _check_records(candidate, table)
    except checkpoint_files.CheckpointFormatError as e:
        raise UnusableCheckpoint(str(e)) from None
    _check_fit(candidate, table, wanted)
    try:
        counts = checkpoint_copy.write_reconfigured_copy(
            candidate.path,
            copy_path,
            table,
            wanted.table_info,
            wanted.capacity,
            table_config.table_signature(wanted.data_spec),
        )
    except checkpoint_files.CheckpointFormatError as e:
        raise UnusableCheckpoint(str(e)) from None
    return Prepared(
        candidate=candidate,
        copy_path=copy_path,
        items=counts["items"],
        dropped=counts["dropped"],
        stored_items=table.num_items,
        source_table=table.name,
    )


def diagnose_restore_failure(checkpoint_path: str, error: Exception) -> str:
    """Names the file Reverb could not read (its own message does not)."""
    for name in (
        checkpoint_files.TABLES_FILE,
        checkpoint_files.ITEMS_FILE,
        checkpoint_files.CHUNKS_FILE,
    ):
        try:
            checkpoint_files.count_records(os.path.join(checkpoint_path, name))
        except checkpoint_files.CheckpointFormatError as e:
            return str(e)
    return f"Reverb could not restore it: {str(error).splitlines()[0]}"
