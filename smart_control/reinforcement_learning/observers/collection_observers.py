"""Trajectory observers for collection loops: statistics and a content hash.

Both are plain callables taking one unbatched `Trajectory`, as TF-Agents
drivers and Actors call their observers.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import tensorflow as tf


class EpisodeStatsObserver:
    """Counts steps, finished episodes and the reward of one collection run."""

    def __init__(self):
        self.steps = 0
        self.episodes = 0
        self.total_reward = 0.0

    def __call__(self, traj: Any) -> None:
        if traj.is_boundary():
            return  # The LAST -> FIRST transition is no environment step.
        self.steps += 1
        self.total_reward += float(np.sum(traj.reward))
        if traj.is_last():
            self.episodes += 1

    @property
    def mean_reward(self) -> float:
        return self.total_reward / self.steps if self.steps else 0.0


class ContentHashObserver:
    """SHA-256 over every observed trajectory's bytes, in order.

    Two collection runs that wrote the same experience have the same digest,
    whatever Reverb's item keys and timestamps are; that is how a starter
    buffer's contents are compared across machines and reruns.
    """

    def __init__(self):
        self._hash = hashlib.sha256()

    def __call__(self, traj: Any) -> None:
        for leaf in tf.nest.flatten(traj):
            array = np.ascontiguousarray(leaf)
            self._hash.update(array.dtype.str.encode())
            self._hash.update(array.tobytes())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
