"""Wall time of a 4-point local sweep with 2 workers against serial (1 worker).

Group "sweep": `python -m launchers.sweep` over
`ReplayBufferManager.capacity=[500, 1000, 2000, 4000]` with the local
executor, `--max_parallel=1` (baseline) and `--max_parallel=2`, on a tiny
experiment (below): each point is a `launchers.run_experiment` job whose
train stage (20 SAC steps of 8-unit networks from the starter buffer, one
checkpoint and policy export at the end) and eval stage (one one-day
episode of the trained policy and the schedule baseline) are each a fresh
Python process. So a point costs ~25 s, nearly all of it process start-up
(TensorFlow import, agent construction, tracing, SavedModel export): what a
sweep of short points parallelises.

The starter buffer all points share is populated once, before any timing
(`run_experiment --stages=populate` into a starter-buffer cache); every timed
sweep starts from a new directory holding a copy of that cache, so its
populate wave finds the buffer complete and only the points run. Each
repetition times both sweeps, alternating which goes first. Rows: the two
wall times (the sweep process end to end) and the speed-up, serial / 2
workers, of each repetition.

A repetition takes 3-4 minutes on 2 cores (the points cannot get much
cheaper: two TensorFlow processes each), so the group runs only with `--full`
or `--only sweep`, and not with `--quick`.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import time
from typing import Dict, List

from bench import common

GROUP = "sweep"
SERIAL = "4-point local sweep, 1 worker (serial), wall"
PARALLEL = "4-point local sweep, 2 workers, wall"
SPEEDUP = "speed-up of 2 workers: serial wall / 2-worker wall"
SWEEP = "ReplayBufferManager.capacity=[500, 1000, 2000, 4000]"
DEFAULT = False  # run_all: only with --full or --only sweep
QUICK = False  # run_all skips this group with --quick

TINY_EXPERIMENT = """
include 'experiments/building_sac.gin'
SEED = 3
populate_starter_buffer.num_runs = 1
populate_starter_buffer.steps_per_run = 48
BuildingEnvironment.episode_days = 1
TrainConfig.num_train_steps = 20
TrainConfig.batch_size = 8
TrainConfig.eval_interval = 0
TrainConfig.checkpoint_interval = 0
TrainConfig.policy_save_interval = 0
TrainConfig.summary_interval = 0
train_eval.initial_collect_steps = 0
create_sac_agent.actor_fc_layers = (8,)
create_sac_agent.critic_joint_fc_layers = (8,)
evaluation_set.episodes_per_season = 1
evaluation_set.episode_days = 1
"""


def _launch(module: str, args: List[str]) -> None:
    common.run_python(["-m", module, *args])


def _timed_sweep(work: str, experiment: str, cache: str, workers: int) -> float:
    root = tempfile.mkdtemp(prefix=f"sweep_{workers}w_", dir=work)
    shutil.copytree(cache, os.path.join(root, "starter_buffers"))
    start = time.perf_counter()
    _launch(
        "launchers.sweep",
        [
            f"--gin_file={experiment}",
            f"--root_dir={root}",
            f"--max_parallel={workers}",
            f"--sweep={SWEEP}",
        ],
    )
    elapsed = time.perf_counter() - start
    with open(os.path.join(root, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    if len(rows) != 4 or any(r["status"] != "complete" for r in rows):
        raise RuntimeError(f"sweep in {root} did not complete 4 points: {rows}")
    if os.listdir(os.path.join(root, "starter_buffers")) != os.listdir(cache):
        raise RuntimeError("the timed sweep populated a starter buffer of its own")
    shutil.rmtree(root, ignore_errors=True)
    return elapsed


def run(repetitions: int = 3) -> List[dict]:
    work = tempfile.mkdtemp(prefix="bench_sweep_")
    try:
        experiment = os.path.join(work, "tiny_experiment.gin")
        with open(experiment, "w") as f:
            f.write(TINY_EXPERIMENT)
        cache = os.path.join(work, "starter_buffers")
        _launch(
            "launchers.run_experiment",
            [
                f"--gin_file={experiment}",
                f"--root_dir={os.path.join(work, 'populate')}",
                f"--starter_buffer_cache={cache}",
                "--stages=populate",
            ],
        )
        walls: Dict[int, List[float]] = {1: [], 2: []}
        for repetition in range(repetitions):
            order = (1, 2) if repetition % 2 == 0 else (2, 1)
            for workers in order:
                walls[workers].append(_timed_sweep(work, experiment, cache, workers))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    speedups = [s / p for s, p in zip(walls[1], walls[2])]
    return [
        common.row(GROUP, SERIAL, "s", walls[1]),
        common.row(GROUP, PARALLEL, "s", walls[2], SERIAL),
        common.row(GROUP, SPEEDUP, "x", speedups),
    ]
