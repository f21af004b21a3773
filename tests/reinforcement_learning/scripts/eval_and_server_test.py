"""eval.py and reverb_server.py as real processes."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from tf_agents.policies import policy_saver, random_tf_policy
from tf_agents.specs import tensor_spec

from smart_control.environment.building_env import create_building_environment
from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)
from smart_control.reinforcement_learning.utils.specs import collect_data_spec

ONE_DAY = "--gin_bindings=BuildingEnvironment.episode_days = 1"


def _env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _run(args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# One one-day episode per season: the report's shape at a fraction of the time.
SMALL_SET = ["--episodes_per_season=1", "--episode_days=1"]
METRIC_KEYS = (
    "return",
    "electricity_kwh",
    "gas_kwh",
    "cost",
    "carbon_kg",
    "comfort_kh",
)
SEASONS = ("winter", "spring", "summer", "autumn")


def _save_random_policy(path, env):
    policy = random_tf_policy.RandomTFPolicy(
        tensor_spec.from_spec(env.time_step_spec()),
        tensor_spec.from_spec(env.action_spec()),
    )
    policy_saver.PolicySaver(policy).save(str(path))


@pytest.mark.slow
def test_eval_of_a_saved_policy_against_the_schedule(tmp_path):
    _save_random_policy(tmp_path / "policy", create_building_environment(seed=0))
    done = _run(
        [
            "smart_control.reinforcement_learning.scripts.eval",
            f"--policy={tmp_path / 'policy'}",
            f"--root_dir={tmp_path / 'report'}",
            *SMALL_SET,
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report["baseline"] == "schedule"
    assert set(report["results"]) == {"policy", "baseline"}
    episodes = report["evaluation_set"]["episodes"]
    assert [e["season"] for e in episodes] == list(SEASONS)
    for result in report["results"].values():
        assert [e["start_date"] for e in result["episodes"]] == [
            e["start_date"] for e in episodes
        ]
        assert all(e["length"] == 96 for e in result["episodes"])
        assert set(result["seasons"]) == set(SEASONS)
        for key in METRIC_KEYS:
            assert {"mean", "ci_low", "ci_high", "n"} <= set(result["overall"][key])
    # Random actions violate comfort far more than the schedule does.
    means = {role: r["mean"] for role, r in report["results"].items()}
    assert means["policy"]["comfort_kh"] > means["baseline"]["comfort_kh"]
    assert report["difference"]["overall"]["cost"]["mean"] == pytest.approx(
        means["policy"]["cost"] - means["baseline"]["cost"]
    )
    plots = set(os.listdir(tmp_path / "report" / "plots"))
    assert {"seasons.png", "cumulative_reward.png", "episode_winter.png"} <= plots
    operative = (tmp_path / "report" / "operative_config.gin").read_text()
    assert "evaluation_set.episodes_per_season = 1" in operative
    # The per-season table: one block per metric, policy vs schedule.
    out = done.stdout
    assert "against schedule on 4 episodes (1 per season, 1 day each" in out
    assert "cost ($, lower is better)" in out
    for season in ("all year", *SEASONS):
        assert f"  {season} " in out
    assert "metrics.json" in out


@pytest.mark.slow
def test_eval_of_the_schedule_alone(tmp_path):
    done = _run(
        [
            "smart_control.reinforcement_learning.scripts.eval",
            f"--root_dir={tmp_path / 'report'}",
            "--seed=7",
            *SMALL_SET,
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report["policy"] == "schedule" and report["baseline"] is None
    assert set(report["results"]) == {"policy"} and "difference" not in report
    assert report["evaluation_set"]["seed"] == 7
    assert "Evaluated schedule on 4 episodes" in done.stdout


@pytest.mark.slow
def test_eval_errors_are_one_line(tmp_path):
    missing = _run(
        [
            "smart_control.reinforcement_learning.scripts.eval",
            f"--policy={tmp_path / 'nothing'}",
            f"--root_dir={tmp_path / 'r'}",
        ]
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"error: policy not found: {tmp_path / 'nothing'} (give a SavedModel directory or 'schedule')"
    ]
    typo = _run(
        [
            "smart_control.reinforcement_learning.scripts.eval",
            f"--root_dir={tmp_path / 'r'}",
            "--gin_bindings=evaluation_set.episodes_per_seasn = 2",
        ]
    )
    assert typo.returncode == 1 and typo.stderr.strip().startswith("error: gin: ")
    assert len(typo.stderr.strip().splitlines()) == 1


def _start_server(buffer_dir):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smart_control.reinforcement_learning.scripts.reverb_server",
            f"--root_dir={buffer_dir}",
            "--checkpoint_interval_s=0",
            ONE_DAY,
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = re.search(r"\(local (localhost:\d+)\), (\d+) frames restored", line)
    assert match, line + process.stderr.read()[-3000:]
    return process, match.group(1), int(match.group(2))


def _stop(process):
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return out


@pytest.mark.slow
def test_reverb_server_checkpoints_on_sigterm_and_restores_on_restart(tmp_path):
    buffer_dir = tmp_path / "buffer"
    process, address, restored = _start_server(buffer_dir)
    assert restored == 0
    env = create_building_environment(seed=0)
    spec = collect_data_spec(env)
    with ReplayBufferManager(spec, 1000, None, server_address=address) as remote:
        _, observer = remote.create_replay_buffer()
        from tf_agents.drivers import py_driver

        from smart_control.reinforcement_learning.policies.schedule_policy import (
            create_schedule_policy,
        )

        policy = create_schedule_policy(env.time_step_spec(), env.action_spec())
        py_driver.PyDriver(env, policy, [observer], max_steps=30).run(env.reset())
        remote.flush()
        assert remote.num_frames() == 29
    out = _stop(process)
    assert "Stopped: 29 frames" in out

    process, address, restored = _start_server(buffer_dir)
    assert restored == 29
    with ReplayBufferManager(spec, 1000, None, server_address=address) as remote:
        remote.create_replay_buffer()
        assert remote.num_frames() == 29
    _stop(process)
    assert not (buffer_dir / "server.json").exists()
    with ReplayBufferManager(spec, 1000, buffer_dir) as local:
        local.load_replay_buffer()
        assert local.num_frames() == 29
