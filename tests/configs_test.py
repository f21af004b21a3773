"""Every shipped gin file parses, strictly, with each binary that uses it.

A binary parses its files with `gin_configs.parse_gin` (the files' `import` lines
register what they bind) and then builds its stage's configuration; these
tests do the same in-process, so an unknown name, a missing include or a
required setting left unbound in a shipped file fails here, not in a user's
run.
"""

import glob
import os

import gin
import pytest

from launchers import experiment
from smart_control.reinforcement_learning.distributed import topology
from smart_control.reinforcement_learning.scripts import populate_starter_buffer
from smart_control.reinforcement_learning.utils import gin_configs

CONFIGS = gin_configs.CONFIGS_DIR


def _shipped(pattern):
    return sorted(
        os.path.relpath(p, CONFIGS) for p in glob.glob(os.path.join(CONFIGS, pattern))
    )


def test_configs_ship_inside_the_package_and_the_checkout_links_them():
    assert os.path.isdir(CONFIGS)
    assert CONFIGS.endswith(os.path.join("smart_control", "configs"))
    top = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs"
    )
    assert os.path.realpath(top) == os.path.realpath(CONFIGS)


@pytest.mark.parametrize("path", _shipped("*/*.gin"))
def test_every_shipped_file_parses_strictly(path):
    if path.startswith("environment/weather_"):
        # Weather files need the environment they replace the weather of.
        gin_configs.parse_gin(["environment/office_building.gin", path], [])
    else:
        gin_configs.parse_gin([path], [])


@pytest.mark.parametrize("path", _shipped("experiments/*.gin"))
def test_experiments_plan_for_every_stage(path):
    """What run_experiment does before starting any stage, then each stage's config."""
    from smart_control.reinforcement_learning.training.config import TrainConfig

    plan = experiment.plan([path], [])
    assert plan.populate_key and plan.seed == 0 and plan.num_collectors >= 1
    train = TrainConfig()  # train stage, embedded and distributed
    with gin.config_scope(topology.SCOPE):
        assert TrainConfig() == train
    assert gin.query_parameter("evaluate.env_factory") is not None  # eval stage
    assert train.env_factory is not None
    assert gin.query_parameter("comparison_baseline.compare_with_schedule")


@pytest.mark.parametrize(
    "files, agent",
    [
        (["train/pendulum_sac.gin"], "create_sac_agent"),
        (["train/pendulum_sac.gin", "agents/td3.gin"], "create_td3_agent"),
        (["train/pendulum_sac.gin", "agents/ddpg.gin"], "create_ddpg_agent"),
        (["train/building_sac.gin"], "create_sac_agent"),
        (["experiments/quickstart.gin", "agents/td3.gin"], "create_td3_agent"),
    ],
)
def test_train_files_build_a_train_config_with_their_agent(files, agent):
    from smart_control.reinforcement_learning.training.config import TrainConfig

    gin_configs.parse_gin(files, [])
    config = TrainConfig()
    assert config.agent_factory.__name__ == agent
    assert gin.query_parameter("ReplayBufferManager.capacity") >= 100_000


def test_populate_files_and_the_populate_flags_parse():
    from smart_control.reinforcement_learning.populate import starter_buffer

    flags_as_bindings = [
        f"{name} = 2" for name in populate_starter_buffer._FLAG_TO_GIN.values()
    ]
    for files in (
        [populate_starter_buffer.DEFAULT_GIN_FILE],
        [populate_starter_buffer.DEFAULT_GIN_FILE, "populate/random_policy.gin"],
    ):
        gin.clear_config()
        gin_configs.parse_gin(files, flags_as_bindings)
        with gin.config_scope(populate_starter_buffer.SCOPE):
            assert (
                starter_buffer.populate_starter_buffer("/nonexistent", dry_run=True)
                is None
            )
        operative = gin.operative_config_str()
        assert "populate/ReplayBufferManager.capacity = 2" in operative
        assert "populate/populate_starter_buffer.num_runs = 2" in operative


def test_reverb_server_file_builds_the_table_config():
    from smart_control.reinforcement_learning.training.config import TrainConfig

    gin_configs.parse_gin(["reverb_server/building.gin"], [])
    with gin.config_scope(topology.SCOPE):
        assert TrainConfig().env_factory is not None


def test_experiments_parse_from_a_run_directory(tmp_path, monkeypatch):
    """A run directory holds train/ and logs/: gin must not take them for the
    packages of 'train/...' includes (it did, and failed in a Slurm step
    whose working directory is the run directory)."""
    for name in ("train", "logs", "eval", "experiments", "environment"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    plan = experiment.plan(["experiments/quickstart.gin"], [])
    assert plan.populate_key
