"""The fixed, seeded set of evaluation episodes that every evaluation uses.

Building environments (an env factory that accepts `start_date`): by default
12 one-week episodes, three per season. Each season's possible start dates
(days whose whole episode lies in the season's months) are cut into
`episodes_per_season` consecutive blocks and one date is drawn in each block
from `seed`, so the episodes spread over the season (early, mid, late
winter). Episodes start at local midnight of their date (the environment's
convention). Explicit `dates` replace the drawing; their season is that of
their month.

Other environments (e.g. Gym Pendulum from `load_gym_environment`) have no
calendar: `num_episodes` seeded episodes, return and length only.

Episode `i` runs in an environment built with `env_seed = SeedSequence([seed,
i])`, and for the building with `start_date`, `random_start=False` and
`episode_days` passed explicitly (they win over gin bindings, so a training
config with `random_start.gin` still evaluates on these dates). The policy
and the baseline therefore see the same weather, occupancy and dates.

Gin (one binding configures train's periodic eval and the eval binary):

    evaluation_set.episodes_per_season = 3
    evaluation_set.episode_days = 7
    evaluation_set.seed = 1000
    evaluation_set.dates = None          # or ['2023-01-09', '2023-07-10']
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import gin
import numpy as np
from tf_agents.environments import py_environment

from smart_control.reinforcement_learning.evaluation import metric_table

EnvFactory = Callable[..., py_environment.PyEnvironment]

_MONTH_TO_SEASON = {
    month: season
    for season, months in metric_table.SEASON_MONTHS.items()
    for month in months
}


def season_of(day: datetime.date) -> str:
    """'winter', 'spring', 'summer' or 'autumn' (northern meteorological)."""
    return _MONTH_TO_SEASON[day.month]


@dataclasses.dataclass(frozen=True)
class EvalEpisode:
    """One episode of the evaluation set."""

    index: int
    env_seed: int
    season: Optional[str] = None
    start_date: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def episode_seed(seed: int, index: int) -> int:
    """Environment seed of episode `index`, independent of the episode count."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def takes_keyword(factory: Callable[..., Any], name: str) -> bool:
    """Whether `factory` accepts keyword `name` (directly or via **kwargs)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class EvaluationSet:
    """Which episodes an evaluation runs; see the module docstring.

    Build it with the gin-configurable `evaluation_set()`.
    """

    episodes_per_season: int = 3
    episode_days: int = 7
    seed: int = 1000
    dates: Optional[Tuple[str, ...]] = None
    year: int = 2023
    num_episodes: Optional[int] = None
    seasonal: Optional[bool] = None

    def __post_init__(self) -> None:
        _check_int("episodes_per_season", self.episodes_per_season, 1)
        _check_int("episode_days", self.episode_days, 1)
        _check_int("seed", self.seed, 0)
        _check_int("year", self.year, 1)
        if self.num_episodes is not None:
            _check_int("num_episodes", self.num_episodes, 1)
        if self.dates is not None:
            if not self.dates:
                raise ValueError("dates must be None or a non-empty list")
            for date in self.dates:
                _parse_date(date)
        self._season_starts()  # Fails now if no episode fits in a season.

    def is_seasonal(self, env_factory: EnvFactory) -> bool:
        """Seasons apply when set so, else when the factory takes `start_date`."""
        if self.seasonal is not None:
            return bool(self.seasonal)
        return takes_keyword(env_factory, "start_date")

    def episodes(self, seasonal: bool) -> List[EvalEpisode]:
        """The episodes, in order: seasons winter..autumn, dates ascending."""
        if not seasonal:
            count = self.num_episodes or 4 * self.episodes_per_season
            return [EvalEpisode(i, episode_seed(self.seed, i)) for i in range(count)]
        if self.dates is not None:
            days = [_parse_date(d) for d in self.dates]
        else:
            rng = np.random.default_rng(self.seed)
            days = []
            for starts in self._season_starts().values():
                blocks = np.array_split(
                    np.arange(len(starts)), self.episodes_per_season
                )
                days += [starts[int(rng.choice(block))] for block in blocks]
        return [
            EvalEpisode(i, episode_seed(self.seed, i), season_of(d), d.isoformat())
            for i, d in enumerate(days)
        ]

    def _season_starts(self) -> Dict[str, List[datetime.date]]:
        """Possible start dates per season: the whole episode in the season."""
        if self.dates is not None:
            return {}
        first = datetime.date(self.year, 1, 1)
        length = (datetime.date(self.year + 1, 1, 1) - first).days
        starts: Dict[str, List[datetime.date]] = {s: [] for s in metric_table.SEASONS}
        for offset in range(length):
            day = first + datetime.timedelta(days=offset)
            season = season_of(day)
            # A December episode running into January stays in winter.
            if all(
                season_of(day + datetime.timedelta(days=k)) == season
                for k in range(self.episode_days)
            ):
                starts[season].append(day)
        for season, days in starts.items():
            if len(days) < self.episodes_per_season:
                raise ValueError(
                    f"episode_days={self.episode_days} leaves {len(days)} start "
                    f"dates in {season}, fewer than episodes_per_season="
                    f"{self.episodes_per_season}; give explicit dates"
                )
        return starts

    def make_env(
        self, env_factory: EnvFactory, episode: EvalEpisode
    ) -> py_environment.PyEnvironment:
        """The environment of `episode` (seeded; dated for the building).

        Raises:
          ValueError: If the factory returns no unbatched PyEnvironment.
        """
        kwargs: Dict[str, Any] = {}
        if takes_keyword(env_factory, "seed"):
            kwargs["seed"] = episode.env_seed
        if episode.start_date is not None:
            kwargs.update(
                start_date=episode.start_date,
                random_start=False,
                episode_days=self.episode_days,
            )
        env = env_factory(**kwargs)
        if not isinstance(env, py_environment.PyEnvironment) or env.batched:
            raise ValueError(
                f"the evaluation env_factory returned {type(env).__name__}, not an "
                "unbatched PyEnvironment"
            )
        return env

    def describe(self, seasonal: bool) -> Dict[str, Any]:
        """The set as written into metrics.json (knobs and episodes)."""
        return {
            "seed": self.seed,
            "seasonal": seasonal,
            "episode_days": self.episode_days if seasonal else None,
            "episodes_per_season": (
                self.episodes_per_season if seasonal and self.dates is None else None
            ),
            "episodes": [e.as_dict() for e in self.episodes(seasonal)],
        }


def _parse_date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"dates: {text!r} is not a date 'YYYY-MM-DD'") from None


@gin.configurable
def evaluation_set(
    episodes_per_season: int = 3,
    episode_days: int = 7,
    seed: int = 1000,
    dates: Optional[Sequence[str]] = None,
    year: int = 2023,
    num_episodes: Optional[int] = None,
    seasonal: Optional[bool] = None,
) -> EvaluationSet:
    """The evaluation set, configured in gin.

    Args:
      episodes_per_season: Building episodes per season (4 seasons).
      episode_days: Days per building episode.
      seed: Draws the dates and seeds each episode's environment; kept
        apart from populate and train seeds (which start at 0).
      dates: Explicit start dates 'YYYY-MM-DD' instead of drawn ones.
      year: Year the dates are drawn in.
      num_episodes: Episodes of an environment without seasons (Gym); None
        for 4 * episodes_per_season.
      seasonal: Force (True) or forbid (False) dated seasonal episodes;
        None decides from whether the env factory accepts `start_date`.

    Raises:
      ValueError: naming the parameter that is out of range.
    """
    return EvaluationSet(
        episodes_per_season=episodes_per_season,
        episode_days=episode_days,
        seed=seed,
        dates=None if dates is None else tuple(str(d) for d in dates),
        year=year,
        num_episodes=num_episodes,
        seasonal=seasonal,
    )
