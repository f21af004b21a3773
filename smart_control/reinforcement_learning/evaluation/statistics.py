"""Means and 95% confidence intervals, across episodes and across seeds.

Across the episodes of one evaluation (a fixed set, few episodes per season)
the interval is Student's t. When the episodes are stratified by season, the
overall interval uses the stratified standard error with Welch-Satterthwaite
degrees of freedom: the seasons are fixed by design, so the large difference
between winter and summer costs is not sampling noise and must not widen the
interval.

Across the seeds of several runs (the final score of each run), results are
reported the way rliable (Agarwal et al. 2021, "Deep RL at the edge of the
statistical precipice") does: the mean and the interquartile mean (IQM, the
mean of the middle 50%, robust to one diverged seed), each with a percentile
bootstrap 95% interval over runs. rliable itself is not a dependency (its
bootstrap goes through `arch`, 30 s per interval at its default 50,000
resamples, and `arch` 7.2 does not import with pandas 3): these few vectorised
numpy functions reproduce its point estimates exactly (`scipy.stats.trim_mean`
with 25% cut) and its percentile intervals up to resampling noise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

CONFIDENCE = 0.95


# ------------------------------------------------------------ Student's t


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""

    def nonzero(value: float) -> float:
        return value if abs(value) > 1e-300 else 1e-300

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 / nonzero(1.0 - qab * x / qap)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 / nonzero(1.0 + aa * d)
            c = nonzero(1.0 + aa / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_quantile(probability: float, df: float) -> float:
    """Quantile of Student's t with `df` (real, > 0) degrees of freedom.

    Raises:
      ValueError: naming `probability` or `df` when out of range.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability={probability} must be in (0, 1)")
    if not df > 0:
        raise ValueError(f"df={df} must be > 0")
    if probability == 0.5:
        return 0.0
    upper = max(probability, 1.0 - probability)
    tail = 2.0 * (1.0 - upper)  # P(|T| > t) at the wanted t

    def two_sided_tail(t: float) -> float:
        return _betainc(df / 2.0, 0.5, df / (df + t * t))

    low, high = 0.0, 1.0
    while two_sided_tail(high) > tail:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if two_sided_tail(mid) > tail:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    t = 0.5 * (low + high)
    return t if probability > 0.5 else -t


# ------------------------------------------------------ across episodes


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval (None bounds: fewer than 2 values)."""

    mean: float
    ci_low: Optional[float]
    ci_high: Optional[float]
    n: int

    def as_dict(self) -> Dict[str, Optional[float]]:
        return {
            "mean": self.mean,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
        }

    @property
    def half_width(self) -> Optional[float]:
        if self.ci_low is None or self.ci_high is None:
            return None
        return 0.5 * (self.ci_high - self.ci_low)


def _as_values(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} has non-finite values: {array.tolist()}")
    return array


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student's t interval, `mean ± t * s / sqrt(n)`.

    Raises:
      ValueError: naming `values` when empty or not finite.
    """
    array = _as_values(values, "values")
    n = array.size
    mean = float(array.mean())
    if n < 2:
        return Interval(mean, None, None, n)
    half = (
        t_quantile(0.5 + confidence / 2.0, n - 1)
        * float(array.std(ddof=1))
        / math.sqrt(n)
    )
    return Interval(mean, mean - half, mean + half, n)


def stratified_mean_interval(
    values: Sequence[float],
    strata: Sequence[str],
    confidence: float = CONFIDENCE,
) -> Interval:
    """Mean of all values, with the interval of a stratified sample.

    With strata weights n_h / n (so the estimate is the plain mean), the
    variance is sum_h (n_h / n)^2 s_h^2 / n_h and the degrees of freedom are
    Welch-Satterthwaite's. If a stratum has a single value its variance is
    unknown and the plain t interval over all values is returned instead
    (wider, never too narrow).

    Raises:
      ValueError: naming `values` / `strata` on empty or mismatched input.
    """
    array = _as_values(values, "values")
    labels = list(strata)
    if len(labels) != array.size:
        raise ValueError(f"strata has {len(labels)} labels for {array.size} values")
    groups = {}
    for value, label in zip(array, labels):
        groups.setdefault(label, []).append(value)
    if len(groups) < 2 or any(len(g) < 2 for g in groups.values()):
        return mean_interval(array, confidence)
    n = array.size
    terms = []
    for group in groups.values():
        g = np.asarray(group)
        weight = g.size / n
        terms.append((weight**2 * g.var(ddof=1) / g.size, g.size - 1))
    variance = sum(term for term, _ in terms)
    mean = float(array.mean())
    if variance == 0.0:
        return Interval(mean, mean, mean, n)
    df = variance**2 / sum(term**2 / dof for term, dof in terms if term > 0)
    half = t_quantile(0.5 + confidence / 2.0, df) * math.sqrt(variance)
    return Interval(mean, mean - half, mean + half, n)


# --------------------------------------------------------- across seeds


def interquartile_mean(values: Sequence[float]) -> float:
    """Mean of the middle 50% (`scipy.stats.trim_mean(values, 0.25)`, rliable's IQM).

    `int(0.25 * n)` values are cut at each end, so for n < 4 it is the mean.

    Raises:
      ValueError: naming `values` when empty or not finite.
    """
    array = np.sort(_as_values(values, "values"))
    cut = int(0.25 * array.size)
    return float(array[cut : array.size - cut].mean())


def _iqm_rows(samples: np.ndarray) -> np.ndarray:
    ordered = np.sort(samples, axis=1)
    cut = int(0.25 * ordered.shape[1])
    return ordered[:, cut : ordered.shape[1] - cut].mean(axis=1)


def bootstrap_intervals(
    values: Sequence[float],
    reps: int = 10_000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Dict[str, Tuple[float, float]]:
    """Percentile bootstrap intervals of the mean and the IQM over runs.

    Resamples the runs with replacement `reps` times (rliable's stratified
    bootstrap with one task), seeded so the table is reproducible.

    Returns:
      {"mean": (low, high), "iqm": (low, high)}.

    Raises:
      ValueError: naming `values` or `reps`.
    """
    array = _as_values(values, "values")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 100:
        raise ValueError(f"reps={reps!r} must be an integer >= 100")
    rng = np.random.default_rng(seed)
    samples = array[rng.integers(0, array.size, size=(reps, array.size))]
    tails = [50.0 * (1.0 - confidence), 100.0 - 50.0 * (1.0 - confidence)]
    result = {}
    for name, statistic in (
        ("mean", samples.mean(axis=1)),
        ("iqm", _iqm_rows(samples)),
    ):
        low, high = np.percentile(statistic, tails)
        result[name] = (float(low), float(high))
    return result


@dataclasses.dataclass(frozen=True)
class SeedStatistics:
    """One metric across the runs of several seeds."""

    n: int
    mean: float
    iqm: float
    std: Optional[float]
    mean_ci: Optional[Tuple[float, float]]
    iqm_ci: Optional[Tuple[float, float]]
    values: Tuple[float, ...]

    def as_dict(self) -> Dict[str, Optional[float]]:
        """Flat: n, mean, iqm, std, mean_ci_low/high, iqm_ci_low/high."""
        mean_ci = self.mean_ci or (None, None)
        iqm_ci = self.iqm_ci or (None, None)
        return {
            "n": self.n,
            "mean": self.mean,
            "iqm": self.iqm,
            "std": self.std,
            "mean_ci_low": mean_ci[0],
            "mean_ci_high": mean_ci[1],
            "iqm_ci_low": iqm_ci[0],
            "iqm_ci_high": iqm_ci[1],
        }


SEED_STATISTICS = (
    "n",
    "mean",
    "iqm",
    "std",
    "mean_ci_low",
    "mean_ci_high",
    "iqm_ci_low",
    "iqm_ci_high",
)


def seed_statistics(
    values: Sequence[float], reps: int = 10_000, seed: int = 0
) -> SeedStatistics:
    """Mean, IQM and bootstrap 95% intervals of per-seed values.

    Args:
      values: One value per run (e.g. each seed's final mean eval cost).
      reps: Bootstrap resamples.
      seed: Seed of the resampling.

    Returns:
      The statistics; intervals and std are None for a single run (one run
      says nothing about the spread).
    """
    array = _as_values(values, "values")
    if array.size < 2:
        value = float(array[0])
        return SeedStatistics(1, value, value, None, None, None, (value,))
    intervals = bootstrap_intervals(array, reps=reps, seed=seed)
    return SeedStatistics(
        n=int(array.size),
        mean=float(array.mean()),
        iqm=interquartile_mean(array),
        std=float(array.std(ddof=1)),
        mean_ci=intervals["mean"],
        iqm_ci=intervals["iqm"],
        values=tuple(float(v) for v in array),
    )
