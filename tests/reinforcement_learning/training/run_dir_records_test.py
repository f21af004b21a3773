"""training/run_dir.py: reading records a crash or a hand edit left behind.

run_dir_test.py covers the commit protocol; these are the readers' edge
cases: TensorFlow's state file in its other spellings, damaged records, and
the small writers (DONE, eval metrics, pruning).
"""

import json
import os

import pytest

from smart_control.reinforcement_learning.training import run_dir

_COMMIT = dict(
    train_step=40,
    env_steps=60,
    episodes=1,
    replay_buffer_checkpoint=None,
    replay_buffer_frames=58,
)


def _state_file(root, text):
    directory = root / "train" / "checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "checkpoint").write_text(text)


def test_the_state_file_may_name_the_checkpoint_by_absolute_path(tmp_path):
    # TensorFlow writes absolute paths when the checkpoint manager got one.
    _state_file(
        tmp_path,
        f'model_checkpoint_path: "{tmp_path}/train/checkpoints/ckpt-120"\n'
        f'all_model_checkpoint_paths: "{tmp_path}/train/checkpoints/ckpt-60"\n'
        f'all_model_checkpoint_paths: "{tmp_path}/train/checkpoints/ckpt-120"\n',
    )
    assert run_dir.newest_learner_checkpoint(str(tmp_path)) == 120


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "names no learner checkpoint"),
        ('all_model_checkpoint_paths: "ckpt-3"\n', "names no learner checkpoint"),
        (
            'model_checkpoint_path: "model.ckpt"\n',
            "names 'model.ckpt', not ckpt-<step>",
        ),
        ('model_checkpoint_path: "ckpt-x1"\n', "names 'ckpt-x1', not ckpt-<step>"),
    ],
)
def test_a_state_file_naming_no_step_is_an_error(tmp_path, text, message):
    _state_file(tmp_path, text)
    with pytest.raises(run_dir.RunDirError, match=message):
        run_dir.newest_learner_checkpoint(str(tmp_path))
    with pytest.raises(run_dir.RunDirError, match=message):
        run_dir.committed(str(tmp_path))


def test_an_unreadable_state_file_is_an_error(tmp_path):
    (tmp_path / "train" / "checkpoints" / "checkpoint").mkdir(parents=True)
    with pytest.raises(run_dir.RunDirError, match="cannot read"):
        run_dir.newest_learner_checkpoint(str(tmp_path))


def test_the_commit_record_on_disk(tmp_path):
    commit = run_dir.Commit(**_COMMIT, written_at="2025-01-01T00:00:00+00:00")
    run_dir.write_commit_record(str(tmp_path), commit)
    path = run_dir.commit_record_path(str(tmp_path), 40)
    assert path == str(tmp_path / "train" / "checkpoints" / "commit-40.json")
    with open(path) as f:
        content = json.load(f)
    assert content == {**_COMMIT, "written_at": commit.written_at, "format": 2}
    _state_file(tmp_path, 'model_checkpoint_path: "ckpt-40"\n')
    assert run_dir.committed(str(tmp_path)) == commit


@pytest.mark.parametrize(
    "content, message",
    [
        ({**_COMMIT, "unknown_field": 1}, "is not a commit record"),
        ({"train_step": 40}, "is not a commit record"),
        ([1, 2], "does not hold a JSON object"),
    ],
)
def test_a_record_of_another_shape_is_an_error(tmp_path, content, message):
    _state_file(tmp_path, 'model_checkpoint_path: "ckpt-40"\n')
    path = run_dir.commit_record_path(str(tmp_path), 40)
    with open(path, "w") as f:
        json.dump(content, f)
    with pytest.raises(run_dir.RunDirError, match=message):
        run_dir.committed(str(tmp_path))


def test_a_remote_servers_buffer_checkpoint_is_not_looked_for(tmp_path):
    # An absolute path is the replay server's, on another machine maybe.
    remote = {**_COMMIT, "replay_buffer_checkpoint": "/elsewhere/ckpt-00000007"}
    run_dir.write_commit_record(str(tmp_path), run_dir.Commit(**remote))
    _state_file(tmp_path, 'model_checkpoint_path: "ckpt-40"\n')
    read = run_dir.committed(str(tmp_path))
    assert read.replay_buffer_checkpoint == "/elsewhere/ckpt-00000007"


def test_pruning_removes_only_records_of_other_steps(tmp_path):
    run_dir.prune_commit_records(str(tmp_path), [40])  # no directory yet: nothing
    for step in (20, 40, 60):
        run_dir.write_commit_record(
            str(tmp_path), run_dir.Commit(**{**_COMMIT, "train_step": step})
        )
    directory = tmp_path / "train" / "checkpoints"
    for other in ("ckpt-20.index", "commit-latest.json", "checkpoint"):
        (directory / other).write_text("")
    run_dir.prune_commit_records(str(tmp_path), ["40", 60])
    assert sorted(os.listdir(directory)) == [
        "checkpoint",
        "ckpt-20.index",
        "commit-40.json",
        "commit-60.json",
        "commit-latest.json",
    ]


def test_done_keeps_a_given_finish_time_and_a_damaged_one_is_an_error(tmp_path):
    run_dir.write_done(str(tmp_path), {"finished_at": "then", "train_step": 3})
    assert run_dir.read_done(str(tmp_path)) == {"finished_at": "then", "train_step": 3}
    (tmp_path / run_dir.DONE_FILE).write_text("{")
    with pytest.raises(run_dir.RunDirError, match="cannot read"):
        run_dir.read_done(str(tmp_path))


def test_eval_metrics_append_one_sorted_json_line_each(tmp_path):
    run_dir.append_eval_metrics(str(tmp_path), {"train_step": 10, "return": -1.5})
    run_dir.append_eval_metrics(str(tmp_path), {"train_step": 20, "return": -0.5})
    lines = (tmp_path / "eval" / "metrics.jsonl").read_text().splitlines()
    assert lines == [
        '{"return": -1.5, "train_step": 10}',
        '{"return": -0.5, "train_step": 20}',
    ]


def test_latest_policy_checkpoint_ignores_other_entries(tmp_path):
    checkpoints = tmp_path / "policies" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert run_dir.latest_policy_checkpoint(str(tmp_path)) is None
    (checkpoints / "policy_checkpoint_0000000100").mkdir()
    (checkpoints / "tmp_policy_checkpoint_0000000200").mkdir()
    assert run_dir.latest_policy_checkpoint(str(tmp_path)) == str(
        checkpoints / "policy_checkpoint_0000000100"
    )
