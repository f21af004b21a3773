"""Smoke test of the performance suite: `python -m bench.run_all --quick`.

Runs every group this repository's bench/ owns at tiny sizes (1 repetition)
in a subprocess and checks the JSON and markdown it writes. The train group
is skipped: it trains agents for minutes even at its smallest size.
"""

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GROUP_PREFIXES = ("environment", "insert", "sample", "populate", "checkpoint")


@pytest.mark.slow
@pytest.mark.timeout(600)  # 157 s under three test workers (stress run)
def test_quick_run_writes_json_and_markdown(tmp_path):
    out = tmp_path / "results"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run_all",
            "--quick",
            "--skip=train",
            f"--out={out}",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": REPO_ROOT},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]

    result = json.loads((out / "latest.json").read_text())
    meta, rows = result["meta"], result["rows"]
    assert meta["quick"] is True and meta["repetitions"] == 1
    assert not meta["errors"]
    groups = {row["group"] for row in rows}
    for prefix in GROUP_PREFIXES:
        assert any(g.startswith(prefix) for g in groups), (prefix, groups)
    names = {(row["group"], row["name"]) for row in rows}
    for row in rows:
        assert set(row) >= {"group", "name", "unit", "values", "baseline"}
        # One repetition; server RSS rows hold one value per third of the fill.
        assert len(row["values"]) == (3 if "RSS" in row["name"] else 1), row
        assert all(isinstance(v, float) for v in row["values"])
        assert row["min"] <= row["median"] <= row["max"]
        if row["baseline"] is not None:
            assert (row["group"], row["baseline"]) in names, row
            assert row["ratio"] is not None and row["ratio"] > 0
        if row["target"] is not None:
            assert row["verdict"] in ("met", "met, aim missed", "NOT MET")
    # The rows the targets are about carry a target.
    targeted = {row["name"] for row in rows if row["target"]}
    assert "building env.step" in targeted
    assert any(n.startswith("ReplayBufferManager observer") for n in targeted)
    assert any(n.startswith("ReplayBufferManager.get_dataset") for n in targeted)
    assert any(n.startswith("guide populate command") for n in targeted)
    assert any(n.startswith("on disk") for n in targeted)

    table = (out / "latest.md").read_text()
    assert table in completed.stdout
    for group in groups:
        assert f"**{group}**" in table
    assert "| row | median | min–max | unit | × baseline | target | verdict |" in table
    assert table.count("\n| ") >= len(rows)
    assert (out / "logs" / "native.log").exists()
