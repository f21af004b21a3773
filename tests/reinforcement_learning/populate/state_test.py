"""populate.json checks made before a populate touches its directory."""

import json

import pytest

from smart_control.reinforcement_learning.populate import state

CONFIG = {"steps_per_run": 24, "seed": 3}


def _buffer(tmp_path, content):
    (tmp_path / state.STATE_FILE).write_text(content)
    return str(tmp_path)


def test_an_existing_buffer_needs_resume_or_overwrite(tmp_path):
    buffer_dir = _buffer(tmp_path, json.dumps({"config": CONFIG, "runs": []}))
    with pytest.raises(state.BufferExistsError, match="already exists"):
        state.check_before_writing(buffer_dir, False, False, CONFIG)
    with pytest.raises(ValueError, match="exclude each other"):
        state.check_before_writing(buffer_dir, True, True, CONFIG)
    assert state.check_before_writing(buffer_dir, False, True, CONFIG) is None
    assert state.check_before_writing(buffer_dir, True, False, CONFIG)["runs"] == []
    assert state.check_before_writing(str(tmp_path / "new"), False, False) is None


def test_resume_refuses_another_config_and_an_unreadable_record(tmp_path):
    buffer_dir = _buffer(tmp_path, json.dumps({"config": CONFIG, "runs": []}))
    with pytest.raises(ValueError, match="it was populated with"):
        state.check_before_writing(buffer_dir, True, False, {**CONFIG, "seed": 4})
    (tmp_path / state.STATE_FILE).write_bytes(b"\x00\xffnot json")
    with pytest.raises(ValueError, match=r"populate.json is unreadable"):
        state.check_before_writing(buffer_dir, True, False, CONFIG)


def test_settings_and_items_longer_than_a_run():
    state.check_settings(24, 1, 0)
    with pytest.raises(ValueError, match="num_runs must be an integer >= 1"):
        state.check_settings(24, 0, 0)
    state.check_sequence_length(24, 24)
    with pytest.raises(ValueError, match="is longer than steps_per_run = 4"):
        state.check_sequence_length(10, 4)
