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


# -- buffers written elsewhere ------------------------------------------------------

REFERENCE_TABLE = "uniform_table"


def write_reference_style_buffer(checkpoint_dir, steps, spec=None, capacity=1000):
    """Writes `steps` steps of one episode exactly as the reference smart_control does.

    The reference (google/sbsim) `ReplayBufferManager`: a table
    `uniform_table` without signature (uniform sampler, FIFO remover,
    MinSize(1)), a `DefaultCheckpointer` rooted at `checkpoint_dir`,
    TF-Agents' `ReverbReplayBuffer` and `ReverbAddTrajectoryObserver`
    (sequence 2, stride 1), and `replay_buffer.py_client.checkpoint()`.

    Returns:
      The checkpoint path (a timestamped directory directly under
      `checkpoint_dir`).
    """
    import reverb
    from tf_agents.replay_buffers import reverb_replay_buffer, reverb_utils

    table = reverb.Table(
        REFERENCE_TABLE,
        max_size=capacity,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        rate_limiter=reverb.rate_limiters.MinSize(1),
    )
    checkpointer = reverb.checkpointers.DefaultCheckpointer(path=str(checkpoint_dir))
    server = reverb.Server([table], port=None, checkpointer=checkpointer)
    try:
        replay_buffer = reverb_replay_buffer.ReverbReplayBuffer(
            spec or make_spec(),
            sequence_length=2,
            table_name=REFERENCE_TABLE,
            local_server=server,
        )
        observer = reverb_utils.ReverbAddTrajectoryObserver(
            replay_buffer.py_client, REFERENCE_TABLE, sequence_length=2, stride_length=1
        )
        write_steps(observer, 0, steps)
        observer.flush()
        return replay_buffer.py_client.checkpoint()
    finally:
        server.stop()


def write_plain_reverb_buffer(
    checkpoint_dir, steps, signature, table_name="plain", extra_tables=()
):
    """A checkpoint of a plain Reverb server (TF-Agents' observer, sequence 2).

    Args:
      checkpoint_dir: The checkpointer root.
      steps: Steps of one episode written into `table_name`.
      signature: The table signature: None, or e.g. `add_outer_dim(spec, 2)`.
      table_name: The table written.
      extra_tables: Names of further (empty) tables in the same server.

    Returns:
      The checkpoint path.
    """
    import reverb
    from tf_agents.replay_buffers import reverb_utils

    tables = [
        reverb.Table(
            name,
            reverb.selectors.Uniform(),
            reverb.selectors.Fifo(),
            1000,
            reverb.rate_limiters.MinSize(1),
            signature=signature,
        )
        for name in (table_name, *extra_tables)
    ]
    checkpointer = reverb.checkpointers.DefaultCheckpointer(path=str(checkpoint_dir))
    server = reverb.Server(tables, port=None, checkpointer=checkpointer)
    try:
        client = reverb.Client(f"localhost:{server.port}")
        observer = reverb_utils.ReverbAddTrajectoryObserver(client, table_name, 2)
        write_steps(observer, 0, steps)
        observer.close()
        return client.checkpoint()
    finally:
        server.stop()


def tree_digest(path):
    """A hash of every file (relative name and bytes) under `path`."""
    import hashlib
    import os

    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(path)):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            digest.update(os.path.relpath(full, path).encode())
            with open(full, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()
