"""Buffers written elsewhere load (issue 14.1), and the reference's names work (14.2).

Checkpoints are written by the reference smart_control's recipe and by plain
Reverb servers with each signature form; every load must sample exactly the
items written, refuse a wrong spec naming both, leave the source untouched
and write its own checkpoints under this project's layout and table name.
"""

import os
import subprocess
import sys

import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec

from smart_control.reinforcement_learning.replay_buffer import (
    checkpoint_files,
    table_config,
)
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
    SpecMismatchError,
)
from tests.reinforcement_learning.replay_buffer.buffer_testing import (
    REFERENCE_TABLE,
    make_spec,
    make_step,
    stored_first_ids,
    tree_digest,
    write_plain_reverb_buffer,
    write_reference_style_buffer,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


@pytest.fixture(scope="module")
def reference_buffer(tmp_path_factory):
    """A reference-written buffer of 20 items (ids 0..19), shared read-only."""
    root = tmp_path_factory.mktemp("reference") / "buffer"
    write_reference_style_buffer(root, steps=21)
    return root


def _signatures():
    spec = make_spec()
    return {
        "no signature": None,
        "unknown time dimension": tensor_spec.add_outer_dim(spec, None),
        "fixed time dimension": tensor_spec.add_outer_dim(spec, 2),
    }


def test_reference_written_buffer_loads_the_same_items_and_stays_untouched(
    tmp_path, reference_buffer
):
    before = tree_digest(reference_buffer)
    with ReplayBufferManager(make_spec(), 100, tmp_path / "run") as manager:
        replay_buffer, observer = manager.load_replay_buffer(
            source_dir=reference_buffer
        )
        assert manager.num_frames() == 20
        assert stored_first_ids(manager) == set(range(20))
        # Written back under this project's layout, table name and signature.
        observer(make_step(1000))
        path = manager.checkpoint()
    assert tree_digest(reference_buffer) == before, "the source was modified"
    assert os.path.dirname(path) == str(tmp_path / "run" / "checkpoints")
    table = checkpoint_files.inspect_table(path, None)
    assert table.name == "experience" and table.num_items == 20
    assert table_config.signatures_match(
        table_config.table_signature(make_spec()), table.signature
    )


def test_reference_buffer_loads_in_place_as_the_managers_own_directory(
    tmp_path, reference_buffer
):
    import shutil

    own = tmp_path / "own"
    shutil.copytree(reference_buffer, own)
    with ReplayBufferManager(make_spec(), 100, own) as manager:
        manager.load_replay_buffer()
        assert stored_first_ids(manager) == set(range(20))
        assert manager.loaded_checkpoint.startswith(str(own))


@pytest.mark.parametrize("form", list(_signatures()))
def test_plain_reverb_buffers_load_with_each_signature_form(tmp_path, form):
    write_plain_reverb_buffer(tmp_path / "plain", 11, _signatures()[form])
    before = tree_digest(tmp_path / "plain")
    with ReplayBufferManager(make_spec(), 50, tmp_path / "run") as manager:
        manager.load_replay_buffer(source_dir=tmp_path / "plain")
        assert stored_first_ids(manager) == set(range(10))
        info = manager.replay_buffer.get_table_info()
        assert info.max_size == 50
    assert tree_digest(tmp_path / "plain") == before


@pytest.mark.parametrize("form", list(_signatures()))
def test_a_wrong_spec_is_refused_naming_both(tmp_path, form, reference_buffer):
    write_plain_reverb_buffer(tmp_path / "plain", 6, _signatures()[form])
    with pytest.raises(SpecMismatchError) as raised:
        ReplayBufferManager(
            make_spec(obs_size=7), 50, tmp_path / "run"
        ).load_replay_buffer(source_dir=tmp_path / "plain")
    message = str(raised.value)
    assert "observation: float32[None,7]" in message, message
    assert "observation: float32[None,4]" in message or (
        "observation: float32[2,4]" in message
    ), message


def test_a_wrong_dtype_in_a_buffer_without_signature_is_refused(
    tmp_path, reference_buffer
):
    spec = make_spec()._replace(reward=tf.TensorSpec([], tf.float64, "reward"))
    with pytest.raises(
        SpecMismatchError,
        match=r"(?s)data_spec of this run: .*reward: float64.*stored data: .*reward: float32",
    ):
        ReplayBufferManager(spec, 50, tmp_path / "run").load_replay_buffer(
            source_dir=reference_buffer
        )
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_a_fixed_time_dimension_of_another_length_is_refused(tmp_path):
    signature = tensor_spec.add_outer_dim(make_spec(), 3)
    write_plain_reverb_buffer(tmp_path / "plain", 6, signature)
    with pytest.raises(ValueError, match="sequences of 2 steps|another spec"):
        ReplayBufferManager(
            make_spec(), 50, tmp_path / "run", sequence_length=3
        ).load_replay_buffer(source_dir=tmp_path / "plain")


def test_table_name_picks_one_of_several_tables(tmp_path):
    write_plain_reverb_buffer(
        tmp_path / "plain", 8, None, table_name="wanted", extra_tables=["other"]
    )
    manager = ReplayBufferManager(make_spec(), 50, tmp_path / "run")
    with pytest.raises(
        ValueError, match=r"several tables \['other', 'wanted'\].*table_name"
    ):
        manager.load_replay_buffer(source_dir=tmp_path / "plain")
    with pytest.raises(ValueError, match="no table 'missing'"):
        manager.load_replay_buffer(source_dir=tmp_path / "plain", table_name="missing")
    with manager:
        manager.load_replay_buffer(source_dir=tmp_path / "plain", table_name="wanted")
        assert stored_first_ids(manager) == set(range(7))


def test_the_reference_api_names(tmp_path, reference_buffer):
    manager = ReplayBufferManager(make_spec(), 100, tmp_path / "run")
    assert manager.server is None and manager.replay_buffer is None
    assert manager.observer is None
    replay_buffer, observer = manager.load_checkpoint(source_dir=reference_buffer)
    assert manager.replay_buffer is replay_buffer and manager.observer is observer
    assert manager.server.port == int(manager.server_address.rsplit(":", 1)[1])
    path = manager.save_checkpoint()
    assert os.path.isfile(os.path.join(path, "DONE"))
    for name in ("server", "replay_buffer", "observer"):
        with pytest.raises(AttributeError):
            setattr(manager, name, None)
    manager.close()
    with ReplayBufferManager(make_spec(), 100, tmp_path / "run") as again:
        again.load_checkpoint()
        assert again.num_frames() == 20


@pytest.mark.slow
@pytest.mark.timeout(900)  # 132 s in CI with the module's fixture, two workers
def test_inspect_buffer_reads_a_reference_buffer_with_table_name(
    tmp_path, reference_buffer
):
    before = tree_digest(reference_buffer)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smart_control.reinforcement_learning.scripts.inspect_buffer",
            f"--root_dir={reference_buffer}",
            f"--table_name={REFERENCE_TABLE}",
            "--batch_size=8",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"table: '{REFERENCE_TABLE}' (no signature)" in done.stdout
    assert "Loaded back: 20 frames" in done.stdout
    assert "column 1: (8, 2, 4)" in done.stdout
    assert tree_digest(reference_buffer) == before
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "smart_control.reinforcement_learning.scripts.inspect_buffer",
            f"--root_dir={reference_buffer}",
            "--table_name=experience",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in wrong.stderr.splitlines() if line.strip()]
    assert wrong.returncode == 1 and len(lines) == 1, wrong.stderr
    assert "no table 'experience'" in lines[0]
