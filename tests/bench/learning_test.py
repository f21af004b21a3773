"""The learning row's logic on hand-made eval/metrics.jsonl records."""

import json

import pytest

from bench import bench_learning, run_all


def _record(env_steps, cost, comfort, elapsed_s=None, half=5.0):
    """A train loop's evaluation record: paired differences (mean, ± half)."""
    columns = {
        "policy/cost/mean": 400.0 + cost,
        "baseline/cost/mean": 400.0,
        "policy/comfort_kh/mean": 50.0 + comfort,
        "baseline/comfort_kh/mean": 50.0,
    }
    for key, mean in (("cost", cost), ("comfort_kh", comfort)):
        columns[f"difference/{key}/mean"] = mean
        columns[f"difference/{key}/ci_low"] = None if half is None else mean - half
        columns[f"difference/{key}/ci_high"] = None if half is None else mean + half
    return {
        "env_steps": env_steps,
        "train_step": env_steps,
        "elapsed_s": elapsed_s if elapsed_s is not None else env_steps / 20,
        "columns": columns,
    }


def test_first_beat_needs_cost_lower_and_comfort_no_worse():
    records = [
        _record(1000, cost=+3.0, comfort=-20.0),  # cost interval spans 0
        _record(2000, cost=-8.0, comfort=+6.0),  # cheaper, but comfort worse
        _record(3000, cost=-8.0, comfort=+4.0),  # interval spans 0, mean worse
        _record(4000, cost=-9.0, comfort=-2.0),  # beats
        _record(5000, cost=-9.0, comfort=0.0),
    ]
    assert bench_learning.first_beat(records)["env_steps"] == 4000
    # Order of the file does not matter; the records are sorted by env steps.
    assert bench_learning.first_beat(records[::-1])["env_steps"] == 4000
    assert bench_learning.first_beat(records[:2]) is None
    # Without intervals (one episode) nothing beats the schedule.
    assert bench_learning.first_beat([_record(1000, -50.0, -50.0, half=None)]) is None
    assert bench_learning.first_beat([{"env_steps": 0, "train_step": 0}]) is None


def test_a_beat_counts_once_the_next_evaluation_confirms_it():
    lucky = [
        _record(1000, cost=-6.0, comfort=0.0),  # beats ...
        _record(2000, cost=+1.0, comfort=0.0),  # ... but not again
        _record(3000, cost=-7.0, comfort=0.0),
        _record(4000, cost=-8.0, comfort=0.0),
    ]
    assert bench_learning.first_beat(lucky, confirmations=0)["env_steps"] == 1000
    assert bench_learning.first_beat(lucky, confirmations=1)["env_steps"] == 3000
    # The last evaluation's beat has nothing to confirm it yet.
    assert bench_learning.first_beat(lucky[:3], confirmations=1) is None


def test_outcome_of_a_run_that_never_beats_is_a_lower_bound():
    records = [_record(1000, +3.0, 0.0, 40.0), _record(2000, +2.0, 0.0, 90.0)]
    result = bench_learning.outcome(records, budget=30_000, confirmations=1)
    assert result["env_steps"] == 30_000 and result["wall_s"] == 90.0
    assert result["beat"] is None and result["evaluations"] == 2
    assert result["last"]["env_steps"] == 2000 and result["last"]["beats"] is False
    beaten = bench_learning.outcome(
        records + [_record(3000, -9.0, 0.0, 130.0), _record(4000, -9.0, 0.0, 170.0)],
        budget=30_000,
        confirmations=1,
    )
    assert (beaten["env_steps"], beaten["wall_s"]) == (3000, 130.0)
    assert beaten["beat"]["cost_difference"]["ci_high"] == pytest.approx(-4.0)


def test_read_records_skips_a_torn_last_line(tmp_path):
    eval_dir = tmp_path / "train" / "eval"
    eval_dir.mkdir(parents=True)
    lines = [json.dumps(_record(1000, 1.0, 0.0)), json.dumps(_record(2000, 1.0, 0.0))]
    (eval_dir / "metrics.jsonl").write_text("\n".join(lines) + '\n{"env_st')
    assert [r["env_steps"] for r in bench_learning.read_records(str(tmp_path))] == [
        1000,
        2000,
    ]
    assert bench_learning.read_records(str(tmp_path / "nothing")) == []


def _outcome(seed, env_steps, wall_s):
    return {
        "seed": seed,
        "run_dir": f"/runs/seed_{seed}",
        "beat": None,
        "evaluations": 3,
        "last": None,
        "env_steps": env_steps,
        "wall_s": wall_s,
    }


def test_rows_median_over_seeds_against_the_targets():
    results = {
        bench_learning.PLAIN: [
            _outcome(0, 24_000, 700.0),
            _outcome(1, 30_000, 900.0),
            _outcome(2, 12_000, 400.0),
        ],
        bench_learning.RESIDUAL: [
            _outcome(0, 9_000, 300.0),
            _outcome(1, 12_000, 350.0),
            _outcome(2, 4_000, 120.0),
        ],
    }
    rows = run_all.summarize(bench_learning.rows(results, bench_learning.GROUP))
    by_name = {r["name"]: r for r in rows}
    plain_steps = next(
        r for r in rows if r["name"].startswith("env steps") and "plain" in r["name"]
    )
    residual_steps = next(
        r for r in rows if r["name"].startswith("env steps") and "residual" in r["name"]
    )
    assert plain_steps["median"] == 24_000 and plain_steps["verdict"] == "met"
    assert residual_steps["median"] == 9_000 and residual_steps["verdict"] == "met"
    assert residual_steps["ratio"] == pytest.approx(9_000 / 24_000)
    assert residual_steps["target"] == "<= 25,000 (aim <= 10,000)"
    assert len(by_name) == 4 and all(len(r["details"]) == 3 for r in rows)
    results[bench_learning.RESIDUAL][0]["env_steps"] = 15_000
    rows = run_all.summarize(bench_learning.rows(results, bench_learning.GROUP))
    residual_steps = next(
        r for r in rows if r["name"].startswith("env steps") and "residual" in r["name"]
    )
    assert residual_steps["verdict"] == "met, aim missed"
    # The smoke test's rows claim nothing: no target applies to them.
    quick = run_all.summarize(bench_learning.rows(results, bench_learning.QUICK_GROUP))
    assert all(r["target"] is None for r in quick)
