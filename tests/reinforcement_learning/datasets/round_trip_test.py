"""buffer -> Minari -> buffer reproduces populate.json's content hash."""

import json

import gymnasium as gym
import numpy as np
import pytest

from smart_control.reinforcement_learning.datasets import (
    buffer_reader,
    content_hash,
    export,
)
from smart_control.reinforcement_learning.replay_buffer import checkpoint_files
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)
from tests.reinforcement_learning.datasets import populated


@pytest.mark.parametrize("kind", ["building_buffer", "episodic_buffer"])
def test_round_trip_gives_the_populate_content_hash(kind, request, tmp_path):
    buffer_dir, state = request.getfixturevalue(kind)
    source = buffer_reader.read_buffer(str(buffer_dir))
    # Recomputed from the stored data, the hash is the one populate recorded.
    assert content_hash.run_hashes(source) == [r["content_hash"] for r in state["runs"]]
    assert content_hash.content_hash(source) == state["content_hash"]

    export.export_minari(str(buffer_dir), str(tmp_path / "dataset-v0"))
    summary = export.import_minari(str(tmp_path / "dataset-v0"), str(tmp_path / "new"))
    assert summary.content_hash == state["content_hash"]
    assert summary.hash_matches_populate

    # The new buffer is an ordinary buffer: it loads, with the same items.
    copy = buffer_reader.read_buffer(str(tmp_path / "new"))
    assert content_hash.content_hash(copy) == state["content_hash"]
    assert copy.num_items == source.num_items == state["frames"]
    for a, b in zip(source.segments, copy.segments):
        assert a.num_items == b.num_items
        for x, y in zip(a.leaves, b.leaves):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype
    record = json.loads((tmp_path / "new" / "import.json").read_text())
    assert record["exported_content_hash"] == state["content_hash"]
    latest = sorted((tmp_path / "new" / "checkpoints").iterdir())[-1]
    signature = checkpoint_files.inspect_table(str(latest), "experience").signature
    spec = checkpoint_files.step_spec_from_signature(signature)
    with ReplayBufferManager(spec, 1000, str(tmp_path / "loader")) as manager:
        manager.load_replay_buffer(source_dir=str(tmp_path / "new"))
        assert manager.num_frames() == state["frames"]

    # A second import into the same directory needs overwrite=True.
    with pytest.raises(FileExistsError, match="already exists"):
        export.import_minari(str(tmp_path / "dataset-v0"), str(tmp_path / "new"))
    again = export.import_minari(
        str(tmp_path / "dataset-v0"), str(tmp_path / "new"), overwrite=True
    )
    assert again.content_hash == state["content_hash"]


def test_only_datasets_of_an_export_import(tmp_path):
    from minari.data_collector.episode_buffer import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    storage = MinariStorage.new(
        tmp_path / "foreign", observation_space=box, action_space=box
    )
    storage.update_episodes(
        [
            EpisodeBuffer(
                observations=np.zeros((3, 2), np.float32),
                actions=np.zeros((2, 2), np.float32),
                rewards=np.zeros(2),
                terminations=np.array([False, True]),
                truncations=np.array([False, False]),
            )
        ]
    )
    storage.update_metadata({"dataset_id": "foreign-v0", "minari_version": "0.5.3"})
    with pytest.raises(ValueError, match="without 'smart_control' metadata"):
        export.import_minari(str(tmp_path / "foreign"), str(tmp_path / "b"))
    with pytest.raises(ValueError, match="is not a Minari dataset"):
        export.import_minari(str(tmp_path), str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_a_lost_episode_tail_is_named_not_hidden(tmp_path):
    # 15 steps in episodes of 7: the run's last step is alone in a new
    # episode, too short for an item, so the buffer cannot hold it.
    state = populated.populate(
        tmp_path / "buffer", episodic=True, num_runs=1, steps_per_run=15
    )
    contents = buffer_reader.read_buffer(str(tmp_path / "buffer"))
    assert content_hash.content_hash(contents) != state["content_hash"]
    note = content_hash.check_against_populate(contents, state)
    assert note.startswith("run 0 differs: the buffer holds 14 of its 15 steps")


def test_evicted_items_are_named_too(tmp_path):
    state = populated.populate(
        tmp_path / "buffer", episodic=False, num_runs=2, steps_per_run=20, capacity=30
    )
    contents = buffer_reader.read_buffer(str(tmp_path / "buffer"))
    assert contents.num_items == 30
    assert contents.segments[0].first_step == 8  # the 8 oldest items are gone
    note = content_hash.check_against_populate(contents, state)
    assert note.startswith("run 0 differs: the buffer holds 12 of its 20 steps")
    # What is left is still exported and imported faithfully.
    export.export_minari(str(tmp_path / "buffer"), str(tmp_path / "d-v0"))
    summary = export.import_minari(str(tmp_path / "d-v0"), str(tmp_path / "new"))
    assert summary.content_hash == content_hash.content_hash(contents)
    assert summary.items == 30
