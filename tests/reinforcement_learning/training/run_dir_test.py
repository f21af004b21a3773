"""The run directory's commit records."""

import os

import pytest

from smart_control.reinforcement_learning.training import run_dir


def _commit(**overrides):
    fields = dict(
        train_step=40,
        env_steps=60,
        episodes=1,
        replay_buffer_checkpoint="replay_buffer/checkpoints/ckpt-00000002",
        replay_buffer_frames=58,
    )
    fields.update(overrides)
    return run_dir.Commit(**fields)


def _learner_state(root, *steps):
    """TensorFlow's checkpoint state file naming `steps` (the last is newest)."""
    directory = root / "train" / "checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f'model_checkpoint_path: "ckpt-{steps[-1]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{s}"' for s in steps]
    (directory / "checkpoint").write_text("\n".join(lines) + "\n")


def _buffer_checkpoint(root, commit):
    done = root / commit.replay_buffer_checkpoint / "DONE"
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text("")


def test_a_fresh_run_has_no_commit(tmp_path):
    assert run_dir.committed(str(tmp_path)) is None
    assert run_dir.newest_learner_checkpoint(str(tmp_path)) is None


def test_the_newest_learner_checkpoint_names_the_commit(tmp_path):
    older, newer = _commit(train_step=20, env_steps=30), _commit()
    for commit in (older, newer):
        _buffer_checkpoint(tmp_path, commit)
        run_dir.write_commit_record(str(tmp_path), commit)
    # A record written for a checkpoint that never got saved (the process
    # died in between) is not a commit.
    run_dir.write_commit_record(str(tmp_path), _commit(train_step=60))
    _learner_state(tmp_path, 20, 40)
    read = run_dir.committed(str(tmp_path))
    assert (read.train_step, read.env_steps) == (40, 60)
    assert read.replay_buffer_checkpoint == newer.replay_buffer_checkpoint
    assert read.written_at
    run_dir.prune_commit_records(str(tmp_path), [20, 40])
    assert sorted(os.listdir(tmp_path / "train" / "checkpoints")) == [
        "checkpoint",
        "commit-20.json",
        "commit-40.json",
    ]


def test_a_commit_naming_a_missing_buffer_checkpoint_is_an_error(tmp_path):
    commit = _commit()
    run_dir.write_commit_record(str(tmp_path), commit)
    _learner_state(tmp_path, 40)
    with pytest.raises(run_dir.RunDirError, match="missing"):
        run_dir.committed(str(tmp_path))


def test_a_learner_checkpoint_without_record_is_an_error(tmp_path):
    _learner_state(tmp_path, 40)
    with pytest.raises(run_dir.RunDirError, match="no commit record"):
        run_dir.committed(str(tmp_path))


def test_a_corrupt_record_is_an_error(tmp_path):
    _learner_state(tmp_path, 40)
    path = run_dir.commit_record_path(str(tmp_path), 40)
    with open(path, "w") as f:
        f.write("{not json")
    with pytest.raises(run_dir.RunDirError, match="cannot read"):
        run_dir.committed(str(tmp_path))


def test_a_remote_buffer_checkpoint_is_not_checked_here(tmp_path):
    run_dir.write_commit_record(
        str(tmp_path), _commit(replay_buffer_checkpoint=None, replay_buffer_frames=7)
    )
    _learner_state(tmp_path, 40)
    assert run_dir.committed(str(tmp_path)).replay_buffer_frames == 7


def test_done_round_trip(tmp_path):
    assert run_dir.read_done(str(tmp_path)) is None
    run_dir.write_done(str(tmp_path), {"env_steps": 5})
    done = run_dir.read_done(str(tmp_path))
    assert done["env_steps"] == 5 and done["finished_at"]


def test_latest_policy_checkpoint(tmp_path):
    assert run_dir.latest_policy_checkpoint(str(tmp_path)) is None
    for step in (900, 10000, 2000):
        (
            tmp_path / "policies" / "checkpoints" / f"policy_checkpoint_{step:010d}"
        ).mkdir(parents=True)
    assert run_dir.latest_policy_checkpoint(str(tmp_path)).endswith(
        "policy_checkpoint_0000010000"
    )
