"""A sweep's plan: its --sweep lines as axes, points and seeds, every run checked.

A line is `name=[v1, v2, ...]`, the name a gin setting (`Configurable.param`,
`scope/Configurable.param`) or a macro; the points are the Cartesian product
of the axes. A SEED axis is not a dimension of the points but the seeds each
point runs (as `--seeds`). `plan_points` plans every run, each point with each
seed, as launchers/experiment.py plans an experiment, so that a sweep refuses
a bad point before anything runs.

Planning only: no flags, no executor, nothing written. Parsing a point's gin
files in `plan_points` imports what they bind (TensorFlow among it); importing
this module does not.
"""

from __future__ import annotations

import ast
import itertools
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from launchers import experiment, seed_runs, sweep_results
from smart_control.reinforcement_learning.utils import binary

_NAME = re.compile(
    r"^([A-Za-z_][\w.]*/)*[A-Za-z_][\w.]*\.[A-Za-z_]\w*$|^[A-Z_][A-Z0-9_]*$"
)


def parse_sweep_line(line: str) -> Tuple[str, List[Any]]:
    """'A.b=[1, 2]' -> ('A.b', [1, 2]); raises UserError naming the line.

    Names are gin settings (`Configurable.param`, `scope/Configurable.param`)
    or macros (`SEED`).
    """
    name, sep, values = line.partition("=")
    name = name.strip()
    if not sep or not name or not _NAME.match(name):
        raise binary.UserError(
            "--sweep must look like 'Configurable.param=[v1, v2]' or "
            f"'MACRO=[v1, v2]', got {line!r}"
        )
    try:
        parsed = ast.literal_eval(values.strip())
    except (ValueError, SyntaxError):
        raise binary.UserError(
            f"--sweep values must be a Python list literal, got {values.strip()!r}"
        ) from None
    if not isinstance(parsed, (list, tuple)) or not parsed:
        raise binary.UserError(
            f"--sweep values must be a non-empty list, got {values.strip()!r}"
        )
    return name, list(parsed)


def sweep_axes(lines: Sequence[str]) -> List[Tuple[str, List[Any]]]:
    axes = [
        parse_sweep_line(line)
        for line in lines
        if line.strip() and not line.strip().startswith("#")
    ]
    names = [name for name, _ in axes]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise binary.UserError(f"swept twice: {sorted(duplicated)}")
    if not axes:
        raise binary.UserError("nothing to sweep: give --sweep or --sweep_file")
    return axes


def points_of(axes: List[Tuple[str, List[Any]]]) -> List[Dict[str, Any]]:
    names = [name for name, _ in axes]
    return [
        dict(zip(names, values)) for values in itertools.product(*(v for _, v in axes))
    ]


def point_bindings(point: Dict[str, Any]) -> List[str]:
    return [f"{name} = {value!r}" for name, value in point.items()]


def split_seeds(
    axes: List[Tuple[str, List[Any]]], seeds: Optional[List[int]]
) -> Tuple[List[Tuple[str, List[Any]]], Optional[List[int]]]:
    """(axes without SEED, the seeds of every point).

    A swept SEED is not a dimension of the points: every point runs each of
    its values, and results aggregate across them (as with --seeds).

    Raises:
      binary.UserError: if seeds are given both ways, or a SEED value is not
        a seed.
    """
    swept = dict(axes)
    if seed_runs.SEED_MACRO not in swept:
        return axes, seeds
    if seeds is not None:
        raise binary.UserError(
            "give the seeds once: --seeds or --sweep='SEED=[...]', not both"
        )
    return (
        [(name, values) for name, values in axes if name != seed_runs.SEED_MACRO],
        seed_runs.parse_seeds(swept[seed_runs.SEED_MACRO], source="--sweep SEED"),
    )


def several_seeds(seeds: Optional[Sequence[int]]) -> bool:
    return seeds is not None and len(seeds) > 1


def plan_points(
    gin_files: List[str],
    base_bindings: List[str],
    points: Dict[str, Dict[str, Any]],
    seeds: Optional[List[int]] = None,
) -> Dict[str, experiment.Plan]:
    """Checks every run's experiment (each point with each seed), by run name.

    Raises:
      binary.UserError: naming the first point (and seed) that does not plan.
    """
    several = several_seeds(seeds)
    plans = {}
    for name, point in points.items():
        for seed in seeds or [None]:
            bindings = base_bindings + point_bindings(point)
            if seed is not None:
                bindings.append(seed_runs.seed_binding(seed))
            try:
                plans[sweep_results.run_name(name, seed, several)] = experiment.plan(
                    gin_files, bindings
                )
            except binary.UserError as e:
                where = f"point {name} ({point})" + (f" seed {seed}" if several else "")
                raise binary.UserError(f"{where}: {e}") from None
    return plans
