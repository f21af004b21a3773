"""Statistics on known numbers: t intervals, stratified intervals, IQM, bootstrap."""

import math

import numpy as np
import pytest

from smart_control.reinforcement_learning.evaluation import statistics as stats


@pytest.mark.parametrize(
    "df, expected",
    # scipy.stats.t.ppf(0.975, df)
    [
        (1, 12.706204736),
        (2, 4.302652730),
        (3, 3.182446305),
        (4.5, 2.658912347),
        (10, 2.228138852),
        (30, 2.042272456),
        (1000, 1.962339081),
    ],  # fmt: skip
)
def test_t_quantile_matches_tables(df, expected):
    assert stats.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-8)
    assert stats.t_quantile(0.025, df) == pytest.approx(-expected, abs=1e-8)


def test_mean_interval_on_known_numbers():
    interval = stats.mean_interval([1.0, 2.0, 3.0])
    half = 4.302652730 * 1.0 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n), s = 1
    assert interval.mean == 2.0 and interval.n == 3
    assert interval.ci_low == pytest.approx(2.0 - half)
    assert interval.ci_high == pytest.approx(2.0 + half)
    assert interval.half_width == pytest.approx(half)
    single = stats.mean_interval([5.0])
    assert (single.mean, single.ci_low, single.ci_high, single.n) == (
        5.0,
        None,
        None,
        1,
    )
    constant = stats.mean_interval([4.0, 4.0])
    assert constant.ci_low == constant.ci_high == 4.0


def test_stratified_interval_ignores_differences_between_strata():
    # Two seasons far apart, little spread inside each.
    values = [10.0, 11.0, 12.0, 100.0, 101.0, 102.0]
    strata = ["winter"] * 3 + ["summer"] * 3
    stratified = stats.stratified_mean_interval(values, strata)
    plain = stats.mean_interval(values)
    assert stratified.mean == plain.mean == pytest.approx(56.0)
    # Each stratum: s^2 = 1, n_h = 3, weight 1/2: variance = 2 * (1/4 * 1/3).
    variance = 2 * 0.25 / 3
    # Welch-Satterthwaite: variance^2 / sum(term^2 / 2) with equal terms.
    df = variance**2 / (2 * (variance / 2) ** 2 / 2)
    assert df == pytest.approx(4.0)
    half = stats.t_quantile(0.975, df) * math.sqrt(variance)
    assert stratified.ci_low == pytest.approx(56.0 - half)
    assert stratified.ci_high == pytest.approx(56.0 + half)
    assert stratified.half_width < plain.half_width / 20


def test_stratified_interval_falls_back_with_one_value_per_stratum():
    values, strata = [1.0, 2.0, 4.0, 8.0], ["winter", "spring", "summer", "autumn"]
    assert stats.stratified_mean_interval(values, strata) == stats.mean_interval(values)
    with pytest.raises(ValueError, match="strata"):
        stats.stratified_mean_interval(values, strata[:3])


def test_interquartile_mean_of_known_arrays():
    # trim 25% each end (int(0.25 n) values): scipy.stats.trim_mean(x, 0.25).
    assert stats.interquartile_mean([1, 2, 3, 4, 5, 10]) == pytest.approx(3.5)
    # sorted 1 2 | 3 4 5 7 | 8 100
    assert stats.interquartile_mean([8, 1, 100, 3, 2, 4, 5, 7]) == pytest.approx(4.75)
    assert stats.interquartile_mean([1, 2, 30]) == pytest.approx(11.0)  # n < 4: mean
    with pytest.raises(ValueError, match="values"):
        stats.interquartile_mean([])
    with pytest.raises(ValueError, match="values"):
        stats.interquartile_mean([1.0, float("nan")])


def test_bootstrap_intervals_contain_the_estimates_and_are_seeded():
    values = np.random.default_rng(3).normal(10.0, 2.0, size=10)
    intervals = stats.bootstrap_intervals(values, reps=5000, seed=1)
    assert intervals["mean"][0] < values.mean() < intervals["mean"][1]
    iqm = stats.interquartile_mean(values)
    assert intervals["iqm"][0] < iqm < intervals["iqm"][1]
    assert intervals == stats.bootstrap_intervals(values, reps=5000, seed=1)
    # rliable's numbers for [1, 2, 3, 4, 5, 10] (2000 resamples): mean
    # [2.17, 6.67], IQM [1.75, 7.0]; ours agree within resampling noise.
    known = stats.bootstrap_intervals([1, 2, 3, 4, 5, 10], reps=20000)
    assert known["mean"][0] == pytest.approx(2.17, abs=0.2)
    assert known["mean"][1] == pytest.approx(6.67, abs=0.3)
    assert known["iqm"][0] == pytest.approx(1.75, abs=0.3)
    assert known["iqm"][1] == pytest.approx(7.0, abs=0.5)
    with pytest.raises(ValueError, match="reps"):
        stats.bootstrap_intervals(values, reps=10)


def test_seed_statistics():
    result = stats.seed_statistics([400.0, 410.0, 420.0, 430.0, 900.0])
    assert result.n == 5 and result.mean == pytest.approx(512.0)
    assert result.iqm == pytest.approx(420.0)  # one diverged seed barely moves it
    assert result.mean_ci[0] <= result.mean <= result.mean_ci[1]
    assert result.iqm_ci[0] <= result.iqm <= result.iqm_ci[1]
    flat = result.as_dict()
    assert list(flat) == list(stats.SEED_STATISTICS)
    one = stats.seed_statistics([3.0])
    assert (one.mean, one.iqm, one.mean_ci, one.std) == (3.0, 3.0, None, None)
    assert one.as_dict()["iqm_ci_low"] is None
