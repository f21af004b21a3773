"""Names of the files and directories runs write, in one TensorFlow-free place.

Libraries, binaries and launchers (which must not import TensorFlow) read
and write these; a name is spelt here once.

    <experiment run>/            launchers/run_experiment.py
      run.json                   RUN_FILE
      experiment.gin             EXPERIMENT_CONFIG_FILE
      starter_buffer.json        STARTER_BUFFER_FILE
      starter_buffer/            STARTER_BUFFER_DIR (a populate buffer dir)
      train/                     TRAIN_STAGE_DIR (a training run dir, below)
      eval_report/               EVAL_REPORT_DIR (metrics.json, plots/)
      logs/<stage>.log           LOGS_DIR

    <experiment run of seeds>/   run_experiment --seeds=0,1,2 (a sweep point too)
      run.json                   RUN_FILE (the seeds and each one's status)
      summary.md                 RUN_SUMMARY_FILE (across seeds)
      results.csv                RUN_RESULTS_FILE (per seed, across seeds)
      seed_<k>/                  seed_run_dir(): an experiment run (above)

    <populate buffer dir>/       populate_starter_buffer
      populate.json              POPULATE_STATE_FILE
      (the replay buffer's own files, see replay_buffer/checkpoint_store.py)

    <training run dir>/          train.py (both topologies)
      DONE                       DONE_FILE
      operative_config.gin       OPERATIVE_CONFIG_FILE
      train/ eval/ policies/     see training/run_dir.py
      replay_buffer/             REPLAY_BUFFER_DIR (server.json while served)
      collect/task_<k>/stats.json  COLLECT_DIR, COLLECTOR_STATS_FILE
"""

from __future__ import annotations

import os

# Every binary's output.
OPERATIVE_CONFIG_FILE = "operative_config.gin"
LOGS_DIR = "logs"

# An experiment run (run_experiment).
RUN_FILE = "run.json"
EXPERIMENT_CONFIG_FILE = "experiment.gin"
STARTER_BUFFER_FILE = "starter_buffer.json"
STARTER_BUFFER_DIR = "starter_buffer"
TRAIN_STAGE_DIR = "train"
EVAL_REPORT_DIR = "eval_report"

# An experiment run of several seeds (its seeds are experiment runs).
SEED_RUN_DIR_PREFIX = "seed_"
RUN_SUMMARY_FILE = "summary.md"
RUN_RESULTS_FILE = "results.csv"

# A sweep.
SWEEP_FILE = "sweep.json"
SWEEP_RESULTS_FILE = "results.csv"
SWEEP_SUMMARY_FILE = "summary.md"

# A populate buffer directory.
POPULATE_STATE_FILE = "populate.json"

# A training run directory.
DONE_FILE = "DONE"
REPLAY_BUFFER_DIR = "replay_buffer"
SERVER_FILE = "server.json"
COLLECT_DIR = "collect"
COLLECTOR_STATS_FILE = "stats.json"
GREEDY_POLICY = os.path.join("policies", "greedy_policy")

# An evaluation report.
EVAL_METRICS_FILE = "metrics.json"


def seed_run_dir(root_dir: str, seed: int) -> str:
    """The run directory of seed `seed` in a run of several seeds."""
    return os.path.join(root_dir, f"{SEED_RUN_DIR_PREFIX}{seed}")


def collector_dir(run_dir: str, task: int) -> str:
    """Where collector `task` of a distributed run writes its summaries and stats."""
    return os.path.join(run_dir, COLLECT_DIR, f"task_{task}")
