"""Buffer contents as one flat Parquet table: a row per environment step.

A row is one transition t -> t+1: a stored trajectory that is not a boundary
step (LAST -> FIRST steps are bookkeeping, not environment steps). Columns,
in this order:

  run, episode, step, step_in_episode   int64: run index, episode index
                                        (the Minari episode), environment
                                        step within the run, index of the
                                        trajectory within its writer episode
  step_type, next_step_type             as stored
  observation/<leaf>[/<element>]        one column per scalar element
  action/..., policy_info/...           likewise
  reward[/...], discount
  next_observation/...                  the observation after the step;
                                        null where the buffer does not hold
                                        it (the last step of a segment the
                                        driver cut)

A leaf of shape () is one column named by its path; a vector leaf one
column per element, named by index or by `column_names`. The provenance
(see export.py) is in the file's key-value metadata under `smart_control`.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
import tree
from tf_agents.trajectories import time_step as ts

from smart_control.reinforcement_learning.datasets import buffer_contents

METADATA_KEY = b"smart_control"


def _leaf_columns(
    prefix: str,
    spec: Any,
    column_names: Mapping[str, Sequence[str]],
) -> List[tuple]:
    """(column name, leaf index within the field, element index) triples."""
    columns = []
    for leaf_index, (path, leaf_spec) in enumerate(tree.flatten_with_path(spec)):
        name = "/".join([prefix, *map(str, path)])
        size = int(np.prod(leaf_spec.shape.as_list(), dtype=np.int64))
        if leaf_spec.shape.rank == 0:
            columns.append((name, leaf_index, None))
            continue
        labels = column_names.get(name)
        if labels is not None and len(labels) != size:
            raise ValueError(
                f"column_names[{name!r}] has {len(labels)} names, the leaf has "
                f"{size} elements"
            )
        for element in range(size):
            if labels is not None:
                label = labels[element]
            else:
                index = np.unravel_index(element, leaf_spec.shape.as_list())
                label = "_".join(str(int(i)) for i in index)
            columns.append((f"{name}/{label}", leaf_index, element))
    return columns


def _field_columns(
    name: str,
    spec: Any,
    values: Any,
    rows: np.ndarray,
    column_names: Mapping[str, Sequence[str]],
    mask: Optional[np.ndarray] = None,
    label: Optional[str] = None,
) -> Dict[str, Any]:
    import pyarrow as pa

    leaves = tf.nest.flatten(values)
    out = {}
    for column, leaf_index, element in _leaf_columns(name, spec, column_names):
        leaf = np.asarray(leaves[leaf_index])[rows]
        data = leaf if element is None else leaf.reshape(len(rows), -1)[:, element]
        if label is not None:
            column = label + column[len(name) :]
        out[column] = pa.array(data, mask=mask)
    return out


def to_table(
    contents: buffer_contents.BufferContents,
    column_names: Optional[Mapping[str, Sequence[str]]] = None,
) -> Any:
    """The contents as a `pyarrow.Table` (see the module docstring).

    Args:
      contents: What to write.
      column_names: Element names of vector leaves, keyed by the leaf's column
        prefix, e.g. {"observation": [...18 names...], "action": [...]};
        `next_observation` uses the observation's names.

    Raises:
      ValueError: If a list of names does not fit its leaf.
    """
    import pyarrow as pa

    column_names = dict(column_names or {})
    spec = contents.data_spec
    run_of = contents.run_of_segment()
    step_in_run = {}
    parts: List[Dict[str, Any]] = []
    for index, segment in enumerate(contents.segments):
        fields = segment.fields(spec)
        n = len(segment)
        rows = np.flatnonzero(np.asarray(fields.step_type) != ts.StepType.LAST)
        if not len(rows):
            continue
        run = run_of[index]
        first = step_in_run.get(run, 0)
        step_in_run[run] = first + len(rows)
        part = {
            "run": pa.array(np.full(len(rows), run, np.int64)),
            "episode": pa.array(np.full(len(rows), index, np.int64)),
            "step": pa.array(np.arange(first, first + len(rows), dtype=np.int64)),
            "step_in_episode": pa.array(rows.astype(np.int64) + segment.first_step),
        }
        for name in ("step_type", "next_step_type"):
            part[name] = pa.array(np.asarray(getattr(fields, name))[rows])
        for name, field_spec in spec._asdict().items():
            if name in ("step_type", "next_step_type") or not tf.nest.flatten(
                field_spec
            ):
                continue
            part.update(
                _field_columns(
                    name, field_spec, getattr(fields, name), rows, column_names
                )
            )
        # The next observation of row k is the observation of trajectory k+1.
        has_next = rows + 1 < n
        next_rows = np.minimum(rows + 1, n - 1)
        part.update(
            _field_columns(
                "observation",
                spec.observation,
                fields.observation,
                next_rows,
                column_names,
                mask=~has_next if not has_next.all() else None,
                label="next_observation",
            )
        )
        parts.append(part)
    if not parts:
        raise ValueError("the buffer holds no environment step to export")
    columns = {
        name: pa.concat_arrays([part[name] for part in parts]) for name in parts[0]
    }
    return pa.table(columns)


def write_parquet(
    contents: buffer_contents.BufferContents,
    path: str,
    metadata: Dict[str, Any],
    column_names: Optional[Mapping[str, Sequence[str]]] = None,
) -> int:
    """Writes the table to `path` with `metadata` in its key-value metadata.

    Returns:
      The number of rows.
    """
    import pyarrow.parquet as pq

    table = to_table(contents, column_names)
    schema_metadata = dict(table.schema.metadata or {})
    schema_metadata[METADATA_KEY] = json.dumps(metadata, default=str).encode()
    table = table.replace_schema_metadata(schema_metadata)
    pq.write_table(table, path)
    return table.num_rows
