"""The evaluation path: runner, report, metric names, PeriodicEvaluation, evaluate()."""

import functools
import json
import os

import numpy as np
import pytest
from tf_agents.policies import random_py_policy, random_tf_policy
from tf_agents.specs import tensor_spec

from smart_control.environment import building_env
from smart_control.reinforcement_learning.evaluation import (
    eval_set,
    evaluate,
    metric_table,
    report,
    runner,
)
from smart_control.reinforcement_learning.evaluation import statistics as stats
from smart_control.reinforcement_learning.policies import residual as residual_action
from smart_control.reinforcement_learning.policies.schedule_policy import (
    create_schedule_policy,
)
from smart_control.reinforcement_learning.training import environments
from smart_control.reinforcement_learning.training import evaluation as periodic
from tests.reinforcement_learning.training.summaries import scalars

# One one-day episode per season: 4 x 96 steps.
SMALL = eval_set.evaluation_set(episodes_per_season=1, episode_days=1)


def _random_tf_policy(env):
    return random_tf_policy.RandomTFPolicy(
        tensor_spec.from_spec(env.time_step_spec()),
        tensor_spec.from_spec(env.action_spec()),
    )


def test_policy_and_baseline_see_identical_episodes():
    factory = building_env.create_building_environment
    episodes = SMALL.episodes(True)
    every = range(len(episodes))
    env = factory()
    ours = runner.run_episodes(
        factory, _random_tf_policy(env), SMALL, episodes, traced=every
    )
    theirs = runner.run_episodes(
        factory, create_schedule_policy, SMALL, episodes, traced=every
    )
    for a, b in zip(ours, theirs):
        assert a.episode == b.episode
        assert len(a.infos) == len(b.infos) == 96
        assert a.infos[0].local_time.startswith(a.episode.start_date + "T00:00")
        for field in ("start_utc_s", "outdoor_temperature_k", "occupants"):
            assert [getattr(i, field) for i in a.infos] == [
                getattr(i, field) for i in b.infos
            ]
    # Different actions, different outcomes.
    assert [r.metrics()["cost"] for r in ours] != [r.metrics()["cost"] for r in theirs]


def _result(index, season, reward, cost):
    episode = eval_set.EvalEpisode(index, index + 100, season, "2023-01-01")
    totals = dict.fromkeys(metric_table.INFO_FIELDS, 0.0)
    totals["cost"] = cost
    return runner.EpisodeResult(episode, np.array([reward, 0.0]), totals)


def test_per_season_means_and_intervals_on_known_numbers():
    costs = {"winter": [10.0, 12.0, 14.0], "summer": [30.0, 30.0, 36.0]}
    results = [
        _result(i, season, -cost / 10, cost)
        for i, (season, cost) in enumerate(
            (s, c) for s, values in costs.items() for c in values
        )
    ]
    summary = report.role_summary(results)
    winter = summary["seasons"]["winter"]["cost"]
    assert winter["mean"] == pytest.approx(12.0) and winter["n"] == 3
    half = stats.t_quantile(0.975, 2) * 2.0 / np.sqrt(3)  # s = 2
    assert winter["ci_low"] == pytest.approx(12.0 - half)
    assert winter["ci_high"] == pytest.approx(12.0 + half)
    assert summary["seasons"]["summer"]["cost"]["mean"] == pytest.approx(32.0)
    assert set(summary["seasons"]) == {"winter", "summer"}
    overall = summary["overall"]["cost"]
    expected = stats.stratified_mean_interval(
        [10, 12, 14, 30, 30, 36], ["winter"] * 3 + ["summer"] * 3
    )
    assert overall == expected.as_dict()
    assert summary["mean"]["cost"] == pytest.approx(22.0)
    assert summary["overall"]["length"]["mean"] == 2
    assert summary["mean"]["return"] == pytest.approx(-2.2)
    assert [row["cost"] for row in summary["episodes"]] == [10, 12, 14, 30, 30, 36]

    baseline = [_result(r.episode.index, r.episode.season, -1.0, 20.0) for r in results]
    difference = report.difference_summary(results, baseline)
    assert difference["overall"]["cost"]["mean"] == pytest.approx(2.0)
    assert difference["seasons"]["winter"]["cost"]["mean"] == pytest.approx(-8.0)
    assert "length" not in difference["overall"]  # neither better nor worse
    with pytest.raises(ValueError, match="different episodes"):
        report.difference_summary(results, baseline[::-1])


def test_metric_table_names_the_report_columns():
    results = [_result(0, "winter", -1.0, 5.0), _result(1, "winter", -2.0, 6.0)]
    built = report.build_report(
        "policy", {"episodes": []}, results, "schedule", results
    )
    assert list(built["metrics"]) == [m.key for m in metric_table.METRICS]
    assert built["metrics"]["comfort_kh"] == {
        "label": "comfort violation",
        "unit": "K·h",
        "better": "lower",
    }
    columns = metric_table.report_columns(built, "policy")
    expected = [
        metric_table.column_name("policy", m.key, s, season)
        for season in (None, "winter")
        for m in metric_table.METRICS
        for s in metric_table.EPISODE_STATISTICS
    ]
    assert list(columns) == expected
    assert columns["policy/cost/mean"] == pytest.approx(5.5)
    assert columns["policy/cost/winter/n"] == 2
    assert metric_table.report_columns(built, "difference")["difference/cost/mean"] == 0
    assert "baseline/cost/winter/ci_low" in metric_table.report_columns(
        built, "baseline"
    )
    with pytest.raises(ValueError, match="role"):
        metric_table.report_columns(built, "schedule")
    assert metric_table.summary_tag("cost") == "Eval/cost"
    assert metric_table.summary_tag("cost", "winter") == "Eval_winter/cost"
    with pytest.raises(ValueError, match="key"):
        metric_table.summary_tag("energy")
    # The same sums for the train loop's collect-side summaries.
    from smart_control.reinforcement_learning.training import metrics

    info = metric_table.episode_info_metrics()
    assert info["comfort_kh"] == ("comfort_violation_degree_hours",)
    assert set(info) == {m.key for m in metric_table.METRICS if m.info_fields}
    metrics.EpisodeInfoTotals(building_env.create_building_environment(), metrics=info)


class _CountingSchedule(random_py_policy.RandomPyPolicy):
    """Counts batched calls; acts like the schedule."""

    def __init__(self, env):
        self.inner = create_schedule_policy(env.time_step_spec(), env.action_spec())
        super().__init__(env.time_step_spec(), env.action_spec())
        self.calls = 0

    def _action(self, time_step, policy_state, seed=None):
        self.calls += 1
        return self.inner.action(time_step, policy_state)


def test_periodic_evaluation_writes_the_tables_tags_and_runs_the_baseline_once(
    tmp_path,
):
    factory = residual_action.create_residual_building_environment
    env = factory()
    baseline = _CountingSchedule(residual_action.unwrap_residual(env))
    evaluation = periodic.PeriodicEvaluation(
        factory, str(tmp_path), SMALL, baseline=baseline
    )
    policy = _random_tf_policy(env)
    first = evaluation(policy, 0, env_steps=0)
    second = evaluation(policy, 10, env_steps=50)
    assert baseline.calls == 96  # one batched call per step, one run only
    assert first["results"]["baseline"] == second["results"]["baseline"]
    assert evaluation.baseline_report == second["results"]["baseline"]
    assert "vs" in evaluation.describe(second)
    keys = [m.key for m in metric_table.METRICS]
    expected = {metric_table.summary_tag(k) for k in keys}
    expected |= {
        metric_table.summary_tag(k, s) for k in keys for s in metric_table.SEASONS
    }
    expected |= {f"EvalByEnvSteps/{k}" for k in keys}
    policy_tags, baseline_tags = (
        scalars(str(tmp_path)),
        scalars(str(tmp_path / "baseline")),
    )
    assert set(policy_tags) == set(baseline_tags) == expected
    assert [s for s, _ in policy_tags["Eval/cost"]] == [0, 10]
    assert [s for s, _ in policy_tags["EvalByEnvSteps/cost"]] == [0, 50]
    assert policy_tags["Eval/cost"][1][1] == pytest.approx(
        second["results"]["policy"]["overall"]["cost"]["mean"]
    )
    # The residual policy's random corrections stay within 0.5 of the schedule,
    # the raw baseline runs the schedule itself: same episodes, other costs.
    assert second["difference"]["overall"]["cost"]["n"] == 4


def test_gym_environments_get_seeded_episodes_with_return_and_length(tmp_path):
    factory = functools.partial(
        environments.load_gym_environment, "Pendulum-v1", max_episode_steps=20
    )
    evaluation = periodic.PeriodicEvaluation(
        factory, str(tmp_path), eval_set.evaluation_set(num_episodes=3)
    )
    env = factory()
    result = evaluation(_random_tf_policy(env), 0)
    policy = result["results"]["policy"]
    assert list(policy["overall"]) == ["return", "length"]
    assert policy["seasons"] == {} and policy["overall"]["length"]["mean"] == 20
    assert [e["season"] for e in policy["episodes"]] == [None] * 3
    assert "baseline" not in result["results"]
    assert set(scalars(str(tmp_path))) == {"Eval/return", "Eval/length"}


@pytest.mark.slow
def test_evaluate_writes_metrics_json_and_plots(tmp_path):
    out = evaluate.evaluate(
        "schedule",
        str(tmp_path),
        env_factory=building_env.create_building_environment,
        eval_set=SMALL,
    )
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == {k: v for k, v in out.items() if k != "files"}
    assert written["policy"] == "schedule" and written["baseline"] is None
    assert written["format"] == 2
    seasons = written["results"]["policy"]["seasons"]
    assert metric_table.ordered_seasons(seasons) == list(metric_table.SEASONS)
    assert sorted(os.listdir(tmp_path / "plots")) == sorted(
        ["seasons.png", "cumulative_reward.png"]
        + [f"episode_{s}.png" for s in metric_table.SEASONS]
    )
    table = report.format_table(written)
    assert "winter" in table and "comfort violation (K·h, lower is better)" in table


@pytest.mark.slow
def test_residual_and_plain_policies_are_not_mixed_up(tmp_path):
    from tf_agents.policies import policy_saver

    residual_env = residual_action.create_residual_building_environment(seed=0)
    plain_env = building_env.create_building_environment(seed=0)
    policy_saver.PolicySaver(_random_tf_policy(residual_env)).save(str(tmp_path / "r"))
    policy_saver.PolicySaver(_random_tf_policy(plain_env)).save(str(tmp_path / "p"))
    assert evaluate.is_residual_policy(str(tmp_path / "r"))
    assert not evaluate.is_residual_policy(str(tmp_path / "p"))
    specs = {
        "residual": (residual_env.time_step_spec(), residual_env.action_spec()),
        "plain": (plain_env.time_step_spec(), plain_env.action_spec()),
    }
    with pytest.raises(ValueError, match="--gin_file=eval/residual.gin"):
        evaluate.load_policy(str(tmp_path / "r"), *specs["plain"])
    with pytest.raises(ValueError, match="--gin_file=eval/building.gin"):
        evaluate.load_policy(str(tmp_path / "p"), *specs["residual"])
    # Matching pairs load; the residual policy evaluates against the raw schedule.
    evaluate.load_policy(str(tmp_path / "p"), *specs["plain"])
    out = evaluate.evaluate(
        str(tmp_path / "r"),
        str(tmp_path / "report"),
        env_factory=residual_action.create_residual_building_environment,
        eval_set=SMALL,
        write_plots=False,
    )
    assert out["baseline"] == "schedule" and "plots" not in out["files"]
    # Corrections of at most 0.5 around the schedule: the same order of cost.
    ratio = (
        out["results"]["policy"]["mean"]["cost"]
        / out["results"]["baseline"]["mean"]["cost"]
    )
    assert 0.5 < ratio < 2.0


def test_self_batching_py_policies_run_one_episode_at_a_time(tmp_path):
    from tf_agents.policies import py_tf_eager_policy

    env = building_env.create_building_environment()
    schedule = create_schedule_policy(env.time_step_spec(), env.action_spec())
    # The train loops' greedy policy is such a PyTFEagerPolicy.
    self_batching = py_tf_eager_policy.PyTFEagerPolicy(
        schedule.as_tf_policy(), use_tf_function=True
    )
    assert runner.adds_batch_dimension(self_batching)
    evaluation = periodic.PeriodicEvaluation(
        building_env.create_building_environment,
        str(tmp_path),
        SMALL,
        baseline=schedule,
    )
    result = evaluation(self_batching, 0)
    # The same actions as the schedule itself, on the same episodes.
    assert result["difference"]["overall"]["cost"]["mean"] == pytest.approx(0.0)
    assert result["results"]["policy"]["mean"] == pytest.approx(
        result["results"]["baseline"]["mean"]
    )
    fields = periodic.record_fields(result)
    assert fields["metrics"] == result["results"]["policy"]["mean"]
    assert fields["baseline"]["cost"] == fields["columns"]["baseline/cost/mean"]
    assert "difference/comfort_kh/winter/ci_high" in fields["columns"]
