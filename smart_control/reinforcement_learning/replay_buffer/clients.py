"""The client side of a table: TF-Agents' replay buffer, the observer, remote checks.

A manager with a local server and one connected to a running server
(`server_address`, the remote client of a distributed run) hand out the same
objects, built here from the manager's `Settings`. With `server_address` the
server owns the table, its data and its checkpoints
(`scripts/reverb_server.py`); the manager only checks that the table exists
and holds this run's spec.
"""

from __future__ import annotations

from typing import Optional, Tuple

import reverb
from tf_agents.replay_buffers import reverb_replay_buffer

from smart_control.reinforcement_learning.replay_buffer import table_config
from smart_control.reinforcement_learning.replay_buffer.errors import (
    SpecMismatchError,
)
from smart_control.reinforcement_learning.replay_buffer.fast_observer import (
    FastTrajectoryObserver,
)
from smart_control.reinforcement_learning.replay_buffer.settings import Settings

_CONNECT_TIMEOUT_S = 30


def make_clients(
    settings: Settings, local_server: Optional[reverb.Server]
) -> Tuple[reverb_replay_buffer.ReverbReplayBuffer, FastTrajectoryObserver]:
    """The TF-Agents replay buffer and the observer of a local or remote table."""
    if local_server is not None:
        where = {"local_server": local_server}
    else:
        where = {"server_address": settings.server_address}
    replay_buffer = reverb_replay_buffer.ReverbReplayBuffer(
        settings.data_spec,
        table_name=settings.table_name,
        sequence_length=settings.sequence_length,
        rate_limiter_timeout_ms=settings.rate_limiter_timeout_ms,
        **where,
    )
    # The same items and auto-tuned chunks as TF-Agents'
    # ReverbAddTrajectoryObserver, at about twice its speed
    # (bench/bench_insert.py).
    observer = FastTrajectoryObserver(
        replay_buffer.py_client,
        settings.table_name,
        sequence_length=settings.sequence_length,
        stride_length=settings.stride_length,
    )
    return replay_buffer, observer


def check_remote_table(settings: Settings) -> None:
    """Checks that the remote server answers and its table holds `data_spec` steps.

    Raises:
      ConnectionError: If the server does not answer.
      ValueError: If it has no such table.
      SpecMismatchError: If the table's signature differs from `data_spec`.
    """
    address, name = settings.server_address, settings.table_name
    try:
        info = reverb.Client(address).server_info(timeout=_CONNECT_TIMEOUT_S)
    except Exception as e:
        raise ConnectionError(
            f"cannot reach the Reverb server at {address}: {e}"
        ) from None
    if name not in info:
        raise ValueError(
            f"the Reverb server at {address} has no table {name!r} "
            f"(tables: {sorted(info)})"
        )
    expected = table_config.table_signature(settings.data_spec)
    actual = info[name].signature
    if not table_config.signatures_match(expected, actual, settings.sequence_length):
        raise SpecMismatchError(
            f"the replay buffer in server {address} holds items of another spec.\n"
            f"  data_spec of this run: {table_config.describe_signature(expected)}\n"
            f"  spec of the buffer:    {table_config.describe_signature(actual)}"
        )
