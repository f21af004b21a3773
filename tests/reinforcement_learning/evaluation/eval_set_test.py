"""The evaluation set: seasons, dates, seeds, and the environments it builds."""

import datetime
import pathlib

import gin
import numpy as np
import pytest

from smart_control.environment import building_env
from smart_control.reinforcement_learning.evaluation import eval_set, metric_table
from smart_control.reinforcement_learning.training import environments

CONFIGS = pathlib.Path(__file__).resolve().parents[3] / "configs"


def test_default_set_is_three_one_week_episodes_per_season():
    episodes = eval_set.evaluation_set().episodes(seasonal=True)
    assert len(episodes) == 12
    assert [e.season for e in episodes] == [
        s for s in metric_table.SEASONS for _ in range(3)
    ]
    assert [e.index for e in episodes] == list(range(12))
    assert len({e.env_seed for e in episodes}) == 12
    for episode in episodes:
        start = datetime.date.fromisoformat(episode.start_date)
        # The whole week lies in the episode's season.
        for day in range(7):
            month = (start + datetime.timedelta(days=day)).month
            assert month in metric_table.SEASON_MONTHS[episode.season]
    for season in metric_table.SEASONS:
        dates = [e.start_date for e in episodes if e.season == season]
        assert len(set(dates)) == 3


def test_dates_and_seeds_come_from_the_seed():
    a = eval_set.evaluation_set(seed=5).episodes(True)
    assert a == eval_set.evaluation_set(seed=5).episodes(True)
    b = eval_set.evaluation_set(seed=6).episodes(True)
    assert [e.start_date for e in a] != [e.start_date for e in b]
    assert [e.env_seed for e in a] != [e.env_seed for e in b]
    # Episode i's environment seed does not depend on how many there are.
    more = eval_set.evaluation_set(seed=5, episodes_per_season=4).episodes(True)
    assert [e.env_seed for e in more[:3]] == [e.env_seed for e in a[:3]]


def test_explicit_dates_and_the_seasonless_set():
    episodes = eval_set.evaluation_set(dates=["2023-07-10", "2023-01-09"]).episodes(
        True
    )
    assert [(e.start_date, e.season) for e in episodes] == [
        ("2023-07-10", "summer"),
        ("2023-01-09", "winter"),
    ]
    plain = eval_set.evaluation_set(num_episodes=5).episodes(False)
    assert [(e.index, e.season, e.start_date) for e in plain] == [
        (i, None, None) for i in range(5)
    ]
    assert len(eval_set.evaluation_set(episodes_per_season=2).episodes(False)) == 8


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"episodes_per_season": 0}, "episodes_per_season"),
        ({"episode_days": 0}, "episode_days"),
        ({"seed": -1}, "seed"),
        ({"num_episodes": 0}, "num_episodes"),
        ({"dates": ["2023-13-01"]}, "dates"),
        ({"dates": []}, "dates"),
        ({"episode_days": 80, "episodes_per_season": 20}, "episode_days"),
    ],
)
def test_bad_knobs_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        eval_set.evaluation_set(**kwargs)


def test_seasons_follow_whether_the_factory_takes_a_start_date():
    default = eval_set.evaluation_set()
    assert default.is_seasonal(building_env.create_building_environment)
    assert not default.is_seasonal(environments.load_gym_environment)
    assert not eval_set.evaluation_set(seasonal=False).is_seasonal(
        building_env.create_building_environment
    )


def test_eval_overrides_a_random_start_training_config():
    # The environment layer starts training episodes on random dates.
    gin.parse_config_files_and_bindings(
        [str(CONFIGS / "environment" / "office_building.gin")],
        [],
        skip_unknown=False,
    )
    assert gin.query_parameter("BuildingEnvironment.random_start")
    evaluation = eval_set.evaluation_set(episode_days=1)
    for episode in evaluation.episodes(True)[::3]:
        env = evaluation.make_env(building_env.create_building_environment, episode)
        env.reset()
        env.step(np.zeros(2, np.float32))
        info = env.get_info()
        assert info.local_time.startswith(f"{episode.start_date}T00:00:00")
        assert env.steps_per_episode == 96


def test_gin_configures_the_set():
    gin.parse_config_files_and_bindings(
        [str(CONFIGS / "eval" / "eval_set.gin")],
        ["evaluation_set.episodes_per_season = 2", "evaluation_set.seed = 7"],
        skip_unknown=False,
    )
    configured = eval_set.evaluation_set()
    assert (configured.episodes_per_season, configured.seed) == (2, 7)
    assert configured.episode_days == 7
