"""Loads a replay buffer directory back and reports what it holds.

    python -m smart_control.reinforcement_learning.scripts.inspect_buffer --root_dir=PATH

Prints the buffer's metadata, its checkpoints, then restores the newest
checkpoint into a fresh Reverb server (read-only: nothing in PATH changes),
samples one batch and prints its shapes and reward statistics. The data spec
is read from the checkpoint itself, so no gin config is needed.
"""

from __future__ import annotations

import json
import os
import tempfile

from absl import flags

from smart_control.reinforcement_learning.utils import binary

binary.define_common_flags(
    root_dir_help="The buffer directory (or one checkpoint) to inspect."
)
flags.DEFINE_integer("batch_size", 256, "Items to sample for the statistics.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise binary.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.root_dir:
        raise binary.UserError("--root_dir is required")
    buffer_dir = os.path.abspath(os.path.expanduser(FLAGS.root_dir))
    if not os.path.exists(buffer_dir):
        raise binary.UserError(f"no such buffer directory: {buffer_dir}")
    with binary.quiet_native_logs(None):
        import numpy as np

        from smart_control.reinforcement_learning.replay_buffer import (
            checkpoint_files,
            checkpoint_store,
            replay_buffer,
        )
    store = checkpoint_store.CheckpointStore(buffer_dir)
    latest = (
        buffer_dir
        if checkpoint_store.is_complete(buffer_dir)
        else store.latest_checkpoint()
    )
    if latest is None:
        raise binary.UserError(
            f"no complete replay buffer checkpoint found in {buffer_dir}"
        )
    metadata = store.read_metadata() or {}
    table_name = metadata.get("table_name", replay_buffer.DEFAULT_TABLE_NAME)
    table = checkpoint_files.inspect_table(latest, table_name)
    print(f"Buffer {buffer_dir}")
    for key in ("capacity", "sequence_length", "data_spec", "created_at", "updated_at"):
        if key in metadata:
            print(f"  {key}: {metadata[key]}")
    print(
        f"  checkpoints: {', '.join(os.path.basename(p) for p in store.all_checkpoints())}"
    )
    print(f"  newest: {latest} ({table.num_items} items, max_size {table.max_size})")
    populate = os.path.join(buffer_dir, "populate.json")
    if os.path.exists(populate):
        with open(populate) as f:
            state = json.load(f)
        print(
            f"  populate: {state['status']}, {len(state['runs'])}/{state['num_runs']} runs"
        )

    data_spec = checkpoint_files.step_spec_from_signature(table.signature)
    with tempfile.TemporaryDirectory() as scratch:
        manager = replay_buffer.ReplayBufferManager(
            data_spec,
            max(table.num_items, 1),
            scratch,
            sequence_length=table.sequence_length or 2,
            table_name=table_name,
        )
        with manager:
            manager.load_replay_buffer(source_dir=latest)
            print(f"Loaded back: {manager.num_frames()} frames")
            if manager.num_frames():
                experience, _ = next(
                    iter(manager.get_dataset(batch_size=FLAGS.batch_size))
                )
                reward = experience.reward.numpy()
                print(
                    f"  sampled batch: observation {tuple(experience.observation.shape)}, "
                    f"action {tuple(experience.action.shape)}"
                )
                print(
                    f"  reward: mean {np.mean(reward):.4f}, min {np.min(reward):.4f}, "
                    f"max {np.max(reward):.4f}"
                )
    return 0


if __name__ == "__main__":
    binary.run(main, network=binary.PRIVATE)
