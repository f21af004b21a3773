"""Imports point one way: a layer never imports a layer above it.

    utils <- environment <- policies, observers <- replay_buffer
          <- agents, populate <- evaluation, datasets <- training
          <- distributed <- scripts <- launchers

(`utils` holds only what every layer shares.) The layers are the packages
below; the test reads every module's import statements (without importing
anything) and names each import that points up.
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RL = "smart_control.reinforcement_learning"
LAYERS = {
    f"{RL}.utils": 0,
    "smart_control.environment": 1,
    f"{RL}.policies": 2,
    f"{RL}.observers": 2,
    f"{RL}.replay_buffer": 3,
    f"{RL}.agents": 4,
    f"{RL}.populate": 4,
    f"{RL}.evaluation": 5,
    f"{RL}.datasets": 5,
    f"{RL}.training": 6,
    f"{RL}.distributed": 7,
    f"{RL}.scripts": 8,
    "launchers": 9,
}


def _layer(module):
    matches = [k for k in LAYERS if module == k or module.startswith(k + ".")]
    return max(matches, key=len) if matches else None


def _modules():
    for top in ("smart_control", "launchers"):
        for directory, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                    yield module.removesuffix(".__init__"), path


def _imports(path):
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_every_module_belongs_to_a_layer():
    unplaced = [
        module
        for module, _ in _modules()
        if module.startswith(RL + ".") and _layer(module) is None
    ]
    assert not unplaced, f"modules outside every layer: {unplaced}"


def test_no_layer_imports_a_layer_above_it():
    upward = []
    for module, path in _modules():
        own = _layer(module)
        if own is None:
            continue
        for imported in _imports(path):
            other = _layer(imported)
            if other is not None and LAYERS[other] > LAYERS[own]:
                upward.append(f"{module} imports {imported}")
    assert not upward, "\n".join(sorted(set(upward)))


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_layer_exists(layer):
    assert os.path.isdir(os.path.join(REPO, *layer.split("."))), layer
