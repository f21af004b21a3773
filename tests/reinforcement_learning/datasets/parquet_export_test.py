"""Buffers exported as one flat Parquet table, read with pandas."""

import json

import minari
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from smart_control.environment import observations
from smart_control.reinforcement_learning.datasets import export
from tests.reinforcement_learning.datasets import conftest, populated


def test_one_row_per_transition_with_named_columns(building_buffer, tmp_path):
    buffer_dir, state = building_buffer
    summary = export.export_parquet(
        str(buffer_dir),
        str(tmp_path / "table"),
        column_names=export.building_column_names(),
    )
    path = tmp_path / "table" / export.PARQUET_FILE
    df = pd.read_parquet(path)

    steps = conftest.BUILDING_RUNS * conftest.BUILDING_STEPS
    assert len(df) == summary.rows == steps == sum(r["steps"] for r in state["runs"])
    names = observations.observation_names()
    assert list(df.columns[:6]) == [
        "run",
        "episode",
        "step",
        "step_in_episode",
        "step_type",
        "next_step_type",
    ]
    for name in names:
        assert f"observation/{name}" in df and f"next_observation/{name}" in df
    assert "action/supply_water_setpoint" in df and "reward" in df and "discount" in df
    assert df["run"].tolist() == np.repeat([0, 1], conftest.BUILDING_STEPS).tolist()
    assert df["step"].tolist() == list(range(conftest.BUILDING_STEPS)) * 2
    assert df["step_type"].iloc[0] == 0 and (df["step_type"].iloc[1:40] == 1).all()
    assert df["observation/occupancy"].dtype == np.float32

    # Row t's next observation is row t+1's observation, within a run; the
    # buffer does not hold the one after a run's last step.
    run0 = df[df["run"] == 0]
    obs = run0[[f"observation/{n}" for n in names]].to_numpy()
    nxt = run0[[f"next_observation/{n}" for n in names]].to_numpy()
    np.testing.assert_array_equal(nxt[:-1], obs[1:])
    assert np.isnan(nxt[-1]).all()

    # The same values as the Minari export of the same buffer.
    export.export_minari(str(buffer_dir), str(tmp_path / "m-v0"))
    episode = minari.MinariDataset(str(tmp_path / "m-v0" / "data"))[1]
    run1 = df[df["run"] == 1]
    np.testing.assert_array_equal(
        run1[[f"observation/{n}" for n in names]].to_numpy(), episode.observations
    )
    np.testing.assert_array_equal(run1["reward"].to_numpy()[:-1], episode.rewards)

    provenance = json.loads(pq.read_schema(path).metadata[b"smart_control"])
    assert provenance["content_hash"] == state["content_hash"]
    assert provenance["populate"]["config"] == state["config"]


def test_nested_leaves_get_one_column_per_element(episodic_buffer, tmp_path):
    buffer_dir, state = episodic_buffer
    export.export_parquet(str(buffer_dir), str(tmp_path / "table"))
    df = pd.read_parquet(tmp_path / "table" / export.PARQUET_FILE)
    # Boundary steps (LAST -> FIRST) are no environment steps: no rows.
    assert len(df) == conftest.EPISODIC_RUNS * conftest.EPISODIC_STEPS
    assert (df["step_type"] != 2).all()
    assert {
        "observation/occupied",
        "observation/temperature/0",
        "observation/temperature/2",
        "action/setpoint/1",
        "action/valve/0",
        "next_observation/temperature/1",
    } <= set(df.columns)
    assert df["observation/occupied"].dtype == np.int32
    length = populated.EPISODE_LENGTH
    assert df["episode"].tolist()[: 2 * length + 1] == [0] * length + [1] * length + [2]
    assert df["step"].tolist()[: conftest.EPISODIC_STEPS] == list(
        range(conftest.EPISODIC_STEPS)
    )
    # The terminal observation (kept by the boundary step) is the next
    # observation of an episode's last step; only a cut run's last has none.
    ends = df[df["next_step_type"] == 2]
    assert len(ends) == 2 * conftest.EPISODIC_RUNS
    assert (ends["discount"] == 0).all()
    assert ends["next_observation/temperature/0"].notna().all()
    assert df["next_observation/temperature/0"].isna().sum() == conftest.EPISODIC_RUNS


def test_column_names_must_fit_their_leaf(building_buffer, tmp_path):
    buffer_dir, _ = building_buffer
    with pytest.raises(ValueError, match=r"column_names\['action'\] has 1 names"):
        export.export_parquet(
            str(buffer_dir), str(tmp_path / "t"), column_names={"action": ["a"]}
        )
    assert not (tmp_path / "t").exists()
