"""An experiment as a launcher sees it: gin files and bindings, checked and planned.

An experiment is gin files (configs/experiments/*.gin), each including the
layers it is made of (environment, replay buffer, agent, populate, train,
eval, topology). Every stage process of a run (populate, train, eval; in the
distributed topology the server, the collectors and the trainer) parses the
same files and the same bindings and uses the configurables it has, so a
binding given to a launcher reaches every stage that has its configurable.

`plan()` parses them here first, strictly (the files' `import` lines load
every module they bind, so a name that no stage knows is one error line
before anything starts) and derives what the launcher needs:

  * the starter buffer's identity: a populate dry run (the environment, the
    policy and the buffer built as a populate run builds them, in gin scope
    `populate`) leaves gin's operative config of the populate stage; its
    hash is the key. Settings the populate stage does not use (a training
    capacity, an agent's learning rate) leave it unchanged, so points of a
    sweep over them share one starter buffer, while a sweep over the
    building populates one buffer per building;
  * the distributed topology (`DistributedTopology`);
  * the experiment's SEED.

Bindings of the launchers' own configurables (`SlurmExecutor.*`,
`LocalExecutor.*`) are parsed here and not forwarded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from typing import List, Optional, Sequence

import gin

# Registers the launchers' own configurables (executors) with gin.
from launchers import executors  # noqa: F401
from smart_control.reinforcement_learning.utils import binary, gin_configs

STAGES = ("populate", "train", "eval")
POPULATE_SCOPE = "populate"
LAUNCHER_CONFIGURABLES = ("SlurmExecutor.", "LocalExecutor.")


def is_launcher_binding(binding: str) -> bool:
    return binding.strip().startswith(LAUNCHER_CONFIGURABLES)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A checked experiment and what the launcher derives from it.

    Attributes:
      gin_files: The experiment's gin files, as given (every stage resolves
        them the same way).
      bindings: The bindings every stage process gets.
      launcher_bindings: Bindings of the launchers' own configurables.
      seed: The experiment's SEED macro, if it defines one.
      populate_key: Identity of the starter buffer (16 hex digits); None when
        the experiment has no populate stage.
      populate_config: The populate stage's operative gin config the key
        hashes.
      num_collectors: Collectors of the distributed topology.
      config: The whole experiment as parsed (gin's config string).
    """

    gin_files: List[str]
    bindings: List[str]
    launcher_bindings: List[str]
    seed: Optional[int]
    populate_key: Optional[str]
    populate_config: str
    num_collectors: int
    config: str


def plan(gin_files: Sequence[str], bindings: Sequence[str]) -> Plan:
    """Parses and checks an experiment; raises `binary.UserError` in one line.

    Leaves gin configured with the experiment (launcher configurables read
    their bindings from it).
    """
    from smart_control.reinforcement_learning.distributed import topology

    gin.clear_config()
    gin_configs.parse_gin(list(gin_files), list(bindings))
    config = gin.config_str()
    key, populate_config = _populate_identity()
    try:
        num_collectors = topology.DistributedTopology().num_collectors
    except ValueError as e:
        raise binary.UserError(str(e)) from None
    return Plan(
        gin_files=list(gin_files),
        bindings=[b for b in bindings if not is_launcher_binding(b)],
        launcher_bindings=[b for b in bindings if is_launcher_binding(b)],
        seed=_seed(),
        populate_key=key,
        populate_config=populate_config,
        num_collectors=num_collectors,
        config=config,
    )


def _populate_identity():
    """(key, operative config) of a populate dry run; (None, '') without one."""
    from smart_control.reinforcement_learning.populate import starter_buffer

    try:
        gin.query_parameter("populate_starter_buffer.env_factory")
    except ValueError:
        return None, ""
    with tempfile.TemporaryDirectory(prefix="populate-plan-") as scratch:
        try:
            with gin.config_scope(POPULATE_SCOPE):
                starter_buffer.populate_starter_buffer(scratch, dry_run=True)
        except (ValueError, TypeError, FileNotFoundError, RuntimeError) as e:
            first_line = str(e).strip().split("\n")[0]
            raise binary.UserError(f"populate stage: {first_line}") from None
        populate_config = gin.operative_config_str()
    key = hashlib.sha256(populate_config.encode()).hexdigest()[:16]
    return key, populate_config


def _seed() -> Optional[int]:
    try:
        return int(gin.query_parameter("%SEED"))
    except (ValueError, TypeError):
        return None
