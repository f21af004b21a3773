"""Writes `BufferContents` into a new buffer directory via `ReplayBufferManager`.

Every segment is fed, step by step, to the manager's observer, as the
populate driver fed the original: the observer ends a writer episode itself
at a boundary step, and is reset (its cache dropped) after a segment that
ends otherwise. With the source's `sequence_length` and `stride_length` that
writes the source's items again, in the same order, so the new buffer loads
like any other and holds the same content hash.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from smart_control.reinforcement_learning.datasets import buffer_contents
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)


def write_buffer(
    contents: buffer_contents.BufferContents,
    buffer_dir: str,
    capacity: Optional[int] = None,
) -> Dict[str, Any]:
    """Creates a buffer in `buffer_dir` holding `contents`, and checkpoints it.

    The manager's other settings (sampler, rate limiter, checkpoints kept)
    come from gin, as for any `ReplayBufferManager`.

    Args:
      contents: What to write.
      buffer_dir: The new buffer directory.
      capacity: Items the new buffer holds; None keeps the source's capacity
        (at least the number of items, so nothing is evicted).

    Returns:
      {"checkpoint": path, "frames": items in the buffer, "capacity": ...}.

    Raises:
      ValueError: If `capacity` is not a positive integer.
      RuntimeError: If the buffer does not end up holding the expected items.
    """
    if capacity is None:
        capacity = max(contents.capacity, contents.num_items, 1)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
    spec = contents.data_spec
    manager = ReplayBufferManager(
        data_spec=spec,
        capacity=capacity,
        checkpoint_dir=buffer_dir,
        sequence_length=contents.sequence_length,
        stride_length=contents.stride_length,
    )
    with manager:
        _, observer = manager.create_replay_buffer()
        for segment in contents.segments:
            for trajectory in segment.trajectories(spec):
                observer(trajectory)
            if not segment.ends_with_boundary(spec):
                # Where the source's driver stopped; no item spans the two.
                observer.reset(write_cached_steps=False)
        path = manager.checkpoint()
        frames = manager.num_frames()
    expected = min(contents.num_items, capacity)
    if frames != expected:
        raise RuntimeError(
            f"the new buffer {buffer_dir} holds {frames} items, expected {expected}"
        )
    return {"checkpoint": path, "frames": frames, "capacity": capacity}
