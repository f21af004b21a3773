"""The shape of a distributed run: how many collectors, which ports.

    topology = DistributedTopology()        # from gin (DistributedTopology.*)

TensorFlow-free, so launchers read it after parsing an experiment; every
stage binary parses the same experiment, so the names are known everywhere.
"""

from __future__ import annotations

import dataclasses

import gin

from smart_control.reinforcement_learning.utils import validation

# The gin scope the processes of the distributed topology (replay server,
# collectors, trainer) run in: `distributed/X.y = v` settings apply to them
# only (e.g. the replay server's rate limiter).
SCOPE = "distributed"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DistributedTopology:
    """Processes and ports of a distributed run.

    Attributes:
      num_collectors: Collector processes (each its own environment).
      replay_port: Port of the replay server; 0 picks a free one at start.
      variable_port: Port of the policy weights server; 0 picks a free one.
      restart: Restart a process that dies (a dead trainer or server
        otherwise fails the run; a dead collector is reported).
    """

    num_collectors: int = 2
    replay_port: int = 0
    variable_port: int = 0
    restart: bool = True

    def __post_init__(self):
        validation.check_int(
            "DistributedTopology.num_collectors", self.num_collectors, 1
        )
        for name in ("replay_port", "variable_port"):
            port = validation.check_int(
                f"DistributedTopology.{name}", getattr(self, name), 0
            )
            if port > 65535:
                raise ValueError(
                    f"DistributedTopology.{name} must be a port (0..65535), got {port}"
                )
        if not isinstance(self.restart, bool):
            raise ValueError(
                f"DistributedTopology.restart must be True or False, got {self.restart!r}"
            )
