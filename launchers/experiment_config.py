"""What an experiment is made of, read from its gin file without TensorFlow.

An experiment file (configs/experiments/*.gin) names the gin files and
bindings of each stage; the launcher passes them on to the stage binaries,
which parse them for real:

    run_experiment.populate_gin_files = ['populate/starter_buffer.gin']
    run_experiment.populate_bindings = ['populate_starter_buffer.num_runs = 2']
    run_experiment.train_gin_files = ['train/building_sac.gin']
    run_experiment.train_bindings = ['train_eval.num_env_steps = 2000']
    run_experiment.eval_gin_files = ['eval/building.gin']
    run_experiment.eval_bindings = ['evaluate.num_episodes = 2']
    run_experiment.seed = 0
    # --mode=distributed: server, collectors and trainer all parse these.
    run_experiment.distributed_gin_files = ['distributed/building_sac.gin']
    run_experiment.distributed_bindings = ['train_from_server.num_train_steps = 2000']

Bindings given to the launcher (`--gin_bindings`, sweep points) that are not
`run_experiment.*` (or `SlurmExecutor.*` / `LocalExecutor.*`, which configure
where a sweep runs) go to the train and eval stages. The populate stage only
ever gets the experiment's own populate config, so every point of a sweep
shares one starter buffer; its identity (`populate_key`) is a hash of the
populate gin files' contents (with their includes), bindings and seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import List, Sequence

import gin

# Registers SlurmExecutor/LocalExecutor with gin: experiment files may bind them.
from launchers import executors  # noqa: F401

STAGES = ("populate", "train", "eval")
_INCLUDE = re.compile(r"""^\s*include\s+['"]([^'"]+)['"]""", re.MULTILINE)


@gin.configurable("run_experiment")
@dataclasses.dataclass
class ExperimentConfig:
    populate_gin_files: List[str] = dataclasses.field(
        default_factory=lambda: ["populate/starter_buffer.gin"]
    )
    populate_bindings: List[str] = dataclasses.field(default_factory=list)
    train_gin_files: List[str] = dataclasses.field(
        default_factory=lambda: ["train/building_sac.gin"]
    )
    train_bindings: List[str] = dataclasses.field(default_factory=list)
    eval_gin_files: List[str] = dataclasses.field(
        default_factory=lambda: ["eval/building.gin"]
    )
    eval_bindings: List[str] = dataclasses.field(default_factory=list)
    distributed_gin_files: List[str] = dataclasses.field(
        default_factory=lambda: ["distributed/building_sac.gin"]
    )
    distributed_bindings: List[str] = dataclasses.field(default_factory=list)
    seed: int = 0


# Bindings the launchers consume themselves; every other binding is a stage's.
LAUNCHER_CONFIGURABLES = ("run_experiment.", "SlurmExecutor.", "LocalExecutor.")


def is_launcher_binding(binding: str) -> bool:
    return binding.strip().startswith(LAUNCHER_CONFIGURABLES)


def load(gin_files: Sequence[str], bindings: Sequence[str]) -> ExperimentConfig:
    """Parses the experiment files and the launcher-level (`run_experiment.*`)
    bindings; anything else in the files is an error (one line, naming it)."""
    from smart_control.reinforcement_learning.utils import binary

    gin.clear_config()
    binary.parse_gin(gin_files, [b for b in bindings if is_launcher_binding(b)])
    return ExperimentConfig()


def _file_digest(path: str, resolve, digest, seen) -> None:
    path = resolve(path)
    if path in seen:
        return
    seen.add(path)
    with open(path, "rb") as f:
        content = f.read()
    digest.update(content)
    for include in _INCLUDE.findall(content.decode()):
        local = os.path.join(os.path.dirname(path), include)
        _file_digest(local if os.path.isfile(local) else include, resolve, digest, seen)


def populate_key(config: ExperimentConfig, resolve) -> str:
    """Identity of the starter buffer an experiment needs (16 hex digits)."""
    digest = hashlib.sha256()
    seen: set = set()
    for path in config.populate_gin_files:
        _file_digest(path, resolve, digest, seen)
    for binding in config.populate_bindings:
        digest.update(binding.encode())
    digest.update(str(config.seed).encode())
    return digest.hexdigest()[:16]
