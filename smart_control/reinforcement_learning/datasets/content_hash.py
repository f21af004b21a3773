"""The populate binary's content hash, recomputed from a buffer's stored steps.

The populate binary hashes what its driver observed: per run, a SHA-256 over
every trajectory in order (`ContentHashObserver`: for each leaf in
`tf.nest.flatten` order, its dtype string and raw bytes), and for the buffer
a SHA-256 over the runs' hex digests (`starter_buffer.combined_hash`), which
populate.json records as `content_hash`.

Recomputed here, each stored step (every trajectory of every writer episode,
taken once from the overlapping items) is fed to the same observer, run by
run (runs as `BufferContents.runs()` recovers them), and the run digests are
combined the same way. The result equals populate.json's exactly when the
buffer holds every step its driver observed: nothing evicted (capacity at
least the number of items) and no writer episode shorter than
`sequence_length` (such a tail leaves no item). `check_against_populate`
says which run differs when it does not.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from smart_control.reinforcement_learning.datasets import buffer_contents
from smart_control.reinforcement_learning.observers.collection_observers import (
    ContentHashObserver,
)
from smart_control.reinforcement_learning.populate import starter_buffer


def run_hashes(contents: buffer_contents.BufferContents) -> List[str]:
    """The hex digest of every run, in run order."""
    digests = []
    for run in contents.runs():
        observer = ContentHashObserver()
        for index in run:
            for trajectory in contents.segments[index].trajectories(contents.data_spec):
                observer(trajectory)
        digests.append(observer.hexdigest())
    return digests


def combine(digests: List[str]) -> str:
    """The buffer's hash from its runs' digests (`starter_buffer.combined_hash`)."""
    return starter_buffer.combined_hash([{"content_hash": d} for d in digests])


def content_hash(contents: buffer_contents.BufferContents) -> str:
    """The buffer's content hash, as populate.json's `content_hash` defines it."""
    return combine(run_hashes(contents))


def check_against_populate(
    contents: buffer_contents.BufferContents,
    populate: Optional[Dict[str, Any]],
    digests: Optional[List[str]] = None,
) -> Optional[str]:
    """Why the recomputed hash differs from populate.json's, or None if it does not.

    Args:
      contents: The buffer's contents.
      populate: The buffer's populate.json (None: nothing to compare).
      digests: `run_hashes(contents)`, if the caller has it.

    Returns:
      None when populate.json is absent, incomplete or matches; otherwise a
      one-line reason naming the first run that differs.
    """
    if not populate or "content_hash" not in populate:
        return None
    digests = run_hashes(contents) if digests is None else digests
    recorded = populate.get("runs", [])
    if len(digests) != len(recorded):
        return (
            f"the buffer holds {len(digests)} runs, populate.json records "
            f"{len(recorded)} (evicted items, or an episode tail shorter than "
            "sequence_length, merge or drop runs)"
        )
    runs = contents.runs()
    for number, (digest, record) in enumerate(zip(digests, recorded)):
        if digest != record.get("content_hash"):
            steps = sum(
                contents.environment_steps(contents.segments[i]) for i in runs[number]
            )
            return (
                f"run {number} differs: the buffer holds {steps} of its "
                f"{record.get('steps')} steps (evicted, or a tail shorter than "
                "sequence_length)"
            )
    return None
