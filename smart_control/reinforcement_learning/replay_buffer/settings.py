"""A replay buffer's settings, validated once.

`ReplayBufferManager` keeps one frozen `Settings`; the table and the settings
part of metadata.json are derived from it here, the replay buffer and observer
in `clients.py`, so every process of a run builds them the same way.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Iterable, Optional

import reverb
import tensorflow as tf
from tf_agents.replay_buffers import reverb_replay_buffer
from tf_agents.specs import tensor_spec

from smart_control.reinforcement_learning.replay_buffer import metadata, table_config
from smart_control.reinforcement_learning.replay_buffer.errors import check_int
from smart_control.reinforcement_learning.utils import validation

DEFAULT_TABLE_NAME = reverb_replay_buffer.DEFAULT_TABLE
ProtectedCheckpoints = Callable[[], Iterable[str]]
# Reverb's table size is a signed 64-bit integer.
MAX_CAPACITY = validation.MAX_INT64


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated arguments of `ReplayBufferManager` (documented there)."""

    data_spec: Any
    capacity: int
    checkpoint_dir: Optional[str]
    sequence_length: int
    table_name: str
    sampler_factory: table_config.SamplerFactory
    rate_limiter_factory: table_config.RateLimiterFactory
    num_checkpoints_to_keep: int
    server_address: Optional[str]
    port: Optional[int]
    stride_length: int
    rate_limiter_timeout_ms: int
    allow_shrink: bool
    protected_checkpoints: Optional[ProtectedCheckpoints]

    def __post_init__(self):
        check = object.__setattr__  # frozen: normalised values are set once
        check(self, "capacity", check_int("capacity", self.capacity, 1, MAX_CAPACITY))
        for name in ("sequence_length", "stride_length", "num_checkpoints_to_keep"):
            check(self, name, check_int(name, getattr(self, name), 1))
        if self.port is not None:
            check(self, "port", check_int("port (None or an integer)", self.port, 1))
        if not self.table_name or not isinstance(self.table_name, str):
            raise ValueError(
                f"table_name must be a non-empty string, got {self.table_name!r}"
            )
        if self.server_address is None and not self.checkpoint_dir:
            raise ValueError(
                f"checkpoint_dir must be a directory path, got {self.checkpoint_dir!r}"
            )
        if self.server_address is not None and (
            not isinstance(self.server_address, str) or ":" not in self.server_address
        ):
            raise ValueError(
                f"server_address must be 'host:port', got {self.server_address!r}"
            )
        if not isinstance(self.allow_shrink, bool):
            raise ValueError(
                f"allow_shrink must be True or False, got {self.allow_shrink!r}"
            )
        if self.protected_checkpoints is not None and not callable(
            self.protected_checkpoints
        ):
            raise ValueError(
                "protected_checkpoints must be a callable returning checkpoint "
                f"names, got {self.protected_checkpoints!r}"
            )
        try:
            spec = tensor_spec.from_spec(self.data_spec)
            flat = tf.nest.flatten(spec)
        except (TypeError, ValueError) as e:
            raise ValueError(f"data_spec must be a nest of TensorSpecs: {e}") from None
        if not flat or not all(isinstance(s, tf.TensorSpec) for s in flat):
            raise ValueError(
                "data_spec must be a non-empty nest of TensorSpecs, got "
                f"{self.data_spec!r}"
            )
        check(self, "data_spec", spec)
        if self.checkpoint_dir:
            check(self, "checkpoint_dir", os.path.abspath(self.checkpoint_dir))

    def build_table(self) -> reverb.Table:
        """A new table of this configuration (Reverb tables cannot be shared)."""
        return table_config.build_table(
            self.table_name,
            self.capacity,
            self.data_spec,
            self.sampler_factory,
            self.rate_limiter_factory,
        )

    def metadata(self) -> Dict[str, Any]:
        """The settings part of metadata.json."""
        return {
            "table_name": self.table_name,
            "capacity": self.capacity,
            "sequence_length": self.sequence_length,
            "stride_length": self.stride_length,
            "data_spec": table_config.describe_signature(self.data_spec),
            "table": metadata.describe_table(self.build_table().info),
            "num_checkpoints_to_keep": self.num_checkpoints_to_keep,
        }
