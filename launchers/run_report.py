"""What run_experiment prints when it ends: the run's stages and its evaluation.

Of one run: each stage's status and wall time (and of a distributed train
stage, each process's restarts and work), then the evaluation against the
schedule with the verdict (launchers/summary.py). Of several seeds: each
seed's status and stage times, then the across-seed table and each seed's
verdict (launchers/seed_summary.py). Everything printed is read back from the
run directory (run.json, the evaluation reports), so it is the same whether
the stages ran now or in an earlier, resumed invocation.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from launchers import experiment, run_records, seed_runs, seed_summary, summary
from smart_control.reinforcement_learning.utils import run_files


def _ordered_stages(record: Dict[str, Any]) -> List[Any]:
    """(name, stage) in run order (run.json is written with sorted keys)."""
    order = list(experiment.STAGES)
    return sorted(
        record.get("stages", {}).items(),
        key=lambda item: order.index(item[0]) if item[0] in order else len(order),
    )


def _stage_times(record: Dict[str, Any]) -> str:
    parts = []
    for name, stage in _ordered_stages(record):
        took = f" {stage['wall_time_s']:.0f} s" if "wall_time_s" in stage else ""
        status = "" if stage["status"] == "complete" else f" {stage['status']}"
        parts.append(f"{name}{status}{took}")
    return ", ".join(parts)


def print_summary(
    root_dir: str,
    record: Dict[str, Any],
    next_experiment: Optional[summary.NextExperiment] = None,
) -> None:
    """Prints one run's stages, evaluation table and verdict."""
    print(f"Run {record['status']}: {root_dir}")
    for name, stage in _ordered_stages(record):
        took = f" in {stage['wall_time_s']} s" if "wall_time_s" in stage else ""
        print(f"  {name:9s} {stage['status']}{took}")
        if stage.get("mode") == "distributed":
            _print_distributed_summary(stage)
    report = summary.load_report(root_dir)
    if report:
        print()
        print(
            summary.format_one_run(
                report, summary.training_progress(root_dir), next_experiment
            ),
            end="",
        )
        print(f"  metrics: {summary.eval_report_path(root_dir)}")
    print(f"  TensorBoard: tensorboard --logdir={os.path.join(root_dir, 'train')}")


def print_seeds_summary(
    root_dir: str,
    record: Dict[str, Any],
    next_experiment: Optional[summary.NextExperiment] = None,
) -> None:
    """Prints each seed's status, the across-seed table and each seed's verdict."""
    seeds = record["seeds"]
    print(f"Run {record['status']}: {root_dir} (seeds {', '.join(map(str, seeds))})")
    for seed in seeds:
        seed_dir = run_files.seed_run_dir(root_dir, seed)
        seed_record = (
            run_records.read_json(os.path.join(seed_dir, run_files.RUN_FILE)) or {}
        )
        status = seed_record.get("status", seed_runs.NOT_RUN)
        print(f"  seed {seed:<5d} {status:9s} {_stage_times(seed_record)}")
    reports = seed_summary.load_seed_reports(seed_runs.seed_dirs(root_dir, seeds))
    if reports:
        print()
        print(seed_summary.format_seed_table(seed_summary.aggregate_seeds(reports)))
        print(seed_summary.format_seed_verdicts(reports, next_experiment), end="")
    outputs = record.get("summary", {})
    for name in ("summary", "results"):
        if name in outputs:
            print(f"  {name}: {outputs[name]}")
    print(
        f"  TensorBoard: tensorboard --logdir={root_dir} (each seed_<k>/train is a run)"
    )


def _print_distributed_summary(stage: Dict[str, Any]) -> None:
    processes = (stage.get("processes") or {}).get("processes", {})
    collectors = stage.get("collectors") or {}
    for name, process in processes.items():
        text = f"    {name:12s} restarts {process['restarts']}"
        stats = collectors.get(name)
        if stats:
            text += (
                f", {stats['env_steps']:,} env steps, {stats['items_written']:,} items "
                f"written, {stats['weight_updates']} weight updates, "
                f"{stats['replay_server_outages']} server outages survived"
            )
        trainer = stage.get("trainer")
        if name == "trainer" and trainer:
            text += (
                f", {trainer['train_step']:,} train steps, "
                f"{trainer['weight_pushes']} weight pushes, buffer "
                f"{trainer['replay_buffer_frames']:,} items"
            )
        print(text)
