"""WeightPublisher and WeightSubscriber against real Reverb weights tables."""

import numpy as np
import portpicker
import pytest
import reverb
import tensorflow as tf

from smart_control.reinforcement_learning.distributed import server_health, variables
from tests.reinforcement_learning.distributed import distributed_testing as dt


def _policy_values(agent):
    return [v.numpy() for v in agent.collect_policy.variables()]


def _randomize(agent, seed):
    rng = np.random.default_rng(seed)
    for v in agent.collect_policy.variables():
        v.assign(rng.normal(size=v.shape).astype(v.dtype.as_numpy_dtype))


@pytest.fixture
def server(tmp_path):
    server = dt.variable_server(tmp_path / "variables")
    yield server
    server.stop()


@pytest.fixture
def trainer():
    agent, train_step = dt.make_agent()
    _randomize(agent, seed=1)
    return agent, train_step


@pytest.fixture
def collector():
    agent, train_step = dt.make_agent()
    _randomize(agent, seed=2)
    return agent, train_step


def test_push_then_update_assigns_values_and_version(server, trainer, collector):
    address = f"localhost:{server.port}"
    agent, train_step = trainer
    publisher = variables.WeightPublisher(
        address, variables.policy_variables(agent, train_step)
    )
    subscriber = variables.WeightSubscriber(
        address, variables.policy_variables(*collector)
    )
    before = _policy_values(collector[0])
    assert not all(np.array_equal(a, b) for a, b in zip(before, _policy_values(agent)))
    train_step.assign(42)
    assert publisher.push()
    assert publisher.pushes == 1 and publisher.failed_pushes == 0
    assert dt.table_size(address, variables.TABLE_NAME) == 1

    assert subscriber.update()
    assert subscriber.version == 42 and subscriber.updates == 1
    assert int(collector[1].numpy()) == 42
    for pulled, pushed in zip(_policy_values(collector[0]), _policy_values(agent)):
        np.testing.assert_array_equal(pulled, pushed)

    # A newer push replaces the one item and is assigned again.
    _randomize(agent, seed=3)
    train_step.assign(50)
    assert publisher.push()
    assert dt.table_size(address, variables.TABLE_NAME) == 1
    assert subscriber.update() and subscriber.version == 50
    for pulled, pushed in zip(_policy_values(collector[0]), _policy_values(agent)):
        np.testing.assert_array_equal(pulled, pushed)


def test_update_is_false_on_empty_table_and_for_equal_or_older_versions(
    server, trainer, collector
):
    address = f"localhost:{server.port}"
    agent, train_step = trainer
    subscriber = variables.WeightSubscriber(
        address, variables.policy_variables(*collector)
    )
    # Sampling an empty weights table would wait (MinSize(1)); update must not.
    # If it blocked, pytest's timeout would end the test.
    assert not subscriber.update()
    assert subscriber.version is None and subscriber.updates == 0

    publisher = variables.WeightPublisher(
        address, variables.policy_variables(agent, train_step)
    )
    train_step.assign(10)
    assert publisher.push()
    assert subscriber.update() and subscriber.version == 10
    assigned = _policy_values(collector[0])

    # The same version again, then an older one with other values: both ignored.
    _randomize(agent, seed=4)
    assert publisher.push()
    assert not subscriber.update()
    train_step.assign(9)
    assert publisher.push()
    assert not subscriber.update()
    assert subscriber.version == 10 and subscriber.updates == 1
    assert int(collector[1].numpy()) == 10
    for now, then in zip(_policy_values(collector[0]), assigned):
        np.testing.assert_array_equal(now, then)


def test_an_agent_with_other_layer_sizes_is_refused(server):
    address = f"localhost:{server.port}"
    agent, train_step = dt.make_agent(actor_fc_layers=(16,))
    wrong = variables.policy_variables(agent, train_step)
    for cls in (variables.WeightSubscriber, variables.WeightPublisher):
        with pytest.raises(ValueError, match="do not fit this agent") as error:
            cls(address, wrong)
        # The message shows both shapes of the actor's first layer.
        assert "float32[18,8]" in str(error.value)
        assert "float32[18,16]" in str(error.value)


def test_a_server_without_weights_table_is_refused(tmp_path, trainer):
    server = reverb.Server(
        tables=[reverb.Table.queue("other", 10)],
        checkpointer=reverb.checkpointers.DefaultCheckpointer(str(tmp_path)),
    )
    try:
        with pytest.raises(ValueError, match="has no 'variables' table"):
            variables.WeightPublisher(
                f"localhost:{server.port}", variables.policy_variables(*trainer)
            )
    finally:
        server.stop()


@pytest.mark.slow
def test_push_survives_a_server_restart_on_the_same_port(tmp_path, trainer):
    port = portpicker.pick_unused_port()
    address = f"localhost:{port}"
    agent, train_step = trainer
    server = dt.variable_server(tmp_path / "first", port=port)
    publisher = variables.WeightPublisher(
        address, variables.policy_variables(agent, train_step), push_timeout_s=1
    )
    train_step.assign(5)
    assert publisher.push()
    server.stop()

    train_step.assign(6)
    assert publisher.push() is False  # neither raises nor waits for the server
    assert publisher.push() is False
    assert (publisher.pushes, publisher.failed_pushes) == (1, 2)

    server = dt.variable_server(tmp_path / "second", port=port)
    try:
        server_health.wait_for_server(address, "weights server", give_up_after_s=60)
        # The restarted table is empty until the next push refills it.
        assert dt.table_size(address, variables.TABLE_NAME) == 0
        train_step.assign(7)
        assert publisher.push()
        assert (publisher.pushes, publisher.failed_pushes) == (2, 2)
        collector_agent, collector_step = dt.make_agent()
        subscriber = variables.WeightSubscriber(
            address, variables.policy_variables(collector_agent, collector_step)
        )
        assert subscriber.update() and subscriber.version == 7
        for pulled, pushed in zip(
            _policy_values(collector_agent), _policy_values(agent)
        ):
            np.testing.assert_array_equal(pulled, pushed)
    finally:
        server.stop()


def test_push_timeout_must_be_positive(server, trainer):
    with pytest.raises(ValueError, match="push_timeout_s"):
        variables.WeightPublisher(
            f"localhost:{server.port}",
            variables.policy_variables(*trainer),
            push_timeout_s=0,
        )


def test_policy_variables_nest(trainer):
    agent, train_step = trainer
    nest = variables.policy_variables(agent, train_step)
    assert set(nest) == {variables.POLICY_KEY, variables.TRAIN_STEP_KEY}
    assert nest[variables.TRAIN_STEP_KEY] is train_step
    # Actor: 18 observations -> 8 units -> 4 (mean and scale of 2 actions).
    assert [tuple(v.shape) for v in nest[variables.POLICY_KEY]] == [
        (18, 8),
        (8,),
        (8, 4),
        (4,),
    ]
    assert all(v.dtype == tf.float32 for v in nest[variables.POLICY_KEY])
