"""Policy weights from the trainer to the collectors through a Reverb table.

The trainer pushes its collect policy's variables and train step into a
one-item Reverb table (the layout of TF-Agents' `ReverbVariableContainer`);
collectors pull them with that container when a newer version is there. No shared filesystem is needed, unlike
TF-Agents' example, which exports SavedModels under a shared root_dir.

    # server (reverb_server.py): a table whose signature is the weights'
    table = variable_table(policy_variables(agent, train_step))
    # trainer
    publisher = WeightPublisher(address, policy_variables(agent, train_step))
    publisher.push()                  # every N train steps; never raises
    # collector
    subscriber = WeightSubscriber(address, policy_variables(agent, train_step))
    subscriber.update()               # True when newer weights were assigned

All three build the agent from the same gin config, so the nests agree; a
mismatch is reported when the collector or trainer connects.
"""

from __future__ import annotations

import math
import time
from typing import Any, Dict, Optional

import numpy as np
import reverb
import tensorflow as tf
from absl import logging
from tf_agents.agents import tf_agent
from tf_agents.experimental.distributed import reverb_variable_container

from smart_control.reinforcement_learning.replay_buffer import table_config

TABLE_NAME = reverb_variable_container.DEFAULT_TABLE
POLICY_KEY = reverb_variable_container.POLICY_KEY
TRAIN_STEP_KEY = reverb_variable_container.TRAIN_STEP_KEY

# Reverb and gRPC errors seen while a server is down or restarting.
SERVER_ERRORS = (
    tf.errors.OpError,
    reverb.errors.ReverbError,
    RuntimeError,
    ConnectionError,
)


def policy_variables(
    agent: tf_agent.TFAgent, train_step: tf.Variable
) -> Dict[str, Any]:
    """The nest the variable table holds: collect policy variables + train step."""
    return {
        POLICY_KEY: agent.collect_policy.variables(),
        TRAIN_STEP_KEY: train_step,
    }


def variable_table(variables: Dict[str, Any]) -> reverb.Table:
    """A one-item table for `variables`, as TF-Agents' distributed SAC builds it.

    The newest push replaces the previous one (FIFO remover, max_size 1) and
    an item may be read any number of times; reading an empty table waits
    (MinSize(1)), which is why `WeightSubscriber` checks the size first.
    """
    signature = tf.nest.map_structure(
        lambda v: tf.TensorSpec(v.shape, v.dtype), variables
    )
    return reverb.Table(
        name=TABLE_NAME,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        rate_limiter=reverb.rate_limiters.MinSize(1),
        max_size=1,
        max_times_sampled=0,
        signature=signature,
    )


def _check_table(address: str, variables: Dict[str, Any], timeout_s: int) -> None:
    """Raises ValueError unless the server's weights table fits `variables`."""
    info = reverb.Client(address).server_info(timeout=timeout_s)
    if TABLE_NAME not in info:
        raise ValueError(
            f"the Reverb server at {address} has no {TABLE_NAME!r} table "
            f"(tables: {sorted(info)}); start reverb_server with an agent config"
        )
    expected = tf.nest.map_structure(
        lambda v: tf.TensorSpec(v.shape, v.dtype), variables
    )
    actual = info[TABLE_NAME].signature
    if not table_config.signatures_match(expected, actual):
        raise ValueError(
            f"the policy weights at {address} do not fit this agent (was the "
            f"agent's gin config changed?): server "
            f"{table_config.describe_signature(actual)}, here "
            f"{table_config.describe_signature(expected)}"
        )


def _container(address: str, variables: Dict[str, Any], timeout_s: int):
    """Connects a `ReverbVariableContainer`, checking the table's signature."""
    _check_table(address, variables, timeout_s)
    return reverb_variable_container.ReverbVariableContainer(address)


class WeightPublisher:
    """Pushes the trainer's weights; a server outage is logged, not raised.

    A push never blocks longer than about `push_timeout_s`, server up or
    down. (TF-Agents' `ReverbVariableContainer.push` waits for the server to
    come back once gRPC has noticed that it is gone, and after a restart
    waits out gRPC's reconnect backoff.) Each push writes one item with its
    own writer; after a failed push, a fresh client first asks the server for
    its tables (with a deadline). A push at the very moment a server restarts
    may still fail; the next one puts the weights back into the restarted
    server's (empty) table.
    """

    def __init__(
        self,
        address: str,
        variables: Dict[str, Any],
        timeout_s: int = 30,
        push_timeout_s: float = 5.0,
    ):
        if push_timeout_s <= 0:
            raise ValueError(f"push_timeout_s must be > 0, got {push_timeout_s!r}")
        self.address = address
        self._variables = variables
        _check_table(address, variables, timeout_s)
        self._push_timeout_s = push_timeout_s
        self._client: Optional[reverb.Client] = None
        self.pushes = 0
        self.failed_pushes = 0
        self._failing = False

    def _connect(self) -> reverb.Client:
        """A client whose table signatures are cached (the writer needs them)."""
        if self._client is None:
            client = reverb.Client(self.address)
            # Bounded; without it the writer would fetch the signatures
            # without a deadline and wait for a server that is down.
            client.server_info(timeout=max(1, math.ceil(self._push_timeout_s)))
            self._client = client
        return self._client

    def _write(self, client: reverb.Client) -> None:
        values = [np.asarray(v) for v in tf.nest.flatten(self._variables)]
        writer = client.trajectory_writer(num_keep_alive_refs=1)
        try:
            writer.append(values)
            writer.create_item(
                TABLE_NAME, 1.0, [column[-1] for column in writer.history]
            )
            writer.flush(timeout_ms=int(self._push_timeout_s * 1000))
        finally:
            writer.close()  # does not wait for an unconfirmed item

    def push(self) -> bool:
        """Pushes the current values; False (and one log line) if it failed."""
        try:
            self._write(self._connect())
        except SERVER_ERRORS as e:
            self._client = None
            self.failed_pushes += 1
            if not self._failing:
                logging.warning(
                    "Cannot push policy weights to %s (%s); retrying at the next push.",
                    self.address,
                    (str(e).strip().splitlines() or [type(e).__name__])[0][:200],
                )
            self._failing = True
            return False
        if self._failing:
            logging.info("Pushing policy weights to %s again.", self.address)
        self._failing = False
        self.pushes += 1
        return True


class WeightSubscriber:
    """Assigns the trainer's newest weights to a collector's policy variables."""

    def __init__(
        self,
        address: str,
        variables: Dict[str, Any],
        timeout_s: int = 30,
        poll_timeout_s: int = 5,
    ):
        self.address = address
        self._variables = variables
        self._container = _container(address, variables, timeout_s)
        self._client = reverb.Client(address)
        self._poll_timeout_s = poll_timeout_s
        self.version: Optional[int] = None  # train step of the assigned weights
        self.updates = 0
        self.last_update_time: Optional[float] = None

    def update(self) -> bool:
        """Pulls and assigns the weights if the table holds a newer version.

        Returns False without waiting when the table is empty (no push yet,
        or a restarted server) or the server cannot be reached.
        """
        try:
            info = self._client.server_info(timeout=self._poll_timeout_s)
            if info[TABLE_NAME].current_size == 0:
                return False
            values = self._container.pull()
        except SERVER_ERRORS:
            return False
        version = int(values[TRAIN_STEP_KEY].numpy())
        if self.version is not None and version <= self.version:
            return False
        # Only the policy's variables: the collector's own train step variable
        # is set to the pushed one so that summaries line up with the trainer.
        for variable, value in zip(
            tf.nest.flatten(self._variables), tf.nest.flatten(values)
        ):
            variable.assign(value)
        self.version = version
        self.updates += 1
        self.last_update_time = time.time()
        return True
