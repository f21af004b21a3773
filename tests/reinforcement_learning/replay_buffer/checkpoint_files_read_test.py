"""replay_buffer/checkpoint_files.py on what a real, tiny Reverb checkpoint holds.

A Reverb server in this process (a DefaultCheckpointer in tmp_path) writes the
checkpoint; the module's readers must find in it what was inserted, and a
re-configured copy must restore into a server as documented.
"""

import os

import numpy as np
import pytest
import reverb
import tensorflow as tf

from smart_control.reinforcement_learning.replay_buffer import (
    checkpoint_copy,
    checkpoint_files,
)

TABLE = "trajectories"
OTHER = "single_steps"
SEQUENCE_LENGTH = 3
NUM_STEPS = 8  # 6 trajectory items, one per step from the third on
NUM_OTHER = 4
SIGNATURE = {
    "observation": tf.TensorSpec([SEQUENCE_LENGTH, 2], tf.float32),
    "reward": tf.TensorSpec([SEQUENCE_LENGTH], tf.float32),
}


def _table(name, signature=None, max_size=100):
    return reverb.Table(
        name=name,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        max_size=max_size,
        rate_limiter=reverb.rate_limiters.MinSize(1),
        signature=signature,
    )


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint of two tables: length-3 trajectories and single steps.

    Trajectory item k starts at step k, so its first reward is k.
    """
    server = reverb.Server(
        tables=[_table(TABLE, SIGNATURE), _table(OTHER)],
        checkpointer=reverb.checkpointers.DefaultCheckpointer(
            str(tmp_path / "checkpoints")
        ),
    )
    try:
        client = reverb.Client(f"localhost:{server.port}")
        with client.trajectory_writer(num_keep_alive_refs=SEQUENCE_LENGTH) as writer:
            for step in range(NUM_STEPS):
                writer.append(
                    {
                        "observation": np.full(2, step, np.float32),
                        "reward": np.float32(step),
                    }
                )
                if step >= SEQUENCE_LENGTH - 1:
                    writer.create_item(
                        TABLE,
                        priority=1.0,
                        trajectory={
                            key: writer.history[key][-SEQUENCE_LENGTH:]
                            for key in ("observation", "reward")
                        },
                    )
        for i in range(NUM_OTHER):
            client.insert(np.int64(i), {OTHER: 1.0})
        path = client.checkpoint()
    finally:
        server.stop()
    assert os.path.exists(os.path.join(path, checkpoint_files.DONE_FILE))
    return path


NUM_ITEMS = NUM_STEPS - SEQUENCE_LENGTH + 1


def test_read_tables_names_every_table_with_its_configuration(checkpoint):
    tables = checkpoint_files.read_tables(checkpoint)
    assert sorted(tables) == [OTHER, TABLE]
    assert tables[TABLE].max_size == 100
    assert tables[TABLE].rate_limiter.min_size_to_sample == 1
    assert tables[TABLE].rate_limiter.insert_count == NUM_ITEMS


def test_read_items_keeps_only_the_tables_items(checkpoint):
    items = checkpoint_files.read_items(checkpoint, TABLE)
    assert len(items) == NUM_ITEMS
    assert {item.table for item in items} == {TABLE}
    assert len(checkpoint_files.read_items(checkpoint, OTHER)) == NUM_OTHER
    assert checkpoint_files.read_items(checkpoint, "absent") == []


def test_item_sequence_length_counts_the_steps_of_an_item(checkpoint):
    for item in checkpoint_files.read_items(checkpoint, TABLE):
        assert checkpoint_files.item_sequence_length(item) == SEQUENCE_LENGTH
    # A legacy Client.insert item is one squeezed step.
    for item in checkpoint_files.read_items(checkpoint, OTHER):
        assert checkpoint_files.item_sequence_length(item) == 1


def test_inspect_table(checkpoint):
    table = checkpoint_files.inspect_table(checkpoint, TABLE)
    assert table.name == TABLE
    assert (table.max_size, table.num_items) == (100, NUM_ITEMS)
    assert table.sequence_length == SEQUENCE_LENGTH
    assert table.num_tables == 2
    assert len(table.items) == NUM_ITEMS
    assert table.signature == SIGNATURE
    assert checkpoint_files.step_spec_from_signature(table.signature) == {
        "observation": tf.TensorSpec([2], tf.float32),
        "reward": tf.TensorSpec([], tf.float32),
    }
    # A table created without a signature has none in the checkpoint.
    assert checkpoint_files.inspect_table(checkpoint, OTHER).signature is None


def test_inspect_table_names_the_tables_there_are(checkpoint):
    with pytest.raises(checkpoint_files.TableChoiceError) as error:
        checkpoint_files.inspect_table(checkpoint, "replay_buffer")
    assert str(error.value) == (
        f"checkpoint {checkpoint}: no table 'replay_buffer' in the checkpoint "
        f"(tables: [{OTHER!r}, {TABLE!r}])"
    )


def test_a_directory_without_the_files_is_not_a_checkpoint(tmp_path):
    with pytest.raises(checkpoint_files.CheckpointFormatError, match="is missing"):
        checkpoint_files.inspect_table(str(tmp_path), TABLE)


def test_a_damaged_file_is_a_format_error(checkpoint, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / checkpoint_files.TABLES_FILE).write_bytes(b"not a zlib tfrecord")
    with pytest.raises(
        checkpoint_files.CheckpointFormatError, match="is corrupt or truncated"
    ):
        checkpoint_files.read_tables(str(damaged))


def _first_rewards(server, count):
    """First rewards of `count` items, oldest first (the copy's sampler is Fifo
    and every item is sampled once)."""
    client = reverb.Client(f"localhost:{server.port}")
    # A sample is a list of steps; a step's data is flattened: observation, reward.
    return [
        float(sample[0].data[1]) for sample in client.sample(TABLE, num_samples=count)
    ]


def _restore(copy, table):
    return reverb.Server(
        tables=[table],
        checkpointer=reverb.checkpointers.DefaultCheckpointer(
            os.path.join(os.path.dirname(copy), "staging"),
            fallback_checkpoint_path=copy,
        ),
    )


def test_reconfigured_copy_keeps_the_newest_items_in_the_new_table(
    checkpoint, tmp_path
):
    wanted = reverb.Table(
        name=TABLE,
        sampler=reverb.selectors.Fifo(),
        remover=reverb.selectors.Fifo(),
        max_size=10,
        max_times_sampled=1,
        rate_limiter=reverb.rate_limiters.SampleToInsertRatio(
            samples_per_insert=2.0, min_size_to_sample=1, error_buffer=4.0
        ),
        signature=SIGNATURE,
    )
    copy = str(tmp_path / "copy" / "checkpoint")
    counts = checkpoint_copy.write_reconfigured_copy(
        checkpoint,
        copy,
        checkpoint_files.inspect_table(checkpoint, TABLE),
        wanted.info,
        capacity=4,
        signature=SIGNATURE,
    )
    assert counts == {"items": 4, "dropped": NUM_ITEMS - 4}

    copied = checkpoint_files.inspect_table(copy, TABLE)
    assert copied.num_tables == 1 and copied.num_items == 4
    assert copied.max_size == 10 and copied.proto.max_times_sampled == 1
    limiter = copied.proto.rate_limiter
    # As if the 4 items had just been inserted and sampled to the centre of
    # the limiter's band, [min_diff, max_diff] = [2 - 4, 2 + 4].
    assert limiter.insert_count == 4 and limiter.delete_count == 0
    assert limiter.insert_count * 2.0 - limiter.sample_count == 2.0

    server = _restore(copy, wanted)
    try:
        info = reverb.Client(f"localhost:{server.port}").server_info()[TABLE]
        assert info.current_size == 4 and info.max_size == 10
        # The two oldest trajectories (starting at steps 0 and 1) are dropped.
        assert _first_rewards(server, 4) == [2.0, 3.0, 4.0, 5.0]
    finally:
        server.stop()


def test_reconfigured_copy_of_everything_links_the_data(checkpoint, tmp_path):
    """Nothing dropped from a one-table checkpoint: item and chunk files are the
    source's (hard-linked), only the table record changes."""
    one_table = str(tmp_path / "one_table")
    first = checkpoint_files.inspect_table(checkpoint, TABLE)
    checkpoint_copy.write_reconfigured_copy(
        checkpoint, one_table, first, _table(TABLE).info, 100, SIGNATURE
    )
    copy = str(tmp_path / "copy")
    wanted = _table(TABLE, SIGNATURE, max_size=50)
    counts = checkpoint_copy.write_reconfigured_copy(
        one_table,
        copy,
        checkpoint_files.inspect_table(one_table, TABLE),
        wanted.info,
        capacity=100,
        signature=SIGNATURE,
    )
    assert counts == {"items": NUM_ITEMS, "dropped": 0}
    for name in (checkpoint_files.ITEMS_FILE, checkpoint_files.CHUNKS_FILE):
        assert os.path.samefile(os.path.join(one_table, name), os.path.join(copy, name))
    copied = checkpoint_files.inspect_table(copy, TABLE)
    assert copied.max_size == 50
    assert [item.key for item in copied.items] == [item.key for item in first.items]


def test_reconfigured_copy_refuses_an_existing_directory(checkpoint, tmp_path):
    (tmp_path / "copy").mkdir()
    with pytest.raises(FileExistsError):
        checkpoint_copy.write_reconfigured_copy(
            checkpoint,
            str(tmp_path / "copy"),
            checkpoint_files.inspect_table(checkpoint, TABLE),
            _table(TABLE).info,
            capacity=1,
            signature=SIGNATURE,
        )
