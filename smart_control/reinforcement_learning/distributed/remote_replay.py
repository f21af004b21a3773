"""A `ReplayBufferManager` connected to a distributed run's replay server."""

from __future__ import annotations

from typing import Any

import gin
import reverb

from smart_control.reinforcement_learning.replay_buffer import replay_buffer


def _configured_table_name() -> str:
    try:
        return gin.query_parameter("ReplayBufferManager.table_name")
    except ValueError:  # not bound in gin
        return replay_buffer.DEFAULT_TABLE_NAME


def connect(
    address: str, data_spec: Any, timeout_s: int = 30
) -> replay_buffer.ReplayBufferManager:
    """Connects to the server's table, checking `data_spec` against it.

    The capacity is the server's (it owns the table), so collectors and the
    trainer need no capacity of their own in gin; the sequence length is
    `ReplayBufferManager.sequence_length`, as on the server.
    """
    table_name = _configured_table_name()
    info = reverb.Client(address).server_info(timeout=timeout_s)
    if table_name not in info:
        raise ValueError(
            f"the Reverb server at {address} has no table {table_name!r} "
            f"(tables: {sorted(info)})"
        )
    manager = replay_buffer.ReplayBufferManager(
        data_spec=data_spec,
        capacity=int(info[table_name].max_size),
        checkpoint_dir=None,
        server_address=address,
    )
    manager.create_replay_buffer()
    return manager
