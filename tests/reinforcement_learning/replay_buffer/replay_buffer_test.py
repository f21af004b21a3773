"""ReplayBufferManager against real Reverb servers and real checkpoints on disk."""

import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import gin
import pytest
import reverb
import tensorflow as tf

from smart_control.reinforcement_learning.replay_buffer import (
    checkpoint_files,
    errors,
    table_config,
)
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    NoCheckpointFoundError,
    ReplayBufferManager,
    SpecMismatchError,
)
from tests.reinforcement_learning.replay_buffer.buffer_testing import (
    make_spec,
    make_step,
    stored_first_ids,
    tree_digest,
    write_steps,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


@pytest.fixture
def spec():
    return make_spec()


def _filled_buffer(buffer_dir, spec, steps, capacity=1000, **kwargs):
    """Writes one episode of `steps` steps, checkpoints, closes; returns the path."""
    with ReplayBufferManager(spec, capacity, buffer_dir, **kwargs) as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, steps)
        return manager.checkpoint()


# -- create ---------------------------------------------------------------------


def test_create_starts_empty_even_when_directory_holds_checkpoints(tmp_path, spec):
    old = _filled_buffer(tmp_path / "buf", spec, steps=20)
    with ReplayBufferManager(spec, 100, tmp_path / "buf") as manager:
        manager.create_replay_buffer()
        assert manager.num_frames() == 0
        assert os.path.isdir(old), "old checkpoints stay until newer ones replace them"


def test_old_checkpoints_stay_until_newer_ones_push_them_out(tmp_path, spec):
    old = _filled_buffer(tmp_path / "buf", spec, steps=5)
    with ReplayBufferManager(
        spec, 100, tmp_path / "buf", num_checkpoints_to_keep=2
    ) as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 100, 4)
        first = manager.checkpoint()
        assert os.path.isdir(old) and os.path.isdir(first)
        second = manager.checkpoint()
        assert not os.path.exists(old)
        assert os.path.isdir(first) and os.path.isdir(second)
    with ReplayBufferManager(spec, 100, tmp_path / "buf") as manager:
        manager.load_replay_buffer()
        assert stored_first_ids(manager) == {100, 101, 102}


# -- checkpoint -----------------------------------------------------------------


def test_checkpoint_returns_path_and_keeps_newest_n(tmp_path, spec):
    with ReplayBufferManager(
        spec, 100, tmp_path / "buf", num_checkpoints_to_keep=3
    ) as manager:
        _, observer = manager.create_replay_buffer()
        paths = []
        for i in range(5):
            write_steps(observer, 10 * i, 3)
            paths.append(manager.checkpoint())
        assert all(checkpoint_files.TABLES_FILE in os.listdir(p) for p in paths[2:])
        assert [os.path.exists(p) for p in paths] == [False, False, True, True, True]
        kept = sorted(os.listdir(tmp_path / "buf" / "checkpoints"))
        assert kept == [os.path.basename(p) for p in paths[2:]]


def test_metadata_lives_outside_reverbs_checkpoint_root(tmp_path, spec):
    with ReplayBufferManager(spec, 77, tmp_path / "buf", sequence_length=3) as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 5)
        path = manager.checkpoint()
        manager.checkpoint()
    metadata = (tmp_path / "buf" / "metadata.json").read_text()
    for expected in (
        '"capacity": 77',
        '"sequence_length": 3',
        "observation: float32[4]",
        "created_at",
        "updated_at",
        "dm-reverb",
        "uniform: true",
        "min_size_to_sample",
    ):
        assert expected in metadata
    assert os.path.dirname(path) != str(tmp_path / "buf")


def test_checkpoint_flushes_pending_items(tmp_path, spec):
    with ReplayBufferManager(spec, 1000, tmp_path / "buf") as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 301)
        path = manager.checkpoint()
    assert checkpoint_files.inspect_table(path, manager.table_name).num_items == 300


# -- load -----------------------------------------------------------------------


def test_load_restores_the_newest_complete_checkpoint(tmp_path, spec):
    buffer_dir = tmp_path / "buf"
    with ReplayBufferManager(spec, 100, buffer_dir) as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 3)
        manager.checkpoint()
        write_steps(observer, 50, 3)
        newest = manager.checkpoint()
    # An interrupted write (no DONE) that looks newer must be ignored.
    partial = buffer_dir / "checkpoints" / "ckpt-00000099"
    shutil.copytree(newest, partial)
    os.remove(partial / "DONE")
    with ReplayBufferManager(spec, 100, buffer_dir) as manager:
        manager.load_replay_buffer()
        # The two writes form one episode, so step 2 pairs with step 50.
        assert stored_first_ids(manager) == {0, 1, 2, 50, 51}


def test_load_without_checkpoint_names_the_directory(tmp_path, spec):
    buffer_dir = tmp_path / "empty-buffer"
    os.makedirs(
        buffer_dir / "checkpoints" / "ckpt-00000001"
    )  # no DONE: not a checkpoint
    manager = ReplayBufferManager(spec, 100, buffer_dir)
    with pytest.raises(
        NoCheckpointFoundError,
        match=r"no complete replay buffer checkpoint found in .*empty-buffer",
    ):
        manager.load_replay_buffer()
    # A failed load leaves the manager usable and the directory unlocked.
    manager.create_replay_buffer()
    assert manager.num_frames() == 0
    manager.close()


def test_load_with_another_spec_names_both_specs(tmp_path, spec):
    _filled_buffer(tmp_path / "buf", spec, steps=5)
    other = make_spec(obs_size=7)
    with pytest.raises(SpecMismatchError) as raised:
        ReplayBufferManager(other, 100, tmp_path / "buf").load_replay_buffer()
    message = str(raised.value)
    assert "observation: float32[None,7]" in message
    assert "observation: float32[None,4]" in message


def test_load_with_another_sequence_length_is_refused(tmp_path, spec):
    _filled_buffer(tmp_path / "buf", spec, steps=5, sequence_length=3)
    with pytest.raises(ValueError, match="sequences of 3 steps, but sequence_length=2"):
        ReplayBufferManager(spec, 100, tmp_path / "buf").load_replay_buffer()


def test_load_into_smaller_capacity_keeps_newest_items(tmp_path, spec, caplog):
    source = _filled_buffer(tmp_path / "starter", spec, steps=41)  # 40 items: ids 0..39
    before = tree_digest(tmp_path / "starter")
    caplog.set_level(logging.WARNING)
    with ReplayBufferManager(spec, 10, tmp_path / "run", allow_shrink=True) as manager:
        manager.load_replay_buffer(source_dir=tmp_path / "starter")
        assert manager.num_frames() == 10
        assert stored_first_ids(manager) == set(range(30, 40))
        info = manager.get_replay_buffer_and_observer()[0].get_table_info()
        assert info.max_size == 10
        # FIFO continues from the newest kept items.
        _, observer = manager.get_replay_buffer_and_observer()
        write_steps(observer, 1000, 3)
        manager.flush()
        assert stored_first_ids(manager) == set(range(32, 40)) | {1000, 1001}
    assert "Dropped the 30 oldest of 40 items" in caplog.text
    assert tree_digest(tmp_path / "starter") == before, (
        "the source checkpoint was modified"
    )
    assert os.path.isdir(source)


def test_load_into_larger_capacity_gets_that_capacity(tmp_path, spec):
    _filled_buffer(tmp_path / "starter", spec, steps=11, capacity=10)
    with ReplayBufferManager(spec, 50, tmp_path / "run") as manager:
        _, observer = manager.load_replay_buffer(source_dir=tmp_path / "starter")
        assert manager.num_frames() == 10
        write_steps(observer, 100, 31)
        manager.flush()
        assert manager.num_frames() == 40
        assert (
            manager.get_replay_buffer_and_observer()[0].get_table_info().max_size == 50
        )


def test_load_applies_this_managers_sampler_and_rate_limiter(tmp_path, spec):
    _filled_buffer(tmp_path / "starter", spec, steps=11)
    manager = ReplayBufferManager(
        spec,
        100,
        tmp_path / "run",
        sampler_factory=lambda: table_config.prioritized_sampler(0.5),
        rate_limiter_factory=lambda: table_config.sample_to_insert_ratio_rate_limiter(
            samples_per_insert=4.0, min_size_to_sample=5, error_buffer=10.0
        ),
    )
    with manager:
        replay_buffer, _ = manager.load_replay_buffer(source_dir=tmp_path / "starter")
        info = replay_buffer.get_table_info()
        assert info.sampler_options.prioritized.priority_exponent == 0.5
        assert info.rate_limiter_info.samples_per_insert == 4.0
        assert info.rate_limiter_info.min_size_to_sample == 5
        # The restored limiter starts balanced: sampling proceeds at once.
        experience, _ = next(iter(manager.get_dataset(batch_size=4)))
        assert experience.observation.shape == (4, 2, 4)


@pytest.mark.slow
def test_second_process_loads_what_the_first_checkpointed(tmp_path, spec):
    buffer_dir = tmp_path / "buf"
    writer = textwrap.dedent(
        f"""
        from smart_control.reinforcement_learning.replay_buffer.replay_buffer import ReplayBufferManager
        from tests.reinforcement_learning.replay_buffer.buffer_testing import make_spec, write_steps
        manager = ReplayBufferManager(make_spec(), 500, {str(buffer_dir)!r})
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 7, 26)
        print(manager.checkpoint())
        manager.close()
        """
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-c", writer],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with ReplayBufferManager(spec, 500, buffer_dir) as manager:
        manager.load_replay_buffer()
        assert manager.num_frames() == 25
        assert stored_first_ids(manager) == set(range(7, 32))


# -- clear, close, errors -----------------------------------------------------------


def test_clear_empties_in_place_and_never_brings_checkpointed_data_back(tmp_path, spec):
    with ReplayBufferManager(spec, 100, tmp_path / "buf") as manager:
        replay_buffer, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 10)
        manager.checkpoint()
        observer(make_step(10))  # cached: must not pair with a step after the clear
        manager.clear()
        assert manager.num_frames() == 0
        buffer_after, observer_after = manager.get_replay_buffer_and_observer()
        assert buffer_after is replay_buffer and observer_after is observer
        write_steps(observer_after, 500, 4)
        manager.flush()
        assert manager.num_frames() == 3
        assert stored_first_ids(manager) == {500, 501, 502}


def test_clear_resets_the_rate_limiter(tmp_path, spec):
    manager = ReplayBufferManager(
        spec,
        100,
        tmp_path / "buf",
        rate_limiter_factory=lambda: table_config.min_size_rate_limiter(3),
        rate_limiter_timeout_ms=300,
    )
    with manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 6)
        manager.flush()
        assert len(list(manager.get_dataset(batch_size=1).take(2))) == 2
        manager.clear()
        write_steps(observer, 100, 3)  # 2 items: below the limiter's minimum of 3
        manager.flush()
        assert manager.num_frames() == 2
        assert list(manager.get_dataset(batch_size=1).take(1)) == []
        observer(make_step(103))
        manager.flush()
        assert len(list(manager.get_dataset(batch_size=1).take(1))) == 1


def test_lifecycle_errors(tmp_path, spec):
    manager = ReplayBufferManager(spec, 100, tmp_path / "buf")
    assert manager.num_frames() == 0
    with pytest.raises(RuntimeError, match="not been initialized"):
        manager.get_dataset()
    manager.create_replay_buffer()
    with pytest.raises(RuntimeError, match="already initialized"):
        manager.create_replay_buffer()
    manager.close()
    manager.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        manager.get_dataset()
    assert manager.num_frames() == 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": -5}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"sequence_length": 0}, "sequence_length"),
        ({"num_checkpoints_to_keep": 0}, "num_checkpoints_to_keep"),
        ({"checkpoint_dir": ""}, "checkpoint_dir"),
        ({"server_address": "nohostport"}, "server_address"),
    ],
)
def test_bad_constructor_arguments_name_argument_and_value(
    tmp_path, spec, kwargs, name
):
    args = {"data_spec": spec, "capacity": 10, "checkpoint_dir": str(tmp_path)}
    args.update(kwargs)
    value = repr(list(kwargs.values())[0])
    with pytest.raises(ValueError) as raised:
        ReplayBufferManager(**args)
    assert name in str(raised.value) and value in str(raised.value)


def test_bad_data_spec_is_refused(tmp_path):
    with pytest.raises(ValueError, match="data_spec"):
        ReplayBufferManager({"x": "not a spec"}, 10, tmp_path)


def test_bad_dataset_arguments_name_argument_and_value(tmp_path, spec):
    with ReplayBufferManager(spec, 10, tmp_path / "buf", sequence_length=4) as manager:
        manager.create_replay_buffer()
        for kwargs, pattern in [
            ({"batch_size": 0}, "batch_size .* 0"),
            ({"batch_size": -3}, "batch_size .* -3"),
            ({"num_steps": 3}, "num_steps .* 3"),
            ({"num_steps": 8}, "num_steps .* 8"),
            ({"num_steps": 0}, "num_steps .* 0"),
        ]:
            with pytest.raises(ValueError, match=pattern):
                manager.get_dataset(**kwargs)
        dataset = manager.get_dataset(batch_size=2, num_steps=2)
        assert dataset.element_spec[0].observation.shape.as_list() == [2, 2, 4]


def test_two_managers_cannot_write_one_directory(tmp_path, spec):
    with ReplayBufferManager(spec, 10, tmp_path / "buf") as first:
        first.create_replay_buffer()
        # An OSError, so every binary reports it in one line.
        with pytest.raises(
            errors.BufferDirLockedError,
            match="in use by another running replay buffer server",
        ):
            ReplayBufferManager(spec, 10, tmp_path / "buf").create_replay_buffer()


def test_context_manager_stops_the_server(tmp_path, spec):
    with ReplayBufferManager(spec, 10, tmp_path / "buf") as manager:
        manager.create_replay_buffer()
        address = manager.server_address
        assert reverb.Client(address).server_info(timeout=5)
    with pytest.raises(reverb.errors.DeadlineExceededError):
        reverb.Client(address).server_info(timeout=2)


# -- remote mode, concurrency, gin ------------------------------------------------------


def test_remote_mode_writes_to_and_checkpoints_the_running_server(tmp_path, spec):
    with ReplayBufferManager(spec, 100, tmp_path / "server") as server_side:
        server_side.create_replay_buffer()
        with ReplayBufferManager(
            spec, 100, None, server_address=server_side.server_address
        ) as remote:
            _, observer = remote.create_replay_buffer()
            write_steps(observer, 0, 6)
            path = remote.checkpoint()
            assert remote.num_frames() == 5
            assert server_side.num_frames() == 5
            assert path.startswith(str(tmp_path / "server"))
            assert (
                checkpoint_files.inspect_table(path, remote.table_name).num_items == 5
            )
        with pytest.raises(SpecMismatchError):
            ReplayBufferManager(
                make_spec(9), 100, None, server_address=server_side.server_address
            ).create_replay_buffer()


def test_concurrent_writers_from_two_threads_lose_no_item(tmp_path, spec):
    steps_per_thread = 400
    with ReplayBufferManager(spec, 10_000, tmp_path / "buf") as manager:
        manager.create_replay_buffer()
        address = manager.server_address
        errors = []

        def write(first_id):
            try:
                with ReplayBufferManager(
                    spec, 10_000, None, server_address=address
                ) as remote:
                    _, observer = remote.create_replay_buffer()
                    for episode in range(4):
                        start = first_id + episode * 100
                        for i in range(steps_per_thread // 4):
                            observer(
                                make_step(
                                    start + i, last=i == steps_per_thread // 4 - 1
                                )
                            )
                    remote.flush()
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=write, args=(base,)) for base in (0, 10_000)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        # Each 100-step episode gives 99 items; 4 episodes per thread.
        assert manager.num_frames() == 2 * 4 * 99
        path = manager.checkpoint()
    assert checkpoint_files.inspect_table(path, "experience").num_items == 2 * 4 * 99


def test_gin_configures_the_manager(tmp_path, spec):
    gin.parse_config(
        f"""
        ReplayBufferManager.capacity = 321
        ReplayBufferManager.checkpoint_dir = {str(tmp_path / "gin-buf")!r}
        ReplayBufferManager.num_checkpoints_to_keep = 1
        ReplayBufferManager.sampler_factory = @prioritized_sampler
        prioritized_sampler.priority_exponent = 0.7
        ReplayBufferManager.rate_limiter_factory = @sample_to_insert_ratio_rate_limiter
        sample_to_insert_ratio_rate_limiter.samples_per_insert = 2.0
        sample_to_insert_ratio_rate_limiter.error_buffer = 5.0
        """
    )
    with ReplayBufferManager(spec) as manager:
        replay_buffer, _ = manager.create_replay_buffer()
        info = replay_buffer.get_table_info()
        assert info.max_size == 321
        assert info.sampler_options.prioritized.priority_exponent == pytest.approx(0.7)
        assert info.rate_limiter_info.samples_per_insert == 2.0
        manager.checkpoint()
        manager.checkpoint()
        assert len(os.listdir(tmp_path / "gin-buf" / "checkpoints")) == 1


def test_rate_limiter_pitfall_is_refused():
    with pytest.raises(ValueError, match="error_buffer must exceed"):
        table_config.sample_to_insert_ratio_rate_limiter(
            samples_per_insert=4.0, error_buffer=3.0
        )


def test_checkpoint_of_plain_reverb_root_loads(tmp_path, spec):
    """Buffers written by the reference implementation (Reverb root = checkpoint_dir)."""
    signature = table_config.table_signature(spec)
    table = reverb.Table(
        "experience",
        reverb.selectors.Uniform(),
        reverb.selectors.Fifo(),
        50,
        reverb.rate_limiters.MinSize(1),
        signature=signature,
    )
    server = reverb.Server(
        [table],
        checkpointer=reverb.checkpointers.DefaultCheckpointer(str(tmp_path / "old")),
    )
    from tf_agents.replay_buffers import reverb_utils

    observer = reverb_utils.ReverbAddTrajectoryObserver(
        reverb.Client(f"localhost:{server.port}"), "experience", 2
    )
    write_steps(observer, 0, 6)
    observer.close()
    reverb.Client(f"localhost:{server.port}").checkpoint()
    server.stop()
    with ReplayBufferManager(spec, 50, tmp_path / "new") as manager:
        manager.load_replay_buffer(source_dir=tmp_path / "old")
        assert stored_first_ids(manager) == set(range(5))


def test_dataset_element_structure_matches_the_guide(tmp_path, spec):
    with ReplayBufferManager(spec, 100, tmp_path / "buf") as manager:
        _, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 10)
        experience, info = next(iter(manager.get_dataset(batch_size=8)))
        assert experience.observation.shape == (8, 2, 4)
        assert experience.reward.dtype == tf.float32
        assert info.key.shape[0] == 8


def _assert_same_element_spec(dataset, reference):
    tf.nest.assert_same_structure(dataset.element_spec, reference.element_spec)
    for ours, theirs in zip(
        tf.nest.flatten(dataset.element_spec), tf.nest.flatten(reference.element_spec)
    ):
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)


def _consecutive_ids(experience):
    ids = experience.observation[:, :, 0].numpy().astype(int)
    return (ids[:, 1:] - ids[:, :-1] == 1).all()


@pytest.mark.parametrize("sequence_length, num_steps", [(3, None), (3, 3), (4, 2)])
def test_dataset_elements_are_those_of_tf_agents_as_dataset(
    tmp_path, spec, sequence_length, num_steps
):
    with ReplayBufferManager(
        spec, 100, tmp_path / "buf", sequence_length=sequence_length
    ) as manager:
        replay_buffer, observer = manager.create_replay_buffer()
        write_steps(observer, 0, 20)
        manager.flush()
        dataset = manager.get_dataset(batch_size=16, num_steps=num_steps)
        steps = num_steps or sequence_length
        _assert_same_element_spec(
            dataset, replay_buffer.as_dataset(sample_batch_size=16, num_steps=steps)
        )
        experience, info = next(iter(dataset))
        assert experience.observation.shape == (16, steps, 4)
        assert _consecutive_ids(experience)
        # The info of an item is repeated along its steps, as as_dataset does.
        assert info.key.shape == (16, steps)
        assert (info.key.numpy() == info.key.numpy()[:, :1]).all()
        assert (info.probability.numpy() == info.probability.numpy()[:, :1]).all()
        if steps == sequence_length:
            # Whole items: the first step of every item written (ids 0..17).
            assert set(experience.observation[:, 0, 0].numpy().astype(int)) <= set(
                range(18)
            )


def test_dataset_of_a_remote_server(tmp_path, spec):
    with ReplayBufferManager(spec, 100, tmp_path / "server") as server_side:
        server_side.create_replay_buffer()
        with ReplayBufferManager(
            spec, 100, None, server_address=server_side.server_address
        ) as remote:
            _, observer = remote.create_replay_buffer()
            write_steps(observer, 0, 6)
            remote.flush()
            assert stored_first_ids(remote) == set(range(5))
            experience, info = next(iter(remote.get_dataset(batch_size=3)))
            assert experience.observation.shape == (3, 2, 4)
            assert _consecutive_ids(experience)
            assert info.key.shape == (3, 2)
