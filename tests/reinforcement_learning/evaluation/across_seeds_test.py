"""Aggregation of several runs' metrics.json, and the confidence-band plot."""

import json

import numpy as np
import pytest

from smart_control.reinforcement_learning.evaluation import (
    across_seeds,
    band_plot,
    eval_set,
    metric_table,
    report,
    runner,
)
from smart_control.reinforcement_learning.evaluation import statistics as stats
from smart_control.reinforcement_learning.utils import json_files

SET = eval_set.evaluation_set(episodes_per_season=2)


def _report(cost_offset, evaluation_set=SET):
    episodes = evaluation_set.episodes(True)
    results = []
    for role_offset in (cost_offset, 0.0):
        role = []
        for episode in episodes:
            totals = dict.fromkeys(metric_table.INFO_FIELDS, 1.0)
            totals["cost"] = 100.0 + 10 * episode.index + role_offset
            role.append(runner.EpisodeResult(episode, np.array([-1.0]), totals))
        results.append(role)
    return report.build_report(
        "policy", evaluation_set.describe(True), results[0], "schedule", results[1]
    )


def _write(tmp_path, reports):
    paths = []
    for i, content in enumerate(reports):
        path = tmp_path / f"seed{i}" / "metrics.json"
        json_files.write_json_atomic(str(path), content)
        paths.append(str(path.parent))
    return paths


def test_aggregate_of_runs_from_metrics_files(tmp_path):
    offsets = [-10.0, -20.0, -30.0, 50.0]
    paths = _write(tmp_path, [_report(o) for o in offsets])
    aggregate = across_seeds.aggregate_metrics_files(paths)
    assert aggregate["num_runs"] == 4 and aggregate["runs"] == paths
    cost = aggregate["results"]["policy"]["overall"]["cost"]
    # Episode costs 100 + 10 i, i = 0..7: mean 135, plus each run's offset.
    assert cost["values"] == pytest.approx([125.0, 115.0, 105.0, 185.0])
    assert cost["mean"] == pytest.approx(132.5)
    assert cost["iqm"] == pytest.approx(120.0)  # middle two of four
    assert cost["mean_ci_low"] <= cost["mean"] <= cost["mean_ci_high"]
    assert cost["iqm_ci_low"] <= cost["iqm"] <= cost["iqm_ci_high"]
    assert cost == {
        **stats.seed_statistics([125.0, 115.0, 105.0, 185.0]).as_dict(),
        "values": cost["values"],
    }
    difference = aggregate["results"]["difference"]["seasons"]["winter"]["cost"]
    assert difference["values"] == pytest.approx(offsets)
    baseline = aggregate["results"]["baseline"]["overall"]["cost"]
    assert baseline["std"] == 0.0

    columns = across_seeds.aggregate_columns(aggregate, "policy")
    assert columns["policy/cost/iqm"] == pytest.approx(120.0)
    assert columns["policy/cost/winter/n"] == 4
    assert list(columns)[: len(stats.SEED_STATISTICS)] == [
        f"policy/return/{s}" for s in stats.SEED_STATISTICS
    ]
    assert (
        "difference/comfort_kh/summer/mean_ci_high"
        in across_seeds.aggregate_columns(aggregate, "difference")
    )
    table = across_seeds.format_aggregate_table(aggregate, keys=["cost"])
    assert "IQM across 4 runs" in table and "winter" in table
    assert table.index("winter") < table.index("spring") < table.index("autumn")
    json.dumps(aggregate)  # JSON-ready for summaries


def test_runs_on_other_episodes_are_refused(tmp_path):
    other = _report(0.0, eval_set.evaluation_set(episodes_per_season=2, seed=3))
    with pytest.raises(ValueError, match="other episodes"):
        across_seeds.aggregate_reports([_report(0.0), other], names=["a", "b"])
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        across_seeds.load_reports([str(tmp_path)])
    (tmp_path / "metrics.json").write_text('{"results": {}}')
    with pytest.raises(ValueError, match="format 2"):
        across_seeds.load_reports([str(tmp_path)])


def test_confidence_band_plot(tmp_path):
    path = band_plot.plot_confidence_bands(
        str(tmp_path / "cost.png"),
        {
            "SAC": {1e-4: [410.0, 420.0, 430.0], 1e-3: [400.0, 405.0, 470.0]},
            "residual": {1e-4: [390.0], 1e-3: [380.0, 385.0]},
        },
        x_label="learning rate",
        metric_key="cost",
        reference_lines={"schedule": 480.0},
    )
    assert path.endswith("cost.png") and (tmp_path / "cost.png").stat().st_size > 0
    band_plot.plot_confidence_bands(
        str(tmp_path / "categorical.png"),
        {"SAC": {"small": [1.0, 2.0], "large": [3.0, 4.0]}},
        x_label="network",
        y_label="return",
        statistic="mean",
    )
    with pytest.raises(ValueError, match="statistic"):
        band_plot.plot_confidence_bands(
            str(tmp_path / "x.png"), {"a": {1: [1.0]}}, "x", statistic="median"
        )
    with pytest.raises(ValueError, match="series"):
        band_plot.plot_confidence_bands(str(tmp_path / "x.png"), {}, "x")
