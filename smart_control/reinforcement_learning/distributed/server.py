"""The replay server of a distributed run: a long-running Reverb server.

Collectors and the trainer (separate processes, or machines) connect with
`ReplayBufferManager(..., server_address="host:port")`. The table's data spec
comes from the experiment's environment (`TrainConfig.env_factory`, through
`ExperimentBuilder`, as in every other process) and its capacity, sampler
and rate limiter from `ReplayBufferManager.*`. The server restores the
newest complete checkpoint of its buffer directory on start (so a restarted
server continues where it stopped), or, when the directory holds none, the
`starter_buffer` given; it checkpoints every `checkpoint_interval_s` and once
more when asked to stop.

With `serve_weights`, a second Reverb server in the same process holds the
policy weights table of the experiment's agent (`variables.py`): the trainer
pushes weights there and collectors pull them. Its signature is the weights
nest of the agent the builder makes, so it agrees with the trainer's and the
collectors' by construction. It is not checkpointed: the trainer's own
checkpoints hold the weights, and its next push refills the table of a
restarted server.

Besides the manager's files, the buffer directory gets `server.json`
(addresses, pid, start time) while the server runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Optional

import gin
import reverb
from absl import logging

from smart_control.reinforcement_learning.replay_buffer.errors import PortInUseError
from smart_control.reinforcement_learning.training.builder import ExperimentBuilder
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils import json_files, run_files, validation

SERVER_FILE = run_files.SERVER_FILE


@gin.configurable(
    denylist=[
        "buffer_dir",
        "port",
        "stop",
        "config",
        "serve_weights",
        "variable_port",
        "starter_buffer",
        "on_ready",
    ]
)
def serve_replay_buffer(
    buffer_dir: str,
    port: int,
    stop: threading.Event,
    config: Optional[TrainConfig] = None,
    checkpoint_interval_s: float = 600.0,
    serve_weights: bool = False,
    variable_port: int = 0,
    starter_buffer: Optional[str] = None,
    on_ready: Callable[[Dict[str, Any]], Any] = lambda info: None,
) -> Dict[str, Any]:
    """Serves the replay table until `stop` is set; returns final statistics.

    Args:
      buffer_dir: The manager's checkpoint directory.
      port: Port to serve on (0 picks a free one).
      stop: Set it (e.g. from a SIGTERM handler) to checkpoint and stop.
      config: The learning setup (environment and agent); None builds
        `TrainConfig()` from gin.
      checkpoint_interval_s: Seconds between checkpoints; 0 checkpoints only
        when stopping.
      serve_weights: Also serve the agent's policy weights table.
      variable_port: Port of the weights server (0 picks a free one).
      starter_buffer: Buffer directory (or checkpoint) loaded when
        `buffer_dir` holds no checkpoint yet.
      on_ready: Called with the server info once clients may connect.
    """
    validation.check_number(
        "serve_replay_buffer.checkpoint_interval_s", checkpoint_interval_s, 0
    )
    builder = ExperimentBuilder(config if config is not None else TrainConfig())
    env = builder.make_environment(seed=0)
    variables = None
    if serve_weights:
        variables = _agent_variables(builder, env)
    manager = builder.make_replay_manager(
        env, checkpoint_dir=buffer_dir, port=port or None
    )
    env.close()
    variable_server = None
    scratch_dir = None
    try:
        restored_from = "checkpoint"
        try:
            manager.load_replay_buffer()
        except FileNotFoundError:
            if starter_buffer:
                manager.load_replay_buffer(source_dir=starter_buffer)
                restored_from = "starter buffer"
            else:
                manager.create_replay_buffer()
                restored_from = None
        restored = manager.num_frames()
        port = int(manager.server_address.rsplit(":", 1)[1])
        host = socket.gethostname()
        info = {
            "address": f"{host}:{port}",
            "local_address": f"localhost:{port}",
            "pid": os.getpid(),
            "table": manager.table_name,
            "capacity": manager.capacity,
            "restored_frames": restored,
            "restored_from": restored_from,
            "started_at": time.time(),
        }
        if variables is not None:
            from smart_control.reinforcement_learning.distributed import (
                variables as variables_lib,
            )

            # A server without checkpointer makes a temporary checkpoint
            # directory of its own and leaves it behind.
            scratch_dir = tempfile.mkdtemp(prefix="variables_")
            try:
                variable_server = reverb.Server(
                    tables=[variables_lib.variable_table(variables)],
                    port=variable_port or None,
                    checkpointer=reverb.checkpointers.DefaultCheckpointer(scratch_dir),
                )
            except RuntimeError as e:
                if "BuildAndStart" not in str(e):
                    raise
                raise PortInUseError(
                    "cannot start the policy weights server on port "
                    f"{variable_port or '(any)'}: gRPC could not listen there "
                    "(in use, or not allowed)"
                ) from None
            info["variable_address"] = f"{host}:{variable_server.port}"
            info["variable_local_address"] = f"localhost:{variable_server.port}"
        json_files.write_json_atomic(
            os.path.join(manager.checkpoint_dir, SERVER_FILE), info
        )
        on_ready(info)
        checkpoints = 0
        while not stop.wait(checkpoint_interval_s or None):
            path = manager.checkpoint()
            checkpoints += 1
            logging.info("Checkpoint %s (%d frames).", path, manager.num_frames())
        path = manager.checkpoint()
        checkpoints += 1
        logging.info("Final checkpoint %s (%d frames).", path, manager.num_frames())
        return {
            "frames": manager.num_frames(),
            "restored_frames": restored,
            "checkpoints": checkpoints,
            "last_checkpoint": path,
        }
    finally:
        if variable_server is not None:
            variable_server.stop()
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)
        manager.close()
        try:
            os.remove(os.path.join(buffer_dir, SERVER_FILE))
        except FileNotFoundError:
            pass


def _agent_variables(builder: ExperimentBuilder, env: Any) -> Any:
    """The policy weights nest of the agent the trainer builds."""
    from tf_agents.train.utils import train_utils

    from smart_control.reinforcement_learning.distributed import variables

    train_step = train_utils.create_train_step()
    agent = builder.make_agent(env, train_step)
    return variables.policy_variables(agent, train_step)
