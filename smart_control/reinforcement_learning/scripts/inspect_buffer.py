"""Loads a replay buffer directory back and reports what it holds.

    python -m smart_control.reinforcement_learning.scripts.inspect_buffer \
        --root_dir=PATH [--table_name=NAME]

PATH is a buffer directory of this project, a plain Reverb checkpoint root
(such as the reference smart_control's starter buffers) or one checkpoint.
Prints the buffer's metadata and checkpoints, then restores the newest
checkpoint that verifies (falling back to older ones, with one warning line,
exactly as `load_replay_buffer` does) into a fresh Reverb server in a scratch
directory, so nothing in PATH changes; samples one batch and prints its shapes
and reward statistics. The data spec is read from the checkpoint itself (its
signature, or for checkpoints written without one, the stored data), so no gin
config is needed. `--table_name` picks the table of a checkpoint that holds
several.
"""

from __future__ import annotations

import json
import os
import tempfile

from absl import flags

from smart_control.reinforcement_learning.utils import binary, native_logs

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines this binary's flags (called by `run`, never on import)."""
    binary.define_common_flags(
        root_dir_help="The buffer directory (or one checkpoint) to inspect.",
        root_dir_role=binary.INPUT,
    )
    flags.DEFINE_integer("batch_size", 256, "Items to sample for the statistics.")
    flags.DEFINE_string(
        "table_name",
        None,
        "The table to inspect; default: the buffer's own, or the checkpoint's only "
        "one.",
    )


def _populate_line(buffer_dir: str) -> str:
    path = os.path.join(buffer_dir, "populate.json")
    try:
        with open(path, "rb") as f:
            state = json.loads(f.read().decode("utf-8"))
        return f"{state['status']}, {len(state['runs'])}/{state['num_runs']} runs"
    except FileNotFoundError:
        return ""
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"unreadable {path} ({type(e).__name__})"


def _read_newest(candidates, table_name, preferred, checkpoint_files):
    """The first candidate whose table reads: (candidate, table, spec)."""
    for candidate in candidates:
        if candidate.problem:
            continue
        try:
            table = checkpoint_files.inspect_table(
                candidate.path, table_name, preferred=preferred
            )
            if table.signature is not None:
                spec = checkpoint_files.step_spec_from_signature(table.signature)
            elif table.first_item is not None:
                spec = checkpoint_files.step_spec_from_columns(
                    checkpoint_files.stored_column_specs(
                        candidate.path, table.first_item
                    )
                )
            else:
                continue
        except checkpoint_files.CheckpointFormatError:
            continue  # The load below reports it, and falls back.
        return candidate, table, spec
    return None


def main(argv):
    binary.check_no_arguments(argv)
    if not FLAGS.root_dir:
        raise binary.UserError("--root_dir is required")
    buffer_dir = os.path.abspath(os.path.expanduser(FLAGS.root_dir))
    if not os.path.exists(buffer_dir):
        raise binary.UserError(f"no such buffer directory: {buffer_dir}")
    if not os.path.isdir(buffer_dir):
        raise binary.UserError(
            f"--root_dir {buffer_dir} is a file, not a buffer directory"
        )
    binary.check_flag_int("batch_size", 1)
    with native_logs.quiet_native_logs(None):
        import numpy as np

        from smart_control.reinforcement_learning.replay_buffer import (
            checkpoint_files,
            checkpoint_store,
            loading,
            metadata,
            replay_buffer,
        )
    meta = metadata.read(os.path.join(buffer_dir, checkpoint_store.METADATA_FILE)) or {}
    preferred = meta.get("table_name", replay_buffer.DEFAULT_TABLE_NAME)
    candidates = loading.find_candidates(
        buffer_dir, checkpoint_store.CheckpointStore(buffer_dir), None, None
    )
    newest = _read_newest(candidates, FLAGS.table_name, preferred, checkpoint_files)
    if newest is None:
        raise binary.UserError(
            f"no readable, non-empty replay buffer checkpoint in {buffer_dir}"
        )
    candidate, table, data_spec = newest
    print(f"Buffer {buffer_dir}")
    for key in ("capacity", "sequence_length", "data_spec", "created_at", "updated_at"):
        if key in meta:
            print(f"  {key}: {meta[key]}")
    print(f"  checkpoints: {', '.join(c.name for c in reversed(candidates))}")
    signature = "signature" if table.signature is not None else "no signature"
    print(f"  table: {table.name!r} ({signature})")
    print(
        f"  newest readable: {candidate.path} ({table.num_items} items, "
        f"max_size {table.max_size})"
    )
    populate = _populate_line(buffer_dir)
    if populate:
        print(f"  populate: {populate}")

    with tempfile.TemporaryDirectory() as scratch:
        manager = replay_buffer.ReplayBufferManager(
            data_spec,
            # Room for an older fallback checkpoint too (its table's size).
            max(table.num_items, table.max_size, 1),
            scratch,
            sequence_length=table.sequence_length or 2,
            allow_shrink=True,  # An older fallback may hold more items.
        )
        with manager:
            manager.load_replay_buffer(source_dir=buffer_dir, table_name=table.name)
            print(
                f"Loaded back: {manager.num_frames()} frames from "
                f"{manager.loaded_checkpoint}"
            )
            if manager.num_frames():
                experience, _ = next(
                    iter(manager.get_dataset(batch_size=FLAGS.batch_size))
                )
                # Without a signature the steps are a flat tuple of columns.
                prefix = "column " if table.signature is None else ""
                shapes = ", ".join(
                    f"{prefix}{path}: {tuple(t.shape)}"
                    for path, t in _named_leaves(experience)
                )
                print(f"  sampled batch: {shapes}")
                reward = getattr(experience, "reward", None)
                if reward is not None:
                    reward = reward.numpy()
                    print(
                        f"  reward: mean {np.mean(reward):.4f}, min "
                        f"{np.min(reward):.4f}, max {np.max(reward):.4f}"
                    )
    return 0


def _named_leaves(nest):
    import tree

    for path, leaf in tree.flatten_with_path(nest):
        yield "/".join(str(p) for p in path) or "<root>", leaf


def run() -> None:
    """Console entry point (smart-control-inspect-buffer)."""
    define_flags()
    binary.run(main, network=binary.PRIVATE)


if __name__ == "__main__":
    run()
