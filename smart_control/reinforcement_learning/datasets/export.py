"""Export a replay buffer as a Minari dataset or a Parquet table; import Minari.

    summary = export_minari("starter_buffers/b", "exports/b-v0")
    minari.MinariDataset("exports/b-v0/data")           # Minari's own API

    export_parquet("starter_buffers/b", "exports/b-table")
    pandas.read_parquet("exports/b-table/transitions.parquet")

    import_minari("exports/b-v0", "starter_buffers/b-again")  # a new buffer
    # content hash of b-again == populate.json's content_hash of b

Every output directory holds `export.json` (the provenance below and a
summary); a new buffer holds `import.json`. Outputs are written to a staging
directory and renamed into place, so a failed run leaves nothing behind. The
source buffer is only read.

Provenance (`export.json`, the Minari metadata's `smart_control` key, the
Parquet file's key-value metadata): the source directory, checkpoint and
table; its metadata.json, populate.json and operative_config.gin; the data
spec; sequence and stride length, capacity and item count; the runs (Minari
episodes, environment steps and content hash of each) and the content hash
recomputed from the stored data (see content_hash.py) next to populate.json's.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

from smart_control.reinforcement_learning.datasets import (
    buffer_contents,
    buffer_reader,
    buffer_writer,
    content_hash,
    minari_format,
    parquet_format,
    paths,
)
from smart_control.reinforcement_learning.replay_buffer import table_config
from smart_control.reinforcement_learning.utils import json_files
from smart_control.reinforcement_learning.utils import provenance as provenance_lib

PARQUET_FILE = "transitions.parquet"
FORMAT_VERSION = 1


@dataclasses.dataclass
class ExportSummary:
    """What an export or import wrote."""

    output: str
    format: str
    runs: int
    episodes: int
    steps: int
    items: int
    content_hash: str
    populate_content_hash: Optional[str] = None
    hash_note: Optional[str] = None
    rows: Optional[int] = None

    @property
    def hash_matches_populate(self) -> Optional[bool]:
        if self.populate_content_hash is None:
            return None
        return self.content_hash == self.populate_content_hash


def _versions() -> Dict[str, str]:
    return provenance_lib.package_versions(
        (
            "smart-control",
            "minari",
            "gymnasium",
            "h5py",
            "pyarrow",
            "dm-reverb",
            "tf-agents",
        )
    )


def _provenance(
    contents: buffer_contents.BufferContents, digests: List[str]
) -> Dict[str, Any]:
    source = contents.source
    populate = source.get("populate") or {}
    runs = []
    for number, (indices, digest) in enumerate(zip(contents.runs(), digests)):
        runs.append(
            {
                "run": number,
                "episodes": indices,
                "steps": sum(
                    contents.environment_steps(contents.segments[i]) for i in indices
                ),
                "content_hash": digest,
            }
        )
    return {
        "format_version": FORMAT_VERSION,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "source": {
            "buffer_dir": source.get("buffer_dir"),
            "checkpoint": source.get("checkpoint"),
            "table_name": source.get("table_name"),
        },
        "buffer_metadata": source.get("metadata"),
        "populate": source.get("populate"),
        "operative_config": source.get("operative_config"),
        "data_spec_description": table_config.describe_signature(contents.data_spec),
        "sequence_length": contents.sequence_length,
        "stride_length": contents.stride_length,
        "capacity": contents.capacity,
        "num_items": contents.num_items,
        "runs": runs,
        "content_hash": content_hash.combine(digests),
        "populate_content_hash": populate.get("content_hash"),
        "versions": _versions(),
    }


def _summary(
    contents: buffer_contents.BufferContents,
    output: str,
    fmt: str,
    digests: List[str],
    rows: Optional[int] = None,
) -> ExportSummary:
    populate = contents.source.get("populate") or {}
    return ExportSummary(
        output=output,
        format=fmt,
        runs=len(digests),
        episodes=len(contents.segments),
        steps=sum(contents.environment_steps(s) for s in contents.segments),
        items=contents.num_items,
        content_hash=content_hash.combine(digests),
        populate_content_hash=populate.get("content_hash"),
        hash_note=content_hash.check_against_populate(contents, populate, digests),
        rows=rows,
    )


def default_dataset_id(output_dir: str) -> str:
    """The output directory's name if it is a Minari id, else '<name>-v0'."""
    name = os.path.basename(os.path.normpath(output_dir))
    try:
        return minari_format.check_dataset_id(name)
    except ValueError:
        return re.sub(r"[^-_\w]", "_", name).strip("-_") + "-v0"


def export_minari(
    buffer_dir: str,
    output_dir: str,
    *,
    dataset_id: Optional[str] = None,
    description: Optional[str] = None,
    author: Optional[str] = None,
    table_name: Optional[str] = None,
    overwrite: bool = False,
) -> ExportSummary:
    """Writes a buffer as a Minari dataset (see minari_format.py for the layout).

    Args:
      buffer_dir: The buffer directory (only read).
      output_dir: The dataset directory to write; `output_dir/data` is what
        `minari.MinariDataset` opens, and under `MINARI_DATASETS_PATH` a
        directory named like the dataset id loads with `minari.load_dataset`.
      dataset_id: Minari dataset id; default `default_dataset_id(output_dir)`.
      description: Minari description; default names the source buffer.
      author: Minari author.
      table_name: The table to export, if the checkpoint holds several.
      overwrite: Replace an existing export in `output_dir`.

    Returns:
      An `ExportSummary`.

    Raises:
      FileNotFoundError: If `buffer_dir` does not exist.
      FileExistsError: If `output_dir` exists and may not be replaced.
      ValueError: If `buffer_dir` is not a buffer, or `dataset_id` is malformed.
    """
    output_dir = paths.check_output(output_dir, overwrite, paths.is_export, "an export")
    dataset_id = dataset_id or default_dataset_id(output_dir)
    minari_format.check_dataset_id(dataset_id)
    contents = buffer_reader.read_buffer(buffer_dir, table_name)
    digests = content_hash.run_hashes(contents)
    provenance = _provenance(contents, digests)
    summary = _summary(contents, output_dir, "minari", digests)
    with paths.written_whole(output_dir) as staging:
        minari_format.write_minari(
            contents,
            staging,
            dataset_id,
            provenance,
            description=description
            or f"smart_control replay buffer {contents.source.get('buffer_dir')}",
            author=author,
        )
        _write_record(staging, paths.EXPORT_RECORD, provenance, summary)
    return summary


def export_parquet(
    buffer_dir: str,
    output_dir: str,
    *,
    column_names: Optional[Mapping[str, Sequence[str]]] = None,
    table_name: Optional[str] = None,
    overwrite: bool = False,
) -> ExportSummary:
    """Writes a buffer as `output_dir/transitions.parquet` (see parquet_format.py).

    Args:
      buffer_dir: The buffer directory (only read).
      output_dir: The directory to write.
      column_names: Element names of vector leaves by column prefix, e.g.
        `building_column_names()`.
      table_name: The table to export, if the checkpoint holds several.
      overwrite: Replace an existing export in `output_dir`.

    Returns:
      An `ExportSummary` (`rows`: rows of the table).

    Raises:
      FileNotFoundError: If `buffer_dir` does not exist.
      FileExistsError: If `output_dir` exists and may not be replaced.
      ValueError: If `buffer_dir` is not a buffer or `column_names` do not fit.
    """
    output_dir = paths.check_output(output_dir, overwrite, paths.is_export, "an export")
    contents = buffer_reader.read_buffer(buffer_dir, table_name)
    digests = content_hash.run_hashes(contents)
    provenance = _provenance(contents, digests)
    with paths.written_whole(output_dir) as staging:
        os.makedirs(staging)
        rows = parquet_format.write_parquet(
            contents, os.path.join(staging, PARQUET_FILE), provenance, column_names
        )
        summary = _summary(contents, output_dir, "parquet", digests, rows=rows)
        _write_record(staging, paths.EXPORT_RECORD, provenance, summary)
    return summary


def import_minari(
    dataset_path: str,
    buffer_dir: str,
    *,
    capacity: Optional[int] = None,
    overwrite: bool = False,
) -> ExportSummary:
    """Writes a Minari dataset from `export_minari` into a new buffer directory.

    The buffer is written through `ReplayBufferManager` (sampler, rate limiter
    and checkpoints kept come from gin), then read back: the summary's
    content hash is that of the new buffer's stored data.

    Args:
      dataset_path: The dataset directory (or its `data` directory).
      buffer_dir: The new buffer directory.
      capacity: The new buffer's capacity; default the source buffer's.
      overwrite: Replace an existing buffer in `buffer_dir`.

    Returns:
      An `ExportSummary` of the new buffer (`populate_content_hash`: the
      source's populate.json hash, if it had one).

    Raises:
      FileNotFoundError: If `dataset_path` does not exist.
      FileExistsError: If `buffer_dir` exists and may not be replaced.
      ValueError: If the dataset was not written by `export_minari`.
    """
    buffer_dir = paths.check_output(
        buffer_dir, overwrite, paths.is_buffer, "a replay buffer"
    )
    contents = minari_format.read_minari(dataset_path)
    stored = contents.source["exported"]  # The export's provenance.
    with paths.written_whole(buffer_dir) as staging:
        written = buffer_writer.write_buffer(contents, staging, capacity)
        reread = buffer_reader.read_buffer(staging)
        digests = content_hash.run_hashes(reread)
        reread.source["populate"] = stored.get("populate")
        summary = _summary(reread, buffer_dir, "buffer", digests)
        record = {
            "format_version": FORMAT_VERSION,
            "imported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            "minari_dataset": contents.source.get("minari_dataset"),
            "dataset_id": contents.source.get("dataset_id"),
            "exported_from": stored.get("source"),
            "capacity": written["capacity"],
            "checkpoint": os.path.basename(written["checkpoint"]),
            "exported_content_hash": stored.get("content_hash"),
        }
        _write_record(staging, paths.IMPORT_RECORD, record, summary)
    return summary


def _write_record(
    directory: str, name: str, record: Dict[str, Any], summary: ExportSummary
) -> None:
    json_files.write_json_atomic(
        os.path.join(directory, name),
        {**record, "summary": dataclasses.asdict(summary)},
    )


def building_column_names() -> Dict[str, Sequence[str]]:
    """Parquet column names of the office building's observation and action."""
    from smart_control.environment import action_mapping, observations

    return {
        "observation": observations.observation_names(),
        "action": action_mapping.ACTION_NAMES,
    }
