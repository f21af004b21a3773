"""Buffers exported as Minari datasets, read back with Minari's own API."""

import gymnasium as gym
import minari
import numpy as np
import pytest

from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.datasets import export
from smart_control.reinforcement_learning.replay_buffer import checkpoint_files
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)
from tests.reinforcement_learning.datasets import conftest, populated


def _sampled_items(buffer_dir, batch_size=64):
    """Items sampled through ReplayBufferManager, independently of the export."""
    latest = sorted((buffer_dir / "checkpoints").iterdir())[-1]
    table = checkpoint_files.inspect_table(str(latest), "experience")
    spec = checkpoint_files.step_spec_from_signature(table.signature)
    manager = ReplayBufferManager(spec, 10_000, str(buffer_dir.parent / "sampler"))
    with manager:
        manager.load_replay_buffer(source_dir=str(buffer_dir))
        experience, _ = next(iter(manager.get_dataset(batch_size=batch_size)))
    return experience


def test_building_buffer_opens_with_minari_with_the_buffers_values(
    building_buffer, tmp_path, monkeypatch
):
    buffer_dir, state = building_buffer
    output = tmp_path / "building-v0"
    summary = export.export_minari(str(buffer_dir), str(output), author="tests")
    assert summary.hash_matches_populate, summary.hash_note

    # Minari's own ways in: the data directory, and the datasets root.
    dataset = minari.MinariDataset(str(output / "data"))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    loaded = minari.load_dataset("building-v0")
    assert loaded.total_episodes == dataset.total_episodes == conftest.BUILDING_RUNS
    # A run of N steps is N trajectories; the last one's next observation is
    # not stored, so a Minari episode holds N - 1 steps and N observations.
    steps = conftest.BUILDING_STEPS - 1
    assert dataset.total_steps == conftest.BUILDING_RUNS * steps
    env = create_building_environment(seed=0)
    obs_spec = env.observation_spec()
    assert dataset.observation_space == gym.spaces.Box(
        obs_spec.minimum, obs_spec.maximum, obs_spec.shape, np.float32
    )
    assert dataset.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    episodes = list(dataset.iterate_episodes())
    for episode in episodes:
        assert len(episode) == steps
        assert episode.observations.shape == (steps + 1, 18)
        assert episode.actions.shape == (steps, 2)
        assert not episode.terminations.any()
        assert episode.truncations.tolist() == [False] * (steps - 1) + [True]
    metadata = list(dataset.storage.get_episode_metadata(range(2)))
    assert [m["run"] for m in metadata] == [0, 1]
    assert [m["run_seed"] for m in metadata] == [r["seed"] for r in state["runs"]]
    stored = dataset.storage.metadata["smart_control"]
    assert stored["populate"]["config"] == state["config"]
    assert stored["content_hash"] == state["content_hash"]
    assert stored["sequence_length"] == 2

    # Every sampled item is two consecutive steps of one Minari episode.
    where = {
        episode.observations[k].tobytes(): (episode, k)
        for episode in episodes
        for k in range(len(episode) + 1)
    }
    experience = _sampled_items(buffer_dir)
    for i in range(experience.observation.shape[0]):
        episode, k = where[experience.observation[i, 0].numpy().tobytes()]
        np.testing.assert_array_equal(
            episode.observations[k + 1], experience.observation[i, 1]
        )
        np.testing.assert_array_equal(episode.actions[k], experience.action[i, 0])
        assert episode.rewards[k] == experience.reward[i, 0]
        np.testing.assert_array_equal(
            episode.infos["action"][k + 1], experience.action[i, 1]
        )
        assert episode.infos["step_type"][k] == experience.step_type[i, 0]


def test_episodes_end_where_the_environment_ended_them(episodic_buffer, tmp_path):
    buffer_dir, state = episodic_buffer
    summary = export.export_minari(str(buffer_dir), str(tmp_path / "episodic-v0"))
    assert summary.hash_matches_populate, summary.hash_note
    dataset = minari.MinariDataset(str(tmp_path / "episodic-v0" / "data"))

    assert isinstance(dataset.observation_space, gym.spaces.Dict)
    assert dataset.observation_space["temperature"] == gym.spaces.Box(
        -5.0, 5.0, (3,), np.float32
    )
    assert dataset.observation_space["occupied"].dtype == np.int32
    assert set(dataset.action_space.spaces) == {"valve", "setpoint"}

    # Per run: two whole episodes (7 steps, ended by a termination, whose
    # terminal observation the boundary step kept) and a cut one of 6 steps.
    length = populated.EPISODE_LENGTH
    tail = conftest.EPISODIC_STEPS - 2 * length
    episodes = list(dataset.iterate_episodes())
    assert [len(e) for e in episodes] == [length, length, tail - 1] * 2
    metadata = list(dataset.storage.get_episode_metadata(range(len(episodes))))
    assert [m["run"] for m in metadata] == [0, 0, 0, 1, 1, 1]
    assert [m["ends_with_boundary"] for m in metadata] == [True, True, False] * 2
    for episode, meta in zip(episodes, metadata):
        assert episode.observations["temperature"].shape == (len(episode) + 1, 3)
        assert episode.actions["setpoint"].shape == (len(episode), 2)
        if meta["ends_with_boundary"]:
            assert episode.terminations[-1] and not episode.truncations[-1]
        else:
            assert episode.truncations[-1] and not episode.terminations.any()
        assert not episode.terminations[:-1].any()
        # The environment's rewards grow by one per step of an episode.
        steps = np.arange(1, len(episode) + 1)
        penalty = -np.sum(np.square(episode.actions["setpoint"]), axis=1)
        np.testing.assert_allclose(episode.rewards, penalty + steps, rtol=1e-5)
    assert sum(r["steps"] for r in state["runs"]) == dataset.total_steps + sum(
        not m["ends_with_boundary"] for m in metadata
    )


def test_refuses_a_malformed_dataset_id(building_buffer, tmp_path):
    buffer_dir, _ = building_buffer
    with pytest.raises(ValueError, match="dataset_id"):
        export.export_minari(str(buffer_dir), str(tmp_path / "x"), dataset_id="no id")
    assert not (tmp_path / "x").exists()
