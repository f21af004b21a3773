"""Seeds in run_experiment and sweeps, end to end.

Tiny experiments (one-day episodes, 8-unit networks, 20 train steps, one
evaluation episode per season); the summaries and the verdict on hand-made
reports are in summaries_test.py.
"""

import csv
import json

import pytest

from tests.launchers.launch_testing import launch, read_json
from tests.launchers.summaries_test import SUMMARY_LABELS

TINY_EXPERIMENT = """
include 'experiments/building_sac.gin'
populate_starter_buffer.num_runs = 2
populate_starter_buffer.steps_per_run = 48
BuildingEnvironment.episode_days = 1
TrainConfig.num_train_steps = 20
TrainConfig.batch_size = 8
TrainConfig.eval_interval = 0
TrainConfig.checkpoint_interval = 0
TrainConfig.policy_save_interval = 0
TrainConfig.summary_interval = 20
train_eval.initial_collect_steps = 0
ReplayBufferManager.capacity = 1000
create_sac_agent.actor_fc_layers = (8,)
create_sac_agent.critic_joint_fc_layers = (8,)
evaluation_set.episodes_per_season = 1
evaluation_set.episode_days = 1
evaluate.write_plots = False
"""


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "tiny_experiment.gin"
    path.write_text(TINY_EXPERIMENT)
    return str(path)


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------ end to end


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_run_experiment_seeds_end_to_end_then_resume(tmp_path, experiment):
    root = tmp_path / "run"
    args = [f"--gin_file={experiment}", f"--root_dir={root}", "--seeds=3,4"]
    done = launch("launchers.run_experiment", args, timeout=1700)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run = read_json(root / "run.json")
    assert run["layout"] == "seeds" and run["seeds"] == [3, 4]
    assert run["status"] == "complete"
    assert run["runs"] == {
        "3": {"dir": "seed_3", "status": "complete"},
        "4": {"dir": "seed_4", "status": "complete"},
    }
    keys = []
    for seed in (3, 4):
        seed_dir = root / f"seed_{seed}"
        seed_run = read_json(seed_dir / "run.json")
        assert seed_run["status"] == "complete" and seed_run["seed"] == seed
        assert f"SEED = {seed}" in (seed_dir / "experiment.gin").read_text()
        assert (seed_dir / "eval_report" / "metrics.json").exists()
        keys.append(read_json(seed_dir / "starter_buffer.json")["populate_key"])
    assert keys[0] != keys[1]  # each seed its own starter buffer

    rows = _csv(root / "results.csv")
    assert [(r["seed"], r["across_seeds"]) for r in rows] == [("3", ""), ("4", "")] + [
        ("", statistic)
        for statistic in (
            "n",
            "mean",
            "iqm",
            "std",
            "mean_ci_low",
            "mean_ci_high",
            "iqm_ci_low",
            "iqm_ci_high",
        )
    ]
    for column in (
        "policy/cost/mean",
        "policy/cost/winter/ci_high",
        "baseline/comfort_kh/mean",
        "difference/cost/ci_high",
    ):
        assert column in rows[0], column
    by_statistic = {r["across_seeds"]: r for r in rows[2:]}
    assert float(by_statistic["n"]["policy/cost/mean"]) == 2
    assert float(by_statistic["mean"]["policy/cost/mean"]) == pytest.approx(
        (float(rows[0]["policy/cost/mean"]) + float(rows[1]["policy/cost/mean"])) / 2
    )
    markdown = (root / "summary.md").read_text()
    assert "Across 2 seeds" in markdown and "policy IQM [95% CI]" in markdown

    out = done.stdout
    # The eval stages' tables stay in their logs; the summary shows the seeds.
    assert "[eval] return (higher is better)" not in out
    assert f"Run complete: {root} (seeds 3, 4)" in out
    for label in SUMMARY_LABELS:
        assert label in out, label
    for text in (
        "policy mean",
        "policy IQM [95% CI]",
        "schedule",
        "all year",
        "winter",
        "autumn",
        "Verdict: the learned policy beats the schedule in",
        f"summary: {root / 'summary.md'}",
        f"results: {root / 'results.csv'}",
    ):
        assert text in out, text

    # Seed 4 interrupted before its evaluation: only seed 4 runs again.
    seed_3_before = read_json(root / "seed_3" / "run.json")
    record = read_json(root / "seed_4" / "run.json")
    record["status"] = "interrupted"
    record["stages"]["eval"]["status"] = "interrupted"
    (root / "seed_4" / "run.json").write_text(json.dumps(record))
    (root / "seed_4" / "eval_report" / "metrics.json").unlink()
    resumed = launch("launchers.run_experiment", args, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[seed 3] complete: skipped" in resumed.stdout
    assert "[seed 4] run 2 of 2" in resumed.stdout
    assert read_json(root / "seed_3" / "run.json") == seed_3_before
    assert read_json(root / "seed_4" / "run.json")["status"] == "complete"
    assert (root / "seed_4" / "eval_report" / "metrics.json").exists()
    assert read_json(root / "run.json")["status"] == "complete"

    # A root of seeds is not resumed as a single run.
    single = launch(
        "launchers.run_experiment",
        [f"--gin_file={experiment}", f"--root_dir={root}"],
        timeout=300,
    )
    assert single.returncode == 1
    assert single.stderr.strip().startswith("error: ") and "--seeds" in single.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sweep_with_a_seed_axis_aggregates_each_point(tmp_path, experiment):
    root = tmp_path / "sweep"
    done = launch(
        "launchers.sweep",
        [
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            "--max_parallel=2",
            "--metric=cost",
            "--sweep=ReplayBufferManager.capacity=[1000]",
            "--sweep=SEED=[3, 4]",
        ],
        timeout=1700,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = _csv(root / "results.csv")
    assert len(rows) == 1  # the seeds are not points
    (row,) = rows
    assert row["point"] == "p000" and row["ReplayBufferManager.capacity"] == "1000"
    assert row["seeds"] == "3 4" and row["status"] == "complete"
    assert row["runs_complete"] == "2/2"
    for column in (
        "policy/cost/iqm",
        "policy/cost/iqm_ci_low",
        "policy/cost/iqm_ci_high",
        "policy/cost/mean_ci_low",
        "policy/cost/winter/iqm",
        "baseline/cost/mean",
        "baseline/comfort_kh/summer/mean",
        "difference/cost/iqm",
    ):
        assert row[column] != "", column
    assert float(row["policy/cost/n"]) == 2
    assert float(row["policy/cost/iqm_ci_low"]) <= float(row["policy/cost/iqm"])
    for key in ("return", "cost", "comfort_kh", "gas_kwh"):
        assert (root / f"{key}.png").stat().st_size > 0
    markdown = (root / "summary.md").read_text()
    assert "2 seeds per point: 3, 4" in markdown
    assert "Best: p000 (" in markdown and "IQM" in markdown
    assert "(lowest of the points)." in markdown
    sweep_record = read_json(root / "sweep.json")
    assert sweep_record["seeds"] == [3, 4]
    keys = sweep_record["populate_keys"]
    assert set(keys) == {"p000-seed_3", "p000-seed_4"}
    assert keys["p000-seed_3"] != keys["p000-seed_4"]
    point = root / "points" / "p000"
    assert read_json(point / "run.json")["status"] == "complete"
    assert (point / "summary.md").exists() and (point / "results.csv").exists()
    for seed in (3, 4):
        assert read_json(point / f"seed_{seed}" / "run.json")["seed"] == seed
