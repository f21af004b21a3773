"""launchers/experiment.plan in-process: the populate key and what else it derives.

The populate key names a starter buffer that points of a sweep share: it must
change with everything the populate stage uses (the building, the populate
settings, the seed) and with nothing it does not (training settings).
"""

import gin
import pytest

from launchers import experiment
from smart_control.reinforcement_learning.utils import binary

EXPERIMENT = ["experiments/quickstart.gin"]


@pytest.fixture(scope="module")
def base_key():
    gin.clear_config()
    return experiment.plan(EXPERIMENT, []).populate_key


def test_the_same_experiment_has_the_same_key(base_key):
    again = experiment.plan(EXPERIMENT, [])
    assert again.populate_key == base_key
    assert len(base_key) == 16 and int(base_key, 16) >= 0
    # What the key hashes: the populate stage's operative config, in its scope,
    # with the starter buffer's capacity and not the training buffer's.
    config = again.populate_config
    assert "populate/populate_starter_buffer.num_runs = 3" in config
    assert "populate/ReplayBufferManager.capacity = 50000" in config
    assert "100000" not in config and "create_sac_agent" not in config


@pytest.mark.parametrize(
    "binding",
    [
        # The training buffer: the starter buffer has its own capacity
        # (populate/ReplayBufferManager.capacity).
        "ReplayBufferManager.capacity = 1234",
        "create_sac_agent.actor_learning_rate = 1e-5",
        "TrainConfig.num_train_steps = 10",
        "evaluation_set.episodes_per_season = 1",
        "DistributedTopology.num_collectors = 3",
        "LocalExecutor.max_parallel = 5",
    ],
)
def test_settings_the_populate_stage_does_not_use_keep_the_key(base_key, binding):
    assert experiment.plan(EXPERIMENT, [binding]).populate_key == base_key


@pytest.mark.parametrize(
    "binding",
    [
        "BuildingEnvironment.time_step_s = 1800",
        "BuildingEnvironment.episode_days = 2",
        "populate_starter_buffer.num_runs = 2",
        "populate_starter_buffer.steps_per_run = 96",
        "populate/ReplayBufferManager.capacity = 5000",
        "SEED = 1",
    ],
)
def test_settings_of_the_populate_stage_change_the_key(base_key, binding):
    assert experiment.plan(EXPERIMENT, [binding]).populate_key != base_key


def test_keys_of_two_changes_differ_from_each_other(base_key):
    keys = {
        experiment.plan(EXPERIMENT, [binding]).populate_key
        for binding in (
            "SEED = 1",
            "SEED = 2",
            "BuildingEnvironment.time_step_s = 1800",
        )
    }
    assert len(keys) == 3 and base_key not in keys


def test_plan_reads_the_seed_and_the_topology():
    plan = experiment.plan(
        EXPERIMENT, ["SEED = 7", "DistributedTopology.num_collectors = 3"]
    )
    assert plan.seed == 7
    assert plan.num_collectors == 3
    assert "SEED = 7" in plan.config


def test_launcher_bindings_are_kept_apart_from_the_stages():
    stage = "TrainConfig.num_train_steps = 10"
    launcher = "LocalExecutor.max_parallel = 5"
    plan = experiment.plan(EXPERIMENT, [stage, launcher])
    assert plan.bindings == [stage]
    assert plan.launcher_bindings == [launcher]
    assert plan.gin_files == EXPERIMENT
    # Parsed all the same: the launcher's executor reads it from gin.
    assert gin.query_parameter("LocalExecutor.max_parallel") == 5


def test_an_experiment_without_a_populate_stage_has_no_key():
    plan = experiment.plan(["train/building_sac.gin"], [])
    assert plan.populate_key is None and plan.populate_config == ""
    assert plan.seed is None  # train/building_sac.gin alone defines no SEED


@pytest.mark.parametrize(
    "binding, expected",
    [
        (
            "ReplayBufferManager.capacty = 5",
            "gin: Configurable 'ReplayBufferManager' doesn't have a parameter named "
            "'capacty'.",
        ),
        (
            "populate/NoSuchThing.param = 1",
            "gin: No configurable matching 'NoSuchThing'.",
        ),
        (
            "populate_starter_buffer.num_runs = 0",
            "populate stage: num_runs must be an integer >= 1, got 0",
        ),
    ],
)
def test_a_mistake_is_one_line(binding, expected):
    with pytest.raises(binary.UserError) as error:
        experiment.plan(EXPERIMENT, [binding])
    assert str(error.value) == expected


def test_a_bad_topology_is_a_user_error():
    with pytest.raises(binary.UserError) as error:
        experiment.plan(EXPERIMENT, ["DistributedTopology.num_collectors = 0"])
    # binary.run prints the first line only (gin adds the call's context).
    assert str(error.value).splitlines()[0] == (
        "DistributedTopology.num_collectors must be an integer >= 1, got 0"
    )
