"""The run and across-seed summaries, the verdict and sweep plots, seed flags.

From hand-made metrics.json contents, in-process; the end-to-end runs that
write them are in seeds_test.py.
"""

import subprocess
import sys

import pytest

from launchers import (
    run_experiment,
    seed_runs,
    seed_summary,
    summary,
    sweep_plan,
    sweep_plots,
    sweep_results,
    verdict,
)
from smart_control.reinforcement_learning.evaluation import across_seeds, metric_table
from smart_control.reinforcement_learning.utils import binary
from tests.launchers.launch_testing import REPO_ROOT

# --------------------------------------------------- hand-made reports

SUMMARY_LABELS = (
    "return (higher is better)",
    "cost ($, lower is better)",
    "comfort violation (K·h, lower is better)",
    "electricity (kWh, lower is better)",
    "gas (kWh, lower is better)",
    "CO2 (kg, lower is better)",
)
KEYS = ("return", "electricity_kwh", "gas_kwh", "cost", "carbon_kg", "comfort_kh")
SEASONS = metric_table.SEASONS


def _interval(mean, half, n):
    low, high = (None, None) if half is None else (mean - half, mean + half)
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": n}


def _role(values, half, n=12, per_season=3):
    """overall and seasons of one role: every season has the overall values."""
    overall = {k: _interval(v, half, n) for k, v in values.items()}
    seasons = {
        s: {k: _interval(v, half, per_season) for k, v in values.items()}
        for s in SEASONS
    }
    return {"overall": overall, "seasons": seasons}


def make_report(policy, schedule, cost_difference, comfort_difference, seed=1000):
    """A format-2 metrics.json: policy and schedule values, paired differences.

    `cost_difference` / `comfort_difference`: (mean, half-width or None).
    """
    episodes = [
        {
            "index": i,
            "env_seed": 100 + i,
            "season": SEASONS[i // 3],
            "start_date": f"2023-{1 + i:02d}-02",
        }
        for i in range(12)
    ]
    results = {
        "policy": {**_role(policy, 5.0), "mean": dict(policy), "episodes": []},
        "baseline": {**_role(schedule, 5.0), "mean": dict(schedule), "episodes": []},
    }
    difference_values = {k: policy[k] - schedule[k] for k in KEYS}
    difference = {"overall": {}, "seasons": {s: {} for s in SEASONS}}
    for key in KEYS:
        mean, half = {"cost": cost_difference, "comfort_kh": comfort_difference}.get(
            key, (difference_values[key], 1.0)
        )
        difference["overall"][key] = _interval(mean, half, 12)
        for s in SEASONS:
            difference["seasons"][s][key] = _interval(mean, half, 3)
    return {
        "format": 2,
        "policy": "/runs/q/train/policies/greedy_policy",
        "baseline": "schedule",
        "evaluation_set": {
            "seed": seed,
            "seasonal": True,
            "episode_days": 7,
            "episodes_per_season": 3,
            "episodes": episodes,
        },
        "metrics": metric_table.table_json(KEYS),
        "results": results,
        "difference": difference,
    }


SCHEDULE = {
    "return": -65.0,
    "electricity_kwh": 900.0,
    "gas_kwh": 2000.0,
    "cost": 480.0,
    "carbon_kg": 600.0,
    "comfort_kh": 210.0,
}


def _policy(cost, comfort):
    return {**SCHEDULE, "return": -60.0, "cost": cost, "comfort_kh": comfort}


LONG = summary.NextExperiment(
    "experiments/building_sac_long.gin", "make run-long", expected_wall_time_min=None
)


def test_quickstart_summary_says_plainly_it_does_not_beat_the_schedule():
    report = make_report(_policy(500.0, 250.0), SCHEDULE, (20.0, 8.0), (40.0, 30.0))
    text = summary.format_one_run(
        report,
        progress="3,000 train steps on 3,000 env steps, training took 4.0 min",
        next_experiment=LONG,
    )
    # The per-season table, with intervals, for the summary's metrics.
    for label in SUMMARY_LABELS:
        assert label in text, label
    assert "12 episodes (3 per season, 7 days each, seed 1000)" in text
    assert "500.0 ± 5.00" in text and "winter" in text and "autumn" in text
    assert (
        "Verdict: the learned policy does NOT beat the schedule on the year-round "
        "set yet: cost +20.00 $ (+4.2%) [95% CI +12.00, +28.00], comfort violation "
        "+40.00 K·h [95% CI +10.00, +70.00]" in text
    )
    assert "  all year  no (cost not lower, comfort worse)" in text
    assert "It got this far in 3,000 train steps on 3,000 env steps" in text
    assert (
        "A run long enough to beat the schedule: make run-long "
        "(experiments/building_sac_long.gin, expected wall time not measured yet)."
        in text
    )


def test_quickstart_summary_when_the_policy_beats_the_schedule():
    # Cost lower (interval below 0), comfort no worse (mean difference below 0).
    report = make_report(_policy(420.0, 200.0), SCHEDULE, (-60.0, 10.0), (-10.0, 25.0))
    text = summary.format_verdict(
        report, progress="90,000 train steps", next_experiment=LONG
    )
    assert (
        "Verdict: the learned policy BEATS the schedule on the year-round set" in text
    )
    assert "cost -60.00 $ (-12.5%) [95% CI -70.00, -50.00]" in text
    assert "make run-long" not in text  # nothing longer to recommend
    assert "  winter    beats" in text


def test_next_experiment_of_the_quickstart_is_the_long_one():
    long = run_experiment.NEXT_EXPERIMENT["experiments/quickstart.gin"]
    assert long.gin_file == "experiments/building_sac_long.gin"
    assert long.make_target == "make run-long"
    for given in (
        ["experiments/quickstart.gin"],
        ["configs/experiments/quickstart.gin"],
        ["/x/smart_control/configs/experiments/quickstart.gin"],
    ):
        assert run_experiment.next_experiment_for(given) is long
    assert run_experiment.next_experiment_for(["experiments/building_sac.gin"]) is None
    assert (
        "about 42 min on 2 cores"
        in summary.NextExperiment("e.gin", "make x", 42.0).describe()
    )


@pytest.mark.parametrize(
    "cost, comfort, beats, cost_lower, comfort_no_worse",
    [
        ((-10.0, 5.0), (0.0, 3.0), True, True, True),
        ((-10.0, 5.0), (4.0, 3.0), False, True, False),  # comfort mean > 0
        ((-10.0, 5.0), (3.0, 3.0), False, True, False),  # mean above 0: worse
        ((-10.0, 5.0), (-1.0, 30.0), True, True, True),  # wide interval, mean < 0
        ((-4.0, 5.0), (-20.0, 3.0), False, False, True),  # cost interval spans 0
        ((-10.0, None), (-20.0, None), None, None, None),  # one episode
    ],
)
def test_verdict_uses_the_paired_intervals(
    cost, comfort, beats, cost_lower, comfort_no_worse
):
    report = make_report(_policy(470.0, 200.0), SCHEDULE, cost, comfort)
    result = verdict.from_report(report)
    assert (result.beats, result.cost_lower, result.comfort_no_worse) == (
        beats,
        cost_lower,
        comfort_no_worse,
    )
    # The same from flat columns as a CSV gives them (strings).
    columns = {
        k: "" if v is None else str(v)
        for k, v in verdict.report_columns(report).items()
    }
    assert verdict.from_columns(columns) == result


def test_verdict_without_a_schedule_is_none():
    report = make_report(_policy(470.0, 200.0), SCHEDULE, (-1.0, 1.0), (0.0, 1.0))
    del report["difference"], report["results"]["baseline"]
    assert verdict.from_report(report) is None
    assert summary.format_verdict(report) == ""


def test_seed_table_and_results_rows_from_hand_made_reports():
    reports = {
        seed: make_report(
            _policy(cost, 200.0), SCHEDULE, (cost - 480.0, 5.0), (-10.0, 5.0)
        )
        for seed, cost in ((0, 470.0), (1, 430.0), (2, 490.0))
    }
    aggregate = seed_summary.aggregate_seeds(reports)
    table = seed_summary.format_seed_table(aggregate)
    assert "Across 3 seeds" in table
    for label in SUMMARY_LABELS:
        assert label in table
    cost_block = table.split("cost ($, lower is better)")[1].split("\n\n")[0]
    all_year = next(line for line in cost_block.splitlines() if "all year" in line)
    assert all_year.split()[2] == "463.3"  # the mean of 470, 430, 490
    assert "480.0" in all_year  # the schedule
    verdicts = seed_summary.format_seed_verdicts(reports, LONG)
    assert "beats the schedule in 2 of 3 seeds (0, 1)." in verdicts
    assert "make run-long" in verdicts

    columns, rows = seed_summary.results_table(
        {0: "complete", 1: "complete", 2: "complete", 3: "failed"}, reports, aggregate
    )
    assert columns[:3] == ["seed", "across_seeds", "status"]
    assert [r.get("seed") for r in rows[:4]] == [0, 1, 2, 3]
    iqm = next(r for r in rows if r.get("across_seeds") == "iqm")
    assert iqm["policy/cost/mean"] == pytest.approx(463.333, abs=1e-3)
    assert iqm["baseline/cost/winter/mean"] == pytest.approx(480.0)


def test_seeds_evaluated_on_other_episodes_are_refused():
    reports = {
        0: make_report(_policy(470.0, 200.0), SCHEDULE, (-10.0, 5.0), (0.0, 1.0)),
        1: make_report(
            _policy(470.0, 200.0), SCHEDULE, (-10.0, 5.0), (0.0, 1.0), seed=7
        ),
    }
    reports[1]["evaluation_set"]["episodes"][0]["env_seed"] = 999
    with pytest.raises(ValueError, match="other episodes"):
        seed_summary.aggregate_seeds(reports)


def test_sweep_plot_series_and_schedule_reference():
    def point(name, capacity, costs, schedule_cost=480.0):
        reports = [
            make_report(
                _policy(c, 200.0),
                {**SCHEDULE, "cost": schedule_cost},
                (c - schedule_cost, 5.0),
                (0.0, 1.0),
            )
            for c in costs
        ]
        return sweep_results.PointResult(
            name,
            {"ReplayBufferManager.capacity": capacity},
            [0, 1],
            {f"{name}-seed_0": "complete", f"{name}-seed_1": "complete"},
            {f"{name}-seed_0": "a.log", f"{name}-seed_1": "b.log"},
            {f"{name}-seed_{i}": r for i, r in enumerate(reports)},
            across_seeds.aggregate_reports(reports),
        )

    axis = ["ReplayBufferManager.capacity"]
    points = [point("p000", 500, [470.0, 460.0]), point("p001", 1000, [450.0, 440.0])]
    series, reference = sweep_plots.plot_series(points, axis, "cost")
    assert series == {"policy": {500: [470.0, 460.0], 1000: [450.0, 440.0]}}
    assert reference == {"schedule": 480.0}
    # A swept setting that changes the schedule: the schedule is a series.
    points[1] = point("p001", 1000, [450.0, 440.0], schedule_cost=300.0)
    series, reference = sweep_plots.plot_series(points, axis, "cost")
    assert reference == {} and series["schedule"] == {
        500: [480.0] * 2,
        1000: [300.0] * 2,
    }
    row = points[0].row()
    assert row["seeds"] == "0 1" and row["runs_complete"] == "2/2"
    assert row["policy/cost/iqm"] == pytest.approx(465.0)
    assert "baseline/cost/mean" in row and "difference/cost/iqm_ci_low" in row
    assert points[0].beats() == (2, 2)
    markdown = sweep_results.format_summary(axis, points, "cost", [0, 1], [])
    assert "Best: p001 (ReplayBufferManager.capacity=1000), cost IQM 445.0" in markdown
    assert "(lowest of the points)" in markdown


def test_launchers_load_no_numerical_library_at_import():
    # run_experiment enters its private network namespace at start-up, which
    # needs a single-threaded process: numpy's BLAS would start threads.
    code = (
        "import os, sys\n"
        "import launchers.run_experiment, launchers.sweep\n"
        "loaded = [m for m in ('numpy', 'tensorflow') if m in sys.modules]\n"
        "print(loaded, len(os.listdir('/proc/self/task')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "[] 1", done.stdout + done.stderr


def test_seed_flags_and_axis():
    assert seed_runs.parse_seeds(None) is None
    assert seed_runs.parse_seeds(["0", "1", "2"]) == [0, 1, 2]
    for bad in (["x"], ["-1"], ["1", "1"], [True]):
        with pytest.raises(binary.UserError):
            seed_runs.parse_seeds(bad)
    axes = [("A.b", [1, 2]), ("SEED", [0, 1])]
    assert sweep_plan.split_seeds(axes, None) == ([("A.b", [1, 2])], [0, 1])
    assert sweep_plan.split_seeds([("A.b", [1])], [5]) == ([("A.b", [1])], [5])
    with pytest.raises(binary.UserError, match="once"):
        sweep_plan.split_seeds(axes, [3])
    assert seed_runs.binds_seed(["SEED = 3"]) and not seed_runs.binds_seed(
        ["SEEDS.x = 1", "TrainConfig.seed = 2"]
    )
    assert seed_runs.overall_status({0: "complete", 1: "failed"}) == "failed"
    assert seed_runs.overall_status({0: "complete", 1: "complete"}) == "complete"
