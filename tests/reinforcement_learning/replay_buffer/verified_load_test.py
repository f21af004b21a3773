"""Verified loads, fallback, retention and capacity (issue 15.2, 15.3, 15.5).

Every damaged checkpoint must either be skipped for the newest older one that
verifies (one warning line) or, when none verifies, fail with one error line
naming the directory and the file: never a traceback, never a short load.
"""

import json
import logging
import os
import shutil
import socket

import pytest
import tensorflow as tf

from smart_control.reinforcement_learning.replay_buffer import checkpoint_store
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    CapacityTooSmallError,
    CheckpointVerificationError,
    PortInUseError,
    ReplayBufferManager,
)
from tests.reinforcement_learning.replay_buffer.buffer_testing import (
    make_spec,
    stored_first_ids,
    tree_digest,
    write_steps,
)

NEWEST = "ckpt-00000002"
OLDER = "ckpt-00000001"


@pytest.fixture(scope="module")
def buffer_template(tmp_path_factory):
    """ckpt-00000001 holds 10 items (ids 0..9), ckpt-00000002 20 (ids 0..19)."""
    root = tmp_path_factory.mktemp("template") / "buffer"
    with ReplayBufferManager(make_spec(), 100, root) as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 11)
        manager.checkpoint()
        write_steps(observer, 11, 10)
        manager.checkpoint()
    return root


@pytest.fixture
def buffer_dir(tmp_path, buffer_template):
    path = tmp_path / "buffer"
    shutil.copytree(buffer_template, path)
    return path


def _records(path):
    dataset = tf.data.TFRecordDataset(str(path), compression_type="ZLIB")
    return list(dataset.as_numpy_iterator())


def _rewrite(path, records):
    with tf.io.TFRecordWriter(str(path), options="ZLIB") as writer:
        for record in records:
            writer.write(record)


def _empty(path):
    open(path, "wb").close()


def _cut_bytes(path):
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def _half_records(path):
    records = _records(path)
    _rewrite(path, records[: len(records) // 2])


def _flip_bytes(path):
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    for i in range(middle, min(middle + 16, len(data))):
        data[i] ^= 0xFF
    open(path, "wb").write(bytes(data))


CORRUPTIONS = {
    "items empty": ("items.tfrecord", _empty),
    "items cut mid-record": ("items.tfrecord", _cut_bytes),
    "items half the records": ("items.tfrecord", _half_records),
    "items flipped bytes": ("items.tfrecord", _flip_bytes),
    "items missing": ("items.tfrecord", os.remove),
    "chunks empty": ("chunks.tfrecord", _empty),
    "chunks cut mid-record": ("chunks.tfrecord", _cut_bytes),
    "chunks half the records": ("chunks.tfrecord", _half_records),
    "chunks flipped bytes": ("chunks.tfrecord", _flip_bytes),
    "chunks missing": ("chunks.tfrecord", os.remove),
    "tables empty": ("tables.tfrecord", _empty),
    "tables flipped bytes": ("tables.tfrecord", _flip_bytes),
    "DONE missing": ("DONE", os.remove),
}


def _corrupt(buffer_dir, name, corruption):
    filename, damage = CORRUPTIONS[corruption]
    damage(buffer_dir / "checkpoints" / name / filename)
    return filename


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- records ----------------------------------------------------------------------


def test_metadata_records_the_item_count_of_every_checkpoint(buffer_dir):
    content = json.loads((buffer_dir / "metadata.json").read_text())
    assert content["checkpoint_items"] == {OLDER: 10, NEWEST: 20}
    assert content["checkpoints"] == [OLDER, NEWEST]


# -- fallback ---------------------------------------------------------------------


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_damaged_newest_checkpoint_falls_back_in_one_warning(
    buffer_dir, corruption, caplog
):
    filename = _corrupt(buffer_dir, NEWEST, corruption)
    caplog.set_level(logging.WARNING)
    with ReplayBufferManager(make_spec(), 100, buffer_dir) as manager:
        manager.load_replay_buffer()
        assert manager.loaded_checkpoint.endswith(OLDER)
        assert manager.num_frames() == 10
        assert stored_first_ids(manager) == set(range(10))
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert NEWEST in warnings[0] and "\n" not in warnings[0]
    assert filename in warnings[0] or "chunks.tfrecord" in warnings[0], warnings[0]


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_without_metadata_the_files_must_agree(buffer_dir, corruption, caplog):
    """Buffers written elsewhere (or by older versions) have no record of
    their counts: a damaged newest checkpoint is still never loaded short."""
    os.remove(buffer_dir / "metadata.json")
    _corrupt(buffer_dir, NEWEST, corruption)
    caplog.set_level(logging.WARNING)
    with ReplayBufferManager(make_spec(), 100, buffer_dir) as manager:
        manager.load_replay_buffer()
        # Without DONE and without a record, the newest is an interrupted
        # write, silently not a candidate; every other damage is reported.
        assert manager.loaded_checkpoint.endswith(OLDER)
        assert manager.num_frames() == 10
    if corruption != "DONE missing":
        assert len(_warnings(caplog)) == 1, _warnings(caplog)


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_when_none_verifies_one_line_names_the_directory_and_the_file(
    buffer_dir, corruption
):
    shutil.rmtree(buffer_dir / "checkpoints" / OLDER)
    filename = _corrupt(buffer_dir, NEWEST, corruption)
    before = tree_digest(buffer_dir / "checkpoints")
    manager = ReplayBufferManager(make_spec(), 100, buffer_dir)
    with pytest.raises(CheckpointVerificationError) as raised:
        manager.load_replay_buffer()
    message = str(raised.value)
    assert "\n" not in message, message
    assert str(buffer_dir) in message and NEWEST in message
    assert filename in message or "chunks.tfrecord" in message, message
    assert tree_digest(buffer_dir / "checkpoints") == before
    # The failed load released the directory.
    manager.create_replay_buffer()
    manager.close()


def test_random_bytes_in_metadata_json_are_one_warning_and_load_the_newest(
    buffer_dir, caplog
):
    (buffer_dir / "metadata.json").write_bytes(os.urandom(300))
    caplog.set_level(logging.WARNING)
    with ReplayBufferManager(make_spec(), 100, buffer_dir) as manager:
        manager.load_replay_buffer()
        assert manager.loaded_checkpoint.endswith(NEWEST)
        assert manager.num_frames() == 20
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "metadata.json" in warnings[0], warnings
    assert json.loads((buffer_dir / "metadata.json").read_text())["capacity"] == 100


def test_expected_items_of_the_caller_are_checked_too(buffer_dir, caplog):
    caplog.set_level(logging.WARNING)
    with ReplayBufferManager(make_spec(), 100, buffer_dir) as manager:
        manager.load_replay_buffer(expected_items=25)
        assert manager.loaded_checkpoint.endswith(OLDER)
    assert "the caller's state recorded 25" in _warnings(caplog)[0]
    newest = str(buffer_dir / "checkpoints" / NEWEST)
    with ReplayBufferManager(make_spec(), 100, buffer_dir) as manager:
        # Only the checkpoints the caller names are candidates.
        manager.load_replay_buffer(newest, expected_items={OLDER: 10, NEWEST: 20})
        assert manager.loaded_checkpoint == newest
    with pytest.raises(CheckpointVerificationError, match="recorded 99"):
        ReplayBufferManager(make_spec(), 100, buffer_dir).load_replay_buffer(
            newest, expected_items={NEWEST: 99}
        )


# -- capacity -----------------------------------------------------------------------


def test_a_smaller_capacity_is_refused_naming_both_numbers_and_the_setting(
    buffer_dir,
):
    before = tree_digest(buffer_dir / "checkpoints")
    with pytest.raises(CapacityTooSmallError) as raised:
        ReplayBufferManager(make_spec(), 15, buffer_dir).load_replay_buffer()
    message = str(raised.value)
    assert "holds 20 items, more than capacity 15" in message
    assert "ReplayBufferManager.allow_shrink = True" in message
    assert "ReplayBufferManager.capacity" in message and "\n" not in message
    assert tree_digest(buffer_dir / "checkpoints") == before


def test_allow_shrink_keeps_the_original_checkpoint_for_good(buffer_dir, caplog):
    caplog.set_level(logging.WARNING)
    with ReplayBufferManager(
        make_spec(), 15, buffer_dir, allow_shrink=True, num_checkpoints_to_keep=1
    ) as manager:
        _, observer = manager.load_replay_buffer()
        assert stored_first_ids(manager) == set(range(5, 20))
        write_steps(observer, 100, 3)
        for _ in range(3):
            manager.checkpoint()
    assert "Dropped the 5 oldest of 20 items" in caplog.text
    original = buffer_dir / "checkpoints" / NEWEST
    assert (original / "KEEP").read_text().startswith("held 20 items")
    assert sorted(os.listdir(buffer_dir / "checkpoints")) == [NEWEST, "ckpt-00000005"]


# -- retention ------------------------------------------------------------------------


def test_protected_checkpoints_survive_every_prune(buffer_dir):
    committed = [OLDER]
    with ReplayBufferManager(
        make_spec(),
        100,
        buffer_dir,
        num_checkpoints_to_keep=1,
        protected_checkpoints=lambda: list(committed),
    ) as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 3)
        manager.checkpoint()  # ckpt-3: ckpt-2 goes, ckpt-1 is protected
        second = manager.checkpoint()  # ckpt-4: ckpt-3 goes
        assert sorted(os.listdir(buffer_dir / "checkpoints")) == [
            OLDER,
            "ckpt-00000004",
        ]
        committed[:] = [second]  # a path works as well as a name
        manager.checkpoint()  # ckpt-5: ckpt-1 is no longer protected
        assert sorted(os.listdir(buffer_dir / "checkpoints")) == [
            "ckpt-00000004",
            "ckpt-00000005",
        ]


def test_a_failing_protected_callback_prunes_nothing(buffer_dir, caplog):
    def broken():
        raise OSError("state file unreadable")

    caplog.set_level(logging.WARNING)
    with ReplayBufferManager(
        make_spec(),
        100,
        buffer_dir,
        num_checkpoints_to_keep=1,
        protected_checkpoints=broken,
    ) as manager:
        manager.create_replay_buffer()
        manager.checkpoint()
    assert len(os.listdir(buffer_dir / "checkpoints")) == 3
    assert "state file unreadable" in caplog.text


def test_protected_checkpoints_must_be_callable(tmp_path):
    with pytest.raises(ValueError, match="protected_checkpoints"):
        ReplayBufferManager(
            make_spec(), 10, tmp_path, protected_checkpoints=["ckpt-00000001"]
        )


# -- ports --------------------------------------------------------------------------------


def test_a_busy_port_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        manager = ReplayBufferManager(make_spec(), 10, tmp_path / "buf", port=port)
        with pytest.raises(PortInUseError, match=f"port {port}: the port is in use"):
            manager.create_replay_buffer()
    assert not os.path.exists(tmp_path / "buf" / checkpoint_store.STAGING_DIR)
    assert not os.path.exists(tmp_path / "buf" / "metadata.json")


@pytest.mark.slow
def test_inspect_buffer_loads_back_the_newest_checkpoint_that_verifies(buffer_dir):
    import subprocess
    import sys

    repo_root = os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    )
    _corrupt(buffer_dir, NEWEST, "items empty")
    before = tree_digest(buffer_dir)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smart_control.reinforcement_learning.scripts.inspect_buffer",
            f"--root_dir={buffer_dir}",
            "--batch_size=8",
        ],
        env=dict(os.environ, PYTHONPATH=repo_root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Loaded back: 10 frames from {buffer_dir / 'checkpoints' / OLDER}" in (
        done.stdout
    )
    assert "observation: (8, 2, 4)" in done.stdout and "reward: mean" in done.stdout
    assert f"{NEWEST} is unusable (items.tfrecord holds 0 items" in done.stderr
    assert tree_digest(buffer_dir) == before
