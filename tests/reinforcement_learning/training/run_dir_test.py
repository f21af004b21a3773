"""The run directory's marker files."""

import os

import pytest

from smart_control.reinforcement_learning.training import run_dir


def _marker(**overrides):
    fields = dict(
        train_step=40,
        env_steps=60,
        episodes=1,
        learner_checkpoint="train/checkpoints/ckpt-40",
        replay_buffer_checkpoint="replay_buffer/checkpoints/ckpt-00000002",
        replay_buffer_frames=58,
    )
    fields.update(overrides)
    return run_dir.CheckpointMarker(**fields)


def _make_checkpoints(root, marker):
    index = root / (marker.learner_checkpoint + ".index")
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text("")
    done = root / marker.replay_buffer_checkpoint / "DONE"
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text("")


def test_marker_round_trip(tmp_path):
    assert run_dir.read_marker(str(tmp_path)) is None
    marker = _marker()
    _make_checkpoints(tmp_path, marker)
    run_dir.write_marker(str(tmp_path), marker)
    read = run_dir.read_marker(str(tmp_path))
    assert read.train_step == 40 and read.env_steps == 60
    assert read.replay_buffer_checkpoint == marker.replay_buffer_checkpoint
    assert read.written_at
    # Written atomically: no temporary file is left behind.
    assert sorted(os.listdir(tmp_path / "train")) == [
        "checkpoint_marker.json",
        "checkpoints",
    ]


def test_marker_naming_a_missing_checkpoint_is_an_error(tmp_path):
    marker = _marker()
    _make_checkpoints(tmp_path, marker)
    run_dir.write_marker(str(tmp_path), marker)
    os.remove(tmp_path / marker.replay_buffer_checkpoint / "DONE")
    with pytest.raises(run_dir.RunDirError, match="missing"):
        run_dir.read_marker(str(tmp_path))


def test_corrupt_marker_is_an_error(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "checkpoint_marker.json").write_text("{not json")
    with pytest.raises(run_dir.RunDirError, match="cannot read"):
        run_dir.read_marker(str(tmp_path))


def test_done_round_trip(tmp_path):
    assert run_dir.read_done(str(tmp_path)) is None
    run_dir.write_done(str(tmp_path), {"env_steps": 5})
    done = run_dir.read_done(str(tmp_path))
    assert done["env_steps"] == 5 and done["finished_at"]


def test_uncommitted_learner_checkpoints_are_removed(tmp_path):
    checkpoints = tmp_path / "train" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "ckpt-10.index").write_text("")
    run_dir.remove_uncommitted_learner_checkpoints(str(tmp_path))
    assert not checkpoints.exists()
    run_dir.remove_uncommitted_learner_checkpoints(str(tmp_path))  # Nothing there.


def test_latest_policy_checkpoint(tmp_path):
    assert run_dir.latest_policy_checkpoint(str(tmp_path)) is None
    for step in (900, 10000, 2000):
        (
            tmp_path / "policies" / "checkpoints" / f"policy_checkpoint_{step:010d}"
        ).mkdir(parents=True)
    assert run_dir.latest_policy_checkpoint(str(tmp_path)).endswith(
        "policy_checkpoint_0000010000"
    )
