"""The trajectories a replay buffer holds, as writer episodes and runs.

A buffer stores items: windows of `sequence_length` consecutive steps
(TF-Agents `Trajectory`s), one every `stride_length` steps of a *writer
episode*, the stream of steps between two resets of the observer. Observers
reset at every episode boundary (the LAST -> FIRST step) and, in the populate
binary, after every run. A `Segment` is the steps of one writer episode,
each stored once; `BufferContents` is all of them in insertion order.

Runs are not stored as such. They are recovered from how observers reset: a
writer episode that ends with a boundary step was ended by the environment,
and the next one continues the same run (the environment reset itself);
one that ends otherwise was cut by the driver (the end of a populate run,
whose driver stops after `steps_per_run` environment steps and never
observes the boundary step). So a run is a maximal chain of segments each of
which but the last ends with a boundary step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Iterator, List

import numpy as np
import tensorflow as tf
from tf_agents.trajectories import time_step as ts

TRAJECTORY_FIELDS = (
    "step_type",
    "observation",
    "action",
    "next_step_type",
    "reward",
    "discount",
)


def check_trajectory_spec(data_spec: Any, where: str) -> None:
    """Raises ValueError unless `data_spec` is a TF-Agents Trajectory of specs."""
    missing = [f for f in TRAJECTORY_FIELDS if not hasattr(data_spec, f)]
    if missing:
        raise ValueError(
            f"{where} holds items that are not TF-Agents Trajectories (missing "
            f"{', '.join(missing)}): episodes cannot be reconstructed from them"
        )


@dataclasses.dataclass
class Segment:
    """The steps of one writer episode, each once, oldest first.

    Attributes:
      leaves: One array per leaf of the data spec (`tf.nest.flatten` order),
        each of shape [num_steps, *leaf_shape].
      first_step: Index of the first step within its writer episode (0 unless
        the buffer evicted the episode's oldest items).
      num_items: Items of the buffer that came from this writer episode.
    """

    leaves: List[np.ndarray]
    first_step: int = 0
    num_items: int = 0

    def __len__(self) -> int:
        return int(self.leaves[0].shape[0])

    def fields(self, data_spec: Any) -> Any:
        """The steps as one nest like `data_spec` with a leading time axis."""
        return tf.nest.pack_sequence_as(data_spec, self.leaves)

    def trajectory(self, data_spec: Any, index: int) -> Any:
        """Step `index` as a nest like `data_spec` (one `Trajectory`)."""
        return tf.nest.pack_sequence_as(
            data_spec, [leaf[index] for leaf in self.leaves]
        )

    def trajectories(self, data_spec: Any) -> Iterator[Any]:
        for index in range(len(self)):
            yield self.trajectory(data_spec, index)

    def ends_with_boundary(self, data_spec: Any) -> bool:
        """Whether the last step is a LAST -> FIRST boundary step."""
        step_type = self.fields(data_spec).step_type
        return bool(step_type[-1] == ts.StepType.LAST)


@dataclasses.dataclass
class BufferContents:
    """Everything an export needs from a buffer, and an import writes back.

    Attributes:
      data_spec: Nest of `TensorSpec` of one step (a `Trajectory`).
      segments: Writer episodes in insertion order.
      sequence_length: Steps per item.
      stride_length: Steps between the starts of consecutive items.
      capacity: The source buffer's capacity in items.
      num_items: Items the source buffer held.
      source: Provenance (JSON-safe): buffer directory, checkpoint, table,
        the buffer's metadata.json and populate.json, and so on.
    """

    data_spec: Any
    segments: List[Segment]
    sequence_length: int
    stride_length: int = 1
    capacity: int = 0
    num_items: int = 0
    source: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def runs(self) -> List[List[int]]:
        """Segment indices of each run (see the module docstring), in order."""
        runs: List[List[int]] = []
        continues = False
        for index, segment in enumerate(self.segments):
            if continues:
                runs[-1].append(index)
            else:
                runs.append([index])
            continues = segment.ends_with_boundary(self.data_spec)
        return runs

    def run_of_segment(self) -> List[int]:
        """The run index of every segment."""
        result = [0] * len(self.segments)
        for run, indices in enumerate(self.runs()):
            for index in indices:
                result[index] = run
        return result

    @property
    def num_steps(self) -> int:
        """Stored steps, boundary steps included."""
        return sum(len(s) for s in self.segments)

    def environment_steps(self, segment: Segment) -> int:
        """Steps of `segment` that are environment steps (not boundaries)."""
        step_type = segment.fields(self.data_spec).step_type
        return int(np.sum(step_type != ts.StepType.LAST))
