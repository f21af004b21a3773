"""Observers and the progress line."""

import io
import types

import numpy as np
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from smart_control.reinforcement_learning.training import metrics, progress


def _trajectory(step_type, next_step_type):
    return trajectory.Trajectory(
        step_type=np.int32(step_type),
        observation=np.zeros(1, np.float32),
        action=np.zeros(1, np.float32),
        policy_info=(),
        next_step_type=np.int32(next_step_type),
        reward=np.float32(1.0),
        discount=np.float32(1.0),
    )


FIRST_MID = _trajectory(ts.StepType.FIRST, ts.StepType.MID)
MID_MID = _trajectory(ts.StepType.MID, ts.StepType.MID)
MID_LAST = _trajectory(ts.StepType.MID, ts.StepType.LAST)
LAST_FIRST = _trajectory(ts.StepType.LAST, ts.StepType.FIRST)


class _InfoEnv:
    """Reports the building's info fields; each step uses 1 kWh more."""

    def __init__(self):
        self.step = 0

    def get_info(self):
        self.step += 1
        return types.SimpleNamespace(
            electricity_kwh=float(self.step),
            gas_kwh=1.0,
            cost=0.5,
            carbon_kg=0.25,
            comfort_violation_degree_hours=0.0,
        )


class _GymLikeEnv:
    def get_info(self):
        return {}


class _NoInfoEnv:
    def get_info(self):
        raise NotImplementedError


def _episode(observer):
    for step in (FIRST_MID, MID_MID, MID_LAST, LAST_FIRST):
        observer(step)


def test_episode_info_totals_sum_each_episode():
    env = _InfoEnv()
    totals = metrics.EpisodeInfoTotals(env, buffer_size=2)
    assert totals.results() == {}
    _episode(totals)  # electricity 1 + 2 + 3; the boundary step is not read.
    assert env.step == 3
    assert totals.supported
    results = totals.results()
    assert results["EpisodeEnergyKwh"] == 6.0 + 3.0
    assert results["EpisodeCost"] == 1.5
    assert results["EpisodeCarbonKg"] == 0.75
    assert results["EpisodeComfortViolationDegreeHours"] == 0.0
    _episode(totals)  # electricity 4 + 5 + 6
    assert totals.results()["EpisodeEnergyKwh"] == ((6 + 3) + (15 + 3)) / 2


def test_episode_info_totals_report_nothing_without_info():
    for env in (_GymLikeEnv(), _NoInfoEnv()):
        totals = metrics.EpisodeInfoTotals(env)
        _episode(totals)
        assert totals.supported is False
        assert totals.results() == {}


def test_run_counters_skip_boundary_steps():
    counters = metrics.RunCounters(env_steps=10, episodes=2)
    _episode(counters)
    assert counters.env_steps == 13 and counters.episodes == 3


def test_progress_lines_when_not_a_terminal():
    stream = io.StringIO()
    line = progress.Progress(1000, stream=stream, log_interval_s=0.0)
    line.start(0)
    line.last_eval = "eval return -150.0 @ 500"
    line.update(500, 700)
    line.message("note")
    output = stream.getvalue().splitlines()
    assert output[0].startswith("train 500/1,000 (50%) | env 700 | ")
    assert "eval return -150.0 @ 500" in output[0]
    assert output[1] == "note"


def test_format_duration():
    assert progress.format_duration(12.3) == "12s"
    assert progress.format_duration(754) == "12m34s"
    assert progress.format_duration(7300) == "2h01m"
