"""utils/run_files.py: the run directories' names, importable without TensorFlow."""

import os
import subprocess
import sys

from smart_control.reinforcement_learning.utils import run_files


def test_collector_dir_is_per_task_under_collect():
    assert run_files.collector_dir("/runs/a", 0) == "/runs/a/collect/task_0"
    assert run_files.collector_dir("runs/a", 12) == os.path.join(
        "runs/a", run_files.COLLECT_DIR, "task_12"
    )


def test_the_launchers_can_import_it_without_tensorflow():
    # A fresh interpreter: this test process has TensorFlow loaded already.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from smart_control.reinforcement_learning.utils import run_files\n"
            "heavy = {'tensorflow', 'reverb', 'tf_agents', 'gin'} & set(sys.modules)\n"
            "print(sorted(heavy))\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _names(*constants):
    return [os.path.normpath(c).split(os.sep)[0] for c in constants]


def test_the_entries_of_one_directory_have_distinct_relative_names():
    experiment_run = _names(
        run_files.RUN_FILE,
        run_files.EXPERIMENT_CONFIG_FILE,
        run_files.STARTER_BUFFER_FILE,
        run_files.STARTER_BUFFER_DIR,
        run_files.TRAIN_STAGE_DIR,
        run_files.EVAL_REPORT_DIR,
        run_files.LOGS_DIR,
    )
    training_run = _names(
        run_files.DONE_FILE,
        run_files.OPERATIVE_CONFIG_FILE,
        run_files.REPLAY_BUFFER_DIR,
        run_files.COLLECT_DIR,
        run_files.LOGS_DIR,
        run_files.GREEDY_POLICY,
        "train",
        "eval",
    )
    sweep = _names(
        run_files.SWEEP_FILE,
        run_files.SWEEP_RESULTS_FILE,
        run_files.SWEEP_SUMMARY_FILE,
        run_files.LOGS_DIR,
        "points",
        "starter_buffers",
    )
    for entries in (experiment_run, training_run, sweep):
        assert len(set(entries)) == len(entries), entries
        for entry in entries:
            assert entry and not os.path.isabs(entry) and entry != ".."
