"""train_from_server in-process, learning from a real replay server.

One run (module fixture) is checked by every test: the trainer starts in a
thread on an empty table whose rate limiter wants 100 items, blocks and says
so, then a collector in the main thread writes 300 steps and training
finishes its 20 steps.
"""

import logging
import os
import threading
import time
import types

import gin
import pytest
import tensorflow as tf

from smart_control.reinforcement_learning.distributed import (
    collector,
    trainer,
    variables,
)
from smart_control.reinforcement_learning.training import run_dir
from tests.reinforcement_learning.distributed import distributed_testing as dt

MIN_SIZE = 100
TINY_CONFIG = dict(
    num_train_steps=20,
    batch_size=8,
    eval_interval=0,
    checkpoint_interval=0,
    policy_save_interval=0,
    summary_interval=0,
)
TINY = dict(
    config=dt.train_config(**TINY_CONFIG),
    train_steps_per_run=10,
    push_interval=10,
    show_progress=False,
)
STALL_PREFIX = "trainer: no train step for"


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def stalls(self):
        return [line for line in self.lines if line.startswith(STALL_PREFIX)]


def _wait_for(condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    gin.clear_config()
    dt.parse_gin()
    tmp = tmp_path_factory.mktemp("distributed_train")
    root = str(tmp / "run")
    manager = dt.replay_manager(tmp / "buffer", min_size_to_sample=MIN_SIZE)
    weights = dt.variable_server(tmp / "variables")
    weights_address = f"localhost:{weights.port}"
    lines = _Lines()
    logger = logging.getLogger()
    logger.addHandler(lines)
    level = logger.level
    logger.setLevel(logging.INFO)
    results, errors, ready = [], [], []

    def train():
        try:
            results.append(
                trainer.train_from_server(
                    root,
                    manager.server_address,
                    weights_address,
                    stall_log_interval_s=0.5,
                    on_ready=lambda: ready.append(1),
                    **TINY,
                )
            )
        except BaseException as e:  # noqa: BLE001  (reported by the tests)
            errors.append(e)

    thread = threading.Thread(target=train, name="trainer", daemon=True)
    try:
        thread.start()
        stalled = _wait_for(lambda: lines.stalls() or not thread.is_alive(), 120)
        blocked = types.SimpleNamespace(
            stall_lines=list(lines.stalls()),
            trainer_alive=thread.is_alive(),
            done=run_dir.read_done(root),
        )
        assert stalled, "the trainer neither stalled nor finished in 120 s"
        filled = collector.collect(
            root,
            manager.server_address,
            None,
            config=dt.train_config(),
            max_env_steps=300,
            steps_per_run=50,
        )
        thread.join(timeout=120)
        assert not thread.is_alive(), "training did not resume"
        assert not errors, errors
        yield types.SimpleNamespace(
            root=root,
            replay_address=manager.server_address,
            weights_address=weights_address,
            blocked=blocked,
            filled=filled,
            result=results[0],
            ready=ready,
        )
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
        weights.stop()
        manager.close()
        gin.clear_config()


@pytest.mark.slow
def test_training_blocks_below_the_min_size_and_says_why(run):
    assert run.blocked.trainer_alive and run.blocked.done is None
    assert run.ready == [1]
    assert run.blocked.stall_lines
    assert run.blocked.stall_lines[0].endswith(
        f"the replay buffer holds 0 items; sampling starts at {MIN_SIZE}"
    )


@pytest.mark.slow
def test_training_finishes_once_the_collector_filled_the_table(run):
    result = run.result
    assert not result.already_done and result.resumed_from_train_step is None
    assert result.train_step == 20
    assert run.filled.items_written >= MIN_SIZE
    assert result.replay_buffer_frames == run.filled.items_written
    # The table was empty when training started: the collector wrote them all.
    assert result.items_inserted == run.filled.items_written
    # Pushes after train steps 10 and 20, and one at the end.
    assert (result.weight_pushes, result.failed_weight_pushes) == (3, 0)
    assert result.replay_server_outages == 0


@pytest.mark.slow
def test_done_says_distributed(run):
    done = run_dir.read_done(run.root)
    assert done["mode"] == "distributed"
    assert done["train_step"] == 20 and done["weight_pushes"] == 3
    assert done["replay_buffer_frames"] == run.filled.items_written


@pytest.mark.slow
def test_weights_table_holds_the_final_train_step(run):
    agent, train_step = dt.make_agent()
    subscriber = variables.WeightSubscriber(
        run.weights_address, variables.policy_variables(agent, train_step)
    )
    assert subscriber.update() and subscriber.version == 20
    assert dt.table_size(run.weights_address, variables.TABLE_NAME) == 1


@pytest.mark.slow
def test_learner_checkpoint_and_policies_are_written(run):
    checkpoint = tf.train.latest_checkpoint(
        run_dir.path(run.root, run_dir.LEARNER_CHECKPOINT_DIR)
    )
    assert checkpoint is not None and checkpoint.endswith("ckpt-20")
    for policy in ("greedy_policy", "collect_policy"):
        assert os.path.isfile(
            os.path.join(run.root, run_dir.POLICIES_DIR, policy, "saved_model.pb")
        )


@pytest.mark.slow
def test_a_finished_run_is_left_alone(run):
    mtime = os.path.getmtime(run_dir.path(run.root, run_dir.DONE_FILE))
    again = trainer.train_from_server(
        run.root, run.replay_address, run.weights_address, **TINY
    )
    assert again.already_done and again.train_step == 0
    assert again.done == run_dir.read_done(run.root)
    assert os.path.getmtime(run_dir.path(run.root, run_dir.DONE_FILE)) == mtime


def test_bad_arguments_raise(tmp_path):
    for name, value in (("train_steps_per_run", 0), ("push_interval", 0)):
        with pytest.raises(ValueError, match=f"train_from_server.{name} must be"):
            trainer.train_from_server(
                str(tmp_path / "run"), "localhost:1", None, **{**TINY, name: value}
            )
    for name, value in (("num_train_steps", 0), ("batch_size", 0), ("seed", -1)):
        with pytest.raises(ValueError, match=f"TrainConfig.{name} must be"):
            dt.train_config(**{**TINY_CONFIG, name: value})
    assert not os.path.exists(tmp_path / "run")
