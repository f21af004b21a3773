"""Buffers shared by the export tests (populated once per session)."""

import pytest

from tests.reinforcement_learning.datasets import populated

BUILDING_RUNS = 2
BUILDING_STEPS = 40
EPISODIC_RUNS = 2
EPISODIC_STEPS = 20  # Episodes of 7 steps: 7 + 7 + 6 steps per run.


@pytest.fixture(scope="session")
def building_buffer(tmp_path_factory):
    path = tmp_path_factory.mktemp("building") / "buffer"
    state = populated.populate(
        path, episodic=False, num_runs=BUILDING_RUNS, steps_per_run=BUILDING_STEPS
    )
    return path, state


@pytest.fixture(scope="session")
def episodic_buffer(tmp_path_factory):
    path = tmp_path_factory.mktemp("episodic") / "buffer"
    state = populated.populate(
        path, episodic=True, num_runs=EPISODIC_RUNS, steps_per_run=EPISODIC_STEPS
    )
    return path, state
