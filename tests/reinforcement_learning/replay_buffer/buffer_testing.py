"""Small specs and trajectories for replay buffer tests.

Every step carries a unique id in `observation[0]`, so a test can tell exactly
which items a buffer holds: the item written at step `i` (sequence length 2)
starts with observation id `i - 1`.
"""

import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

OBS_SIZE = 4


def make_spec(obs_size: int = OBS_SIZE) -> trajectory.Trajectory:
    return trajectory.Trajectory(
        step_type=tf.TensorSpec([], tf.int32, "step_type"),
        observation=tf.TensorSpec([obs_size], tf.float32, "observation"),
        action=tensor_spec.BoundedTensorSpec([2], tf.float32, -1.0, 1.0, "action"),
        policy_info=(),
        next_step_type=tf.TensorSpec([], tf.int32, "step_type"),
        reward=tf.TensorSpec([], tf.float32, "reward"),
        discount=tf.TensorSpec([], tf.float32, "discount"),
    )


def make_step(
    step_id: int, last: bool = False, obs_size: int = OBS_SIZE
) -> trajectory.Trajectory:
    """One step; `last` makes it the episode's boundary step (LAST -> FIRST),
    after which the observer starts a new sequence."""
    observation = np.zeros(obs_size, np.float32)
    observation[0] = step_id
    return trajectory.Trajectory(
        step_type=np.int32(ts.StepType.LAST if last else ts.StepType.MID),
        observation=observation,
        action=np.zeros(2, np.float32),
        policy_info=(),
        next_step_type=np.int32(ts.StepType.FIRST if last else ts.StepType.MID),
        reward=np.float32(step_id),
        discount=np.float32(1.0),
    )


def write_steps(observer, first_id: int, count: int) -> None:
    """Writes `count` consecutive steps of one episode (count - 1 items)."""
    for step_id in range(first_id, first_id + count):
        observer(make_step(step_id))


def stored_first_ids(manager) -> set:
    """The first-step ids of every item in the buffer, read by sampling.

    Samples (uniformly, with replacement) many times the table size, so every
    item of a small table is seen with overwhelming probability.
    """
    size = manager.num_frames()
    if size == 0:
        return set()
    batch = 64
    seen = set()
    iterator = iter(manager.get_dataset(batch_size=batch))
    for _ in range(max(20, 30 * size // batch)):
        experience, _ = next(iterator)
        seen.update(experience.observation[:, 0, 0].numpy().astype(int).tolist())
        if len(seen) == size:
            break
    return seen
