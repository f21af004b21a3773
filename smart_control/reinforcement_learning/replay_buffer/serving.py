"""A long-running Reverb server holding the manager's table.

For runs whose collectors and trainer are separate processes (or machines):
they connect with `ReplayBufferManager(..., server_address="host:port")`.
The server restores the newest complete checkpoint of its buffer directory
on start (so a restarted server continues where it stopped), or, when the
directory holds none, the `starter_buffer` given; it checkpoints every
`checkpoint_interval_s` and once more when asked to stop.

With an `agent_factory`, a second Reverb server in the same process holds
the policy weights table of that agent (`distributed/variables.py`): the
trainer pushes weights there and collectors pull them. It is not
checkpointed: the trainer's own checkpoints hold the weights, and its next
push refills the table of a restarted server.

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

from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
    ReplayBufferManager,
)
from smart_control.reinforcement_learning.utils import json_files
from smart_control.reinforcement_learning.utils.specs import collect_data_spec

SERVER_FILE = "server.json"


@gin.configurable(denylist=["buffer_dir", "port", "stop", "on_ready"])
def serve_replay_buffer(
    buffer_dir: str,
    port: int,
    stop: threading.Event,
    env_factory: Callable[..., Any] = gin.REQUIRED,
    checkpoint_interval_s: float = 600.0,
    agent_factory: Optional[Callable[..., Any]] = None,
    variable_port: int = 0,
    starter_buffer: Optional[str] = None,
    on_ready: Callable[[Dict[str, Any]], Any] = lambda info: None,
) -> Dict[str, Any]:
    """Serves the replay table until `stop` is set; returns final statistics.

    Args:
      buffer_dir: The manager's checkpoint directory.
      port: Port to serve on (0 picks a free one).
      stop: Set it (e.g. from a SIGTERM handler) to checkpoint and stop.
      env_factory: Builds the environment whose trajectories the table holds
        (only its specs are used).
      checkpoint_interval_s: Seconds between checkpoints; 0 checkpoints only
        when stopping.
      agent_factory: With an agent factory (`create_sac_agent`, ...), also
        serve that agent's policy weights table for distributed runs.
      variable_port: Port of the weights server (0 picks a free one).
      starter_buffer: Buffer directory (or checkpoint) loaded when
        `buffer_dir` holds no checkpoint yet.
      on_ready: Called with the server info once clients may connect.
    """
    if checkpoint_interval_s < 0:
        raise ValueError(
            f"checkpoint_interval_s must be >= 0, got {checkpoint_interval_s!r}"
        )
    env = env_factory()
    data_spec = collect_data_spec(env)
    variables = None
    if agent_factory is not None:
        variables = _agent_variables(env, agent_factory)
    env.close()
    manager = ReplayBufferManager(
        data_spec=data_spec, checkpoint_dir=buffer_dir, port=port or None
    )
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
            variable_server = reverb.Server(
                tables=[variables_lib.variable_table(variables)],
                port=variable_port or None,
                checkpointer=reverb.checkpointers.DefaultCheckpointer(scratch_dir),
            )
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


def _agent_variables(env: Any, agent_factory: Callable[..., Any]) -> Any:
    """The policy weights nest of the agent the trainer will build."""
    from tf_agents.train.utils import spec_utils, train_utils

    from smart_control.reinforcement_learning.distributed import variables

    _, action_spec, time_step_spec = spec_utils.get_tensor_specs(env)
    train_step = train_utils.create_train_step()
    agent = agent_factory(time_step_spec, action_spec, train_step_counter=train_step)
    return variables.policy_variables(agent, train_step)
