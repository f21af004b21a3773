"""The train loop in-process, on Pendulum and the building, at tiny sizes."""

import dataclasses
import functools
import json
import math
import os

import gin
import pytest
import tensorflow as tf
from tf_agents.environments import wrappers
from tf_agents.policies import policy_loader

# Importing the agent modules registers their factories with gin.
from smart_control.reinforcement_learning.agents import ddpg, sac, td3  # noqa: F401
from smart_control.reinforcement_learning.training import (
    environments,
    run_dir,
    train_eval,
)
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils import gin_configs
from tests.reinforcement_learning.training.summaries import scalars

PENDULUM = functools.partial(
    environments.load_gym_environment, "Pendulum-v1", max_episode_steps=50
)
TINY_AGENTS = """
ReplayBufferManager.capacity = 1000
evaluation_set.num_episodes = 2
create_sac_agent.actor_fc_layers = (16,)
create_sac_agent.critic_joint_fc_layers = (16,)
create_td3_agent.actor_fc_layers = (16,)
create_td3_agent.critic_joint_fc_layers = (16,)
create_ddpg_agent.actor_fc_layers = (16,)
create_ddpg_agent.critic_observation_fc_layers = None
create_ddpg_agent.critic_joint_fc_layers = (16,)
"""
TINY_CONFIG = dict(
    env_factory=PENDULUM,
    num_train_steps=150,
    batch_size=16,
    eval_interval=50,
    checkpoint_interval=50,
    policy_save_interval=50,
    summary_interval=50,
)


def tiny_run(**overrides):
    """train_eval's arguments for the tiny run, with TrainConfig overrides."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = {k: v for k, v in overrides.items() if k in fields}
    loop = {k: v for k, v in overrides.items() if k not in fields}
    return dict(
        config=TrainConfig(**{**TINY_CONFIG, **config}),
        initial_collect_steps=50,
        show_progress=False,
        **loop,
    )


def _parse_tiny_config():
    gin.parse_config(TINY_AGENTS)


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory):
    """One finished tiny SAC run on Pendulum (50-step episodes)."""
    gin.clear_config()
    _parse_tiny_config()
    root = str(tmp_path_factory.mktemp("pendulum") / "run")
    ready = []
    result = train_eval.train_eval(root, on_ready=lambda: ready.append(1), **tiny_run())
    gin.clear_config()
    return root, result, ready


@pytest.mark.slow
def test_run_counts_and_result(pendulum_run):
    root, result, ready = pendulum_run
    assert ready == [1]
    assert not result.already_done and result.resumed_from is None
    assert result.env_steps == 200
    assert result.initial_collect_steps == 50
    # One gradient step per collect step once the random steps are in.
    assert result.train_step == 150
    assert result.episodes == 4
    # One item (a transition) per observed step but each episode's first; the
    # observer also sees the boundary steps between episodes, here two (the
    # random phase ends on a LAST step, and so does the run).
    assert result.replay_buffer_frames == (50 - 1) + (150 + 2 - 3)
    assert result.train_steps_per_s > 0


@pytest.mark.slow
def test_run_commits_learner_and_buffer_checkpoints_and_writes_done(pendulum_run):
    root, result, _ = pendulum_run
    commit = run_dir.committed(root)
    assert (commit.train_step, commit.env_steps, commit.episodes) == (150, 200, 4)
    assert commit.replay_buffer_frames == result.replay_buffer_frames
    assert os.path.isfile(os.path.join(root, commit.replay_buffer_checkpoint, "DONE"))
    learner_checkpoints = tf.train.get_checkpoint_state(
        os.path.join(root, "train", "checkpoints")
    ).all_model_checkpoint_paths
    # Every checkpoint_interval train steps; the learner keeps as many
    # checkpoints as the buffer (3), each with its commit record.
    assert [os.path.basename(p) for p in learner_checkpoints] == [
        "ckpt-50",
        "ckpt-100",
        "ckpt-150",
    ]
    for step in (50, 100):
        older = run_dir.Commit(
            **{
                k: v
                for k, v in json.load(
                    open(run_dir.commit_record_path(root, step))
                ).items()
                if k != "format"
            }
        )
        assert older.env_steps == step + 50
        assert os.path.isfile(
            os.path.join(root, older.replay_buffer_checkpoint, "DONE")
        )
    done = run_dir.read_done(root)
    assert done["env_steps"] == 200 and done["train_step"] == 150
    assert done["last_eval"]["env_steps"] == 200


@pytest.mark.slow
def test_run_writes_policies_that_load(pendulum_run):
    root, _, _ = pendulum_run
    assert sorted(os.listdir(os.path.join(root, "policies"))) == [
        "checkpoints",
        "collect_policy",
        "greedy_policy",
    ]
    # Exports every 50 train steps.
    assert sorted(os.listdir(os.path.join(root, "policies", "checkpoints"))) == [
        "policy_checkpoint_0000000050",
        "policy_checkpoint_0000000100",
        "policy_checkpoint_0000000150",
    ]
    env = PENDULUM(seed=0)
    time_step = tf.nest.map_structure(
        lambda x: tf.expand_dims(tf.convert_to_tensor(x), 0), env.reset()
    )
    assert os.path.isfile(
        os.path.join(root, "policies", "collect_policy", "saved_model.pb")
    )
    # The SavedModel alone holds the final weights.
    policy = tf.saved_model.load(os.path.join(root, "policies", "greedy_policy"))
    assert policy.get_train_step().numpy() == 150
    assert policy.get_metadata()["env_step"].numpy() == 200
    action = policy.action(time_step, ()).action
    assert action.shape == (1, 1) and abs(float(action[0, 0])) <= 2.0
    # Older weights come from the checkpoints, TF-Agents' way.
    older = policy_loader.load(
        os.path.join(root, "policies", "greedy_policy"),
        os.path.join(root, "policies", "checkpoints", "policy_checkpoint_0000000050"),
    )
    assert older.get_train_step() == 50


@pytest.mark.slow
def test_run_writes_fed_summaries(pendulum_run):
    root, _, _ = pendulum_run
    train = scalars(os.path.join(root, "train"))
    for tag in (
        "Losses/critic_loss",
        "Losses/actor_loss",
        "Losses/alpha_loss",
        "Metrics/AverageReturn",
        "Metrics/AverageEpisodeLength",
        "Metrics/EnvironmentSteps",
        "Metrics/NumberOfEpisodes",
        "ReplayBuffer/Frames",
        "RunTime/env_steps_per_sec",
        "RunTime/train_steps_per_sec",
    ):
        assert tag in train, (tag, sorted(train))
        assert all(math.isfinite(v) for _, v in train[tag])
    assert max(v for _, v in train["ReplayBuffer/Frames"]) > 0
    assert max(v for _, v in train["RunTime/train_steps_per_sec"]) > 0
    assert min(v for _, v in train["Metrics/AverageReturn"]) < 0  # Episodes ended.
    assert {s for s, _ in train["Metrics/EnvironmentSteps"]} >= {50, 100, 150}
    evaluation = scalars(os.path.join(root, "eval"))
    # Before training (after the random steps), then every 50 train steps.
    assert [s for s, _ in evaluation["Eval/return"]] == [0, 50, 100, 150]
    assert [s for s, _ in evaluation["EvalByEnvSteps/return"]] == [
        50,
        100,
        150,
        200,
    ]
    assert all(v < 0 for _, v in evaluation["Eval/return"])
    # Pendulum has no seasons and no baseline.
    assert not any(tag.startswith("Eval_") for tag in evaluation)
    assert not os.path.exists(os.path.join(root, "eval", "baseline"))
    with open(os.path.join(root, "eval", "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert [r["env_steps"] for r in records] == [50, 100, 150, 200]
    assert [r["train_step"] for r in records] == [0, 50, 100, 150]
    assert records[-1]["metrics"]["length"] == 50.0
    assert records[-1]["columns"]["policy/return/n"] == 2  # episodes


@pytest.mark.slow
def test_finished_run_is_left_alone(pendulum_run):
    root, _, _ = pendulum_run
    done_path = os.path.join(root, run_dir.DONE_FILE)
    before = os.stat(done_path).st_mtime_ns
    result = train_eval.train_eval(root, **tiny_run())
    assert result.already_done and result.done["env_steps"] == 200
    assert os.stat(done_path).st_mtime_ns == before


class _InterruptAfter(wrappers.PyEnvironmentBaseWrapper):
    """Raises KeyboardInterrupt (as Ctrl-C does) at its `steps`-th step."""

    def __init__(self, env, steps):
        super().__init__(env)
        self._steps_left = steps

    def _step(self, action):
        self._steps_left -= 1
        if self._steps_left == 0:
            raise KeyboardInterrupt
        return self._env.step(action)


@pytest.mark.slow
def test_ctrl_c_checkpoints_before_exiting(tmp_path):
    _parse_tiny_config()
    root = str(tmp_path / "run")
    settings = tiny_run(
        num_train_steps=100,
        eval_interval=0,
        checkpoint_interval=0,
        policy_save_interval=0,
        env_factory=lambda seed: _InterruptAfter(PENDULUM(seed=seed), 110),
    )
    with pytest.raises(KeyboardInterrupt):
        train_eval.train_eval(root, **settings)
    commit = run_dir.committed(root)
    # 110 env.step calls, one of them the reset between two episodes, the
    # last one interrupted: 108 steps, 58 of them after the random ones.
    assert (commit.env_steps, commit.train_step) == (108, 58)
    assert commit.replay_buffer_frames > 0
    assert run_dir.read_done(root) is None
    assert not os.path.exists(os.path.join(root, "policies", "greedy_policy"))


@pytest.mark.slow
def test_shipped_building_config_trains_and_reports_energy_and_baseline(tmp_path):
    """configs/train/building_sac.gin at tiny sizes, with DDPG for variety."""
    gin_configs.parse_gin(
        ["train/building_sac.gin", "agents/ddpg.gin"],
        [
            # Day-long episodes of hourly steps: 24 steps.
            "BuildingEnvironment.episode_days = 1",
            "BuildingEnvironment.time_step_s = 3600",
            "create_ddpg_agent.actor_fc_layers = (16,)",
            "create_ddpg_agent.critic_observation_fc_layers = None",
            "create_ddpg_agent.critic_joint_fc_layers = (16,)",
            "ReplayBufferManager.capacity = 1000",
            "TrainConfig.num_train_steps = 72",
            "train_eval.initial_collect_steps = 24",
            "TrainConfig.batch_size = 16",
            "TrainConfig.eval_interval = 48",
            "evaluation_set.episodes_per_season = 1",
            "evaluation_set.episode_days = 1",
            "TrainConfig.checkpoint_interval = 0",
            "TrainConfig.policy_save_interval = 0",
            "TrainConfig.summary_interval = 24",
        ],
    )
    root = str(tmp_path / "run")
    result = train_eval.train_eval(root, show_progress=False)
    assert result.env_steps == 96 and result.episodes == 4
    assert result.train_step == 96 - 24
    assert os.path.isdir(os.path.join(root, "policies", "collect_policy"))
    record = result.last_eval
    for name in (
        "return",
        "electricity_kwh",
        "gas_kwh",
        "cost",
        "carbon_kg",
        "comfort_kh",
    ):
        assert name in record["metrics"] and name in record["baseline"]
    assert record["metrics"]["length"] == 24
    assert record["baseline"]["electricity_kwh"] > 0
    # The year-round set: one episode per season, reported per season too.
    for season in ("winter", "spring", "summer", "autumn"):
        assert f"policy/cost/{season}/mean" in record["columns"]
    train = scalars(os.path.join(root, "train"))
    assert max(v for _, v in train["Metrics/EpisodeEnergyKwh"]) > 0
    evaluation = scalars(os.path.join(root, "eval"))
    assert "Eval_winter/cost" in evaluation
    # The schedule runs once, on the same episodes; its numbers repeat.
    baseline = scalars(os.path.join(root, "eval", "baseline"))
    assert len(baseline["Eval/return"]) == 3  # train steps 0, 48, 72
    assert len(set(v for _, v in baseline["Eval/return"])) == 1


def test_bad_settings_fail_before_anything_is_written(tmp_path):
    _parse_tiny_config()
    root = tmp_path / "run"
    with pytest.raises(ValueError, match="TrainConfig.batch_size must be"):
        tiny_run(batch_size=0)
    with pytest.raises(ValueError, match="train_eval.initial_collect_steps must be"):
        train_eval.train_eval(str(root), **dict(tiny_run(), initial_collect_steps=-1))
    gin.clear_config()
    gin.parse_config("create_sac_agent.actor_fc_layers = (16,)")
    with pytest.raises(ValueError, match="ReplayBufferManager.capacity"):
        train_eval.train_eval(str(root), **tiny_run())
    assert not root.exists()


def test_a_rate_limiter_that_can_block_is_refused(tmp_path):
    _parse_tiny_config()
    gin.parse_config(
        "ReplayBufferManager.rate_limiter_factory = @sample_to_insert_ratio_rate_limiter"
    )
    with pytest.raises(ValueError, match="never blocks inserts"):
        train_eval.train_eval(str(tmp_path / "run"), **tiny_run())
    assert not (tmp_path / "run" / "train").exists()
