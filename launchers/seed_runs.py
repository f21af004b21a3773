"""Runs of several seeds: the seed list, each seed's run, the root's record.

A run of several seeds (`run_experiment --seeds=0,1,2`, a sweep point with
seeds) is a directory whose `seed_<k>/` subdirectories are ordinary
experiment runs, each with `SEED = k` bound (experiments wire the SEED macro
to every stage's seed, so each seed also has its own starter buffer). The
root's run.json records the layout, the seeds and each seed's status; it
says "complete" only when every seed's run is complete (written last), so
a launcher that resumes skips exactly the complete seeds.

`plan_seeds` and `run_seeds` are run_experiment's: it plans every seed before
anything runs, then runs them one after the other and writes the across-seed
summary (launchers/seed_summary.py). A sweep runs each seed as a job of its own.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from launchers import experiment, run_records, seed_summary
from smart_control.reinforcement_learning.utils import binary, run_files

SEED_MACRO = "SEED"
LAYOUT = "seeds"
NOT_RUN = "not run"
_SEED_BINDING = re.compile(rf"^\s*{SEED_MACRO}\s*=")


def parse_seeds(
    values: Optional[Sequence[Any]], source: str = "--seeds"
) -> Optional[List[int]]:
    """[0, 1, 2] from ['0', '1', '2'] (a list flag) or a sweep axis; None if not given.

    Raises:
      binary.UserError: naming `source` for a value that is not an integer
        >= 0, or a seed given twice.
    """
    if values is None:
        return None
    seeds = []
    for value in values:
        text = str(value).strip()
        if isinstance(value, bool) or not re.fullmatch(r"\d+", text):
            raise binary.UserError(f"{source}: seeds are integers >= 0, got {value!r}")
        seeds.append(int(text))
    if not seeds:
        raise binary.UserError(f"{source}: no seed given")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise binary.UserError(f"{source}: seed(s) {repeated} given twice")
    return seeds


def seed_binding(seed: int) -> str:
    """The binding that runs an experiment with seed `seed`."""
    return f"{SEED_MACRO} = {seed}"


def binds_seed(bindings: Sequence[str]) -> bool:
    """Whether a binding sets the SEED macro."""
    return any(_SEED_BINDING.match(b) for b in bindings)


def run_status(run_dir: str) -> str:
    """The status in a run directory's run.json ('not run' without one)."""
    record = run_records.read_json(os.path.join(run_dir, run_files.RUN_FILE))
    return (record or {}).get("status", NOT_RUN)


def seed_dirs(root_dir: str, seeds: Sequence[int]) -> Dict[int, str]:
    """{seed: its run directory}."""
    return {seed: run_files.seed_run_dir(root_dir, seed) for seed in seeds}


def statuses(root_dir: str, seeds: Sequence[int]) -> Dict[int, str]:
    """{seed: the status of its run}."""
    return {seed: run_status(path) for seed, path in seed_dirs(root_dir, seeds).items()}


def overall_status(seed_statuses: Mapping[int, str]) -> str:
    """'complete' when every seed is; else the first failed, interrupted, ... one."""
    values = set(seed_statuses.values())
    if values == {"complete"}:
        return "complete"
    for status in ("failed", "interrupted", "running", "partial", NOT_RUN):
        if status in values:
            return status
    return "incomplete"


def check_layout(root_dir: str, several_seeds: bool) -> None:
    """Refuses a root_dir that holds the other layout (one run / several seeds).

    Raises:
      binary.UserError: naming the directory and what it holds.
    """
    record = run_records.read_json(os.path.join(root_dir, run_files.RUN_FILE))
    if not record:
        return
    holds_seeds = record.get("layout") == LAYOUT
    if several_seeds and not holds_seeds:
        raise binary.UserError(
            f"{root_dir} holds a run of one seed; give several seeds a new --root_dir"
        )
    if not several_seeds and holds_seeds:
        raise binary.UserError(
            f"{root_dir} holds a run of seeds {record.get('seeds')}; resume it with "
            "--seeds or give a new --root_dir"
        )


def write_record(
    root_dir: str,
    seeds: Sequence[int],
    fields: Optional[Mapping[str, Any]] = None,
    ended: bool = False,
) -> Dict[str, Any]:
    """Writes the root's run.json from the seeds' own run.json files.

    Args:
      root_dir: The run of several seeds.
      seeds: Its seeds.
      fields: More fields (command, gin files, bindings, ...).
      ended: Also record the end time.

    Returns:
      The record: layout, seeds, per seed its directory and status, the
      overall status (`overall_status`), `fields`.
    """
    path = os.path.join(root_dir, run_files.RUN_FILE)
    record = run_records.read_json(path) or {"started_at": run_records.now()}
    seed_statuses = statuses(root_dir, seeds)
    record.update(fields or {})
    record.update(
        layout=LAYOUT,
        seeds=list(seeds),
        runs={
            str(seed): {
                "dir": os.path.basename(run_files.seed_run_dir(root_dir, seed)),
                "status": status,
            }
            for seed, status in seed_statuses.items()
        },
        status=overall_status(seed_statuses),
    )
    if ended:
        record["ended_at"] = run_records.now()
    os.makedirs(root_dir, exist_ok=True)
    run_records.write_json(path, record)
    return record


def plan_seeds(
    gin_files: List[str], bindings: List[str], seeds: Optional[List[int]]
) -> Dict[Optional[int], experiment.Plan]:
    """The experiment planned once per seed ({None: plan} without --seeds).

    Raises:
      binary.UserError: if seeds are given but the experiment has no SEED
        macro to bind them to, or a seed's experiment does not plan.
    """
    if seeds is None:
        return {None: experiment.plan(gin_files, bindings)}
    if experiment.plan(gin_files, bindings).seed is None:
        raise binary.UserError(
            "--seeds: the experiment defines no SEED macro (experiments bind "
            "SEED = 0 and wire %SEED to every stage's seed)"
        )
    return {
        seed: experiment.plan(gin_files, bindings + [seed_binding(seed)])
        for seed in seeds
    }


def run_seeds(
    root_dir: str,
    plans: Dict[int, experiment.Plan],
    run_one: Callable[[str, experiment.Plan], Any],
    mode: str = "embedded",
) -> Dict[str, Any]:
    """Runs each seed's plan into seed_<k>/ (complete seeds skipped); returns run.json.

    A seed that fails is recorded and the next one runs; Ctrl-C stops them
    all. The across-seed summary.md and results.csv are written at the end
    from every seed evaluated so far.

    Args:
      root_dir: The run of several seeds.
      plans: {seed: its planned experiment}.
      run_one: Runs one plan into a run directory, `run_one(seed_dir, plan)`
        (run_experiment's `run` with the run's stages, cache and topology).
      mode: The runs' topology (recorded).

    Raises:
      binary.UserError: if the seeds were evaluated on other episodes.
    """
    seeds = list(plans)
    fields = {
        "command": sys.argv,
        "gin_files": next(iter(plans.values())).gin_files,
        "gin_bindings": [
            b for b in next(iter(plans.values())).bindings if not binds_seed([b])
        ],
        "mode": mode,
        "host": socket.gethostname(),
        "git_commit": run_records.git_commit(),
    }
    record = write_record(root_dir, seeds, fields)
    try:
        for index, (seed, plan) in enumerate(plans.items(), start=1):
            seed_dir = run_files.seed_run_dir(root_dir, seed)
            if run_status(seed_dir) == "complete":
                print(f"[seed {seed}] complete: skipped ({seed_dir})", flush=True)
                continue
            print(f"[seed {seed}] run {index} of {len(seeds)}: {seed_dir}", flush=True)
            os.makedirs(seed_dir, exist_ok=True)
            try:
                run_one(seed_dir, plan)
            except binary.UserError as e:
                print(f"[seed {seed}] failed: {e}", file=sys.stderr, flush=True)
            record = write_record(root_dir, seeds)
    finally:
        record = write_record(root_dir, seeds, ended=True)
    try:
        outputs = seed_summary.write_seed_outputs(
            root_dir,
            f"{root_dir}: seeds {', '.join(str(s) for s in seeds)}",
            seed_dirs(root_dir, seeds),
            statuses(root_dir, seeds),
        )
    except ValueError as e:
        raise binary.UserError(str(e)) from None
    record["summary"] = {
        "summary": outputs["summary"],
        "results": outputs["results"],
        "seeds_evaluated": sorted(outputs["reports"]),
    }
    run_records.write_json(os.path.join(root_dir, run_files.RUN_FILE), record)
    return record
