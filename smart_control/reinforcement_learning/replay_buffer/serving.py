"""A long-running Reverb server holding the manager's table.

For runs whose collectors and trainer are separate processes (or machines):
they connect with `ReplayBufferManager(..., server_address="host:port")`.
The server restores the newest complete checkpoint of its buffer directory
on start (so a restarted server continues where it stopped), checkpoints
every `checkpoint_interval_s` and once more when asked to stop.

Besides the manager's files, the buffer directory gets `server.json`
(address, pid, start time) while the server runs.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable, Dict

import gin
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
      on_ready: Called with the server info once clients may connect.
    """
    if checkpoint_interval_s < 0:
        raise ValueError(
            f"checkpoint_interval_s must be >= 0, got {checkpoint_interval_s!r}"
        )
    env = env_factory()
    data_spec = collect_data_spec(env)
    env.close()
    manager = ReplayBufferManager(
        data_spec=data_spec, checkpoint_dir=buffer_dir, port=port or None
    )
    try:
        try:
            manager.load_replay_buffer()
            restored = manager.num_frames()
        except FileNotFoundError:
            manager.create_replay_buffer()
            restored = 0
        port = int(manager.server_address.rsplit(":", 1)[1])
        info = {
            "address": f"{socket.gethostname()}:{port}",
            "local_address": f"localhost:{port}",
            "pid": os.getpid(),
            "table": manager.table_name,
            "capacity": manager.capacity,
            "restored_frames": restored,
            "started_at": time.time(),
        }
        json_files.write_json_atomic(
            os.path.join(manager.checkpoint_dir, SERVER_FILE), info
        )
        on_ready(info)
        checkpoints = 0
        while not stop.wait(checkpoint_interval_s or None):
            manager.checkpoint()
            checkpoints += 1
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
        manager.close()
        try:
            os.remove(os.path.join(buffer_dir, SERVER_FILE))
        except FileNotFoundError:
            pass
