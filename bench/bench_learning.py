"""Learning row: env steps and wall time until the greedy policy beats the schedule.

Group "learning" (only with `run_all --full` or `--only learning`): plain SAC
(experiments/building_sac.gin) and the residual policy
(experiments/building_residual_sac.gin), seeds 0, 1 and 2, each a
`launchers.run_experiment --seeds=<k> --stages=populate,train` run of the
shipped experiment (its starter buffer, agent and evaluation set: 12
one-week episodes, three per season) with a periodic evaluation every
EVAL_INTERVAL train steps (one env step per train step), up to BUDGET env
steps.

"Beats the schedule" is launchers/verdict.py's, on an eval/metrics.jsonl
record's year-round columns: the paired 95% interval of the cost difference
policy - schedule (per episode, same episodes) lies below zero
(`difference/cost/ci_high < 0`) and the mean comfort-violation difference
is not above zero (`difference/comfort_kh/mean <= 0`). The result is the
first record that does and whose next evaluation does too (CONFIRMATIONS: a
run is evaluated some 30 times, and one interval below zero can be luck);
the run is then stopped (SIGTERM: it commits and exits), since nothing after
it changes the row.

Rows per variant, one value per seed (run_all shows the median over seeds):

  * env steps of training until the first evaluation that beats the
    schedule (the record's `env_steps`; the starter buffer's schedule steps
    are not counted). A seed that never beats it within BUDGET counts as
    BUDGET, a lower bound;
  * wall time until then: the record's `elapsed_s`, seconds since the train
    loop started (training and its periodic evaluations; process start-up
    and populate excluded). A seed that never beats it counts the last
    evaluation's, a lower bound.

The residual rows' baseline is plain SAC's (x baseline = residual / plain).
Target (run_all.TARGETS): <= 25,000 env steps for both; aim <= 10,000 with
the residual policy. Every row carries `details`: per seed its run
directory, the first beating evaluation (or None) with its cost and comfort
differences, and the number of evaluations. The runs are kept under
BENCH_LEARNING_DIR (default bench/results/learning/<time>/) for their
learning curves (train/eval/metrics.jsonl, TensorBoard).

With `--quick` it checks the code path only: one seed of each variant at a
tiny size (one-day episodes, 8-unit networks, QUICK_TRAIN_STEPS train steps,
an evaluation every QUICK_EVAL_INTERVAL), in a temporary directory; its rows
are in group "learning (quick smoke test)", which has no target, and claim
nothing.

A full run: 6 runs of up to 30,000 SAC steps each, up to a few hours on 2
cores (issue 13 measured 25,000 SAC steps in about 13 minutes); less when
the policies beat the schedule early.

    PYTHONPATH=. python -m bench.bench_learning [--quick] [--variant=residual]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from bench import common
from launchers import verdict
from smart_control.reinforcement_learning.training import run_dir as run_dir_lib
from smart_control.reinforcement_learning.utils import run_files

GROUP = "learning"
QUICK_GROUP = "learning (quick smoke test)"
DEFAULT = False  # run_all: only with --full or --only learning
PLAIN = "plain SAC"
RESIDUAL = "residual SAC"
VARIANTS = {
    PLAIN: "experiments/building_sac.gin",
    RESIDUAL: "experiments/building_residual_sac.gin",
}
SEEDS = (0, 1, 2)
BUDGET = 30_000  # env steps (= train steps: one collect step per train step)
EVAL_INTERVAL = 1_000  # train steps between evaluations
TARGET = 25_000
RESIDUAL_AIM = 10_000
FULL_BINDINGS = (
    f"TrainConfig.num_train_steps = {BUDGET}",
    f"TrainConfig.eval_interval = {EVAL_INTERVAL}",
    "TrainConfig.checkpoint_interval = 10000",
    f"TrainConfig.policy_save_interval = {BUDGET}",
)
QUICK_SEEDS = (0,)
QUICK_TRAIN_STEPS = 40
QUICK_EVAL_INTERVAL = 20
QUICK_BINDINGS = (
    "populate_starter_buffer.num_runs = 1",
    "populate_starter_buffer.steps_per_run = 48",
    "BuildingEnvironment.episode_days = 1",
    f"TrainConfig.num_train_steps = {QUICK_TRAIN_STEPS}",
    f"TrainConfig.eval_interval = {QUICK_EVAL_INTERVAL}",
    "TrainConfig.batch_size = 8",
    "TrainConfig.checkpoint_interval = 0",
    "TrainConfig.policy_save_interval = 0",
    "ReplayBufferManager.capacity = 1000",
    "create_sac_agent.actor_fc_layers = (8,)",
    "create_sac_agent.critic_joint_fc_layers = (8,)",
    "evaluation_set.episodes_per_season = 1",
    "evaluation_set.episode_days = 1",
)
RUNS_DIR_ENV = "BENCH_LEARNING_DIR"
POLL_S = 5.0
# A beat counts once the next evaluation beats the schedule too (first_beat).
CONFIRMATIONS = 1


# -- the result of one run ---------------------------------------------------


def read_records(run_dir: str) -> List[Dict[str, Any]]:
    """The eval/metrics.jsonl records of an experiment run (a torn last line skipped)."""
    path = os.path.join(
        run_dir, run_files.TRAIN_STAGE_DIR, run_dir_lib.EVAL_METRICS_FILE
    )
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                break  # being written
    return records


def beats(record: Mapping[str, Any]) -> bool:
    """Whether an evaluation record's policy beats the schedule (verdict.py)."""
    result = verdict.from_columns(record.get("columns") or {})
    return result is not None and bool(result.beats)


def first_beat(
    records: Sequence[Mapping[str, Any]], confirmations: int = 0
) -> Optional[Mapping[str, Any]]:
    """The first evaluation (by env steps) whose policy beats the schedule.

    Beats: launchers/verdict.py on the record's year-round `columns`
    (paired cost difference's 95% interval below zero, comfort difference's
    not above zero). Records without a verdict (no schedule, one episode)
    never beat it.

    Args:
      records: A run's eval/metrics.jsonl records.
      confirmations: How many evaluations right after it must beat the
        schedule too (a beat not yet followed by them does not count): a
        run evaluated every 1,000 steps tests its policy some 30 times, so a
        single interval below zero can be luck.
    """
    ordered = sorted(records, key=lambda r: (r["env_steps"], r["train_step"]))
    flags = [beats(r) for r in ordered]
    for index in range(len(ordered) - confirmations):
        if all(flags[index : index + confirmations + 1]):
            return ordered[index]
    return None


def _differences(record: Mapping[str, Any]) -> Dict[str, Any]:
    result = verdict.from_columns(record.get("columns") or {})
    if result is None:
        return {}
    return {
        "beats": result.beats,
        "cost_difference": result.cost,
        "comfort_difference": result.comfort,
        "relative_cost": result.relative_cost,
    }


def outcome(
    records: Sequence[Mapping[str, Any]],
    budget: int,
    confirmations: int = 0,
) -> Dict[str, Any]:
    """A run's row values and details from its evaluation records.

    Returns:
      {"env_steps": of the first beating evaluation, else `budget`;
      "wall_s": its elapsed_s, else the last evaluation's (None without
      one); "beat": that evaluation's steps and differences, or None;
      "evaluations": count; "last": the last evaluation's steps and
      differences}.
    """
    beat = first_beat(records, confirmations)
    last = max(records, key=lambda r: r["env_steps"]) if records else None

    def brief(record):
        if record is None:
            return None
        return {
            "env_steps": record["env_steps"],
            "train_step": record["train_step"],
            "elapsed_s": record.get("elapsed_s"),
            **_differences(record),
        }

    return {
        "env_steps": beat["env_steps"] if beat else budget,
        "wall_s": (beat or last or {}).get("elapsed_s"),
        "beat": brief(beat),
        "evaluations": len(records),
        "last": brief(last),
    }


# -- running -----------------------------------------------------------------


def run_seed(
    gin_file: str,
    seed: int,
    run_dir: str,
    bindings: Sequence[str],
    budget: int,
    stop_at_first_beat: bool = True,
) -> Dict[str, Any]:
    """Populate and train one seed with periodic evaluations; its `outcome`.

    Raises:
      RuntimeError: naming the log if the run fails before beating the
        schedule.
    """
    os.makedirs(run_dir, exist_ok=True)
    log_path = run_dir + ".log"
    command = [
        sys.executable,
        "-m",
        "launchers.run_experiment",
        f"--gin_file={gin_file}",
        f"--root_dir={run_dir}",
        f"--seeds={seed}",
        "--stages=populate,train",
        *[f"--gin_bindings={b}" for b in bindings],
    ]
    started = time.monotonic()
    stopped = False
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            command,
            cwd=common.REPO_ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while process.poll() is None:
                time.sleep(POLL_S)
                if stop_at_first_beat and first_beat(
                    read_records(run_dir), CONFIRMATIONS
                ):
                    # Nothing after the first beat changes the row: stop the
                    # run (run_experiment stops its train stage, which commits).
                    process.send_signal(signal.SIGTERM)
                    stopped = True
                    process.wait(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    records = read_records(run_dir)
    result = outcome(records, budget, CONFIRMATIONS)
    if process.returncode != 0 and not (stopped and result["beat"]):
        raise RuntimeError(
            f"{gin_file} seed {seed} failed (exit {process.returncode}); see {log_path}"
        )
    result.update(
        seed=seed,
        run_dir=run_dir,
        stopped_at_first_beat=stopped,
        process_wall_s=round(time.monotonic() - started, 1),
    )
    return result


def measure(
    work_dir: str,
    variants: Mapping[str, str],
    seeds: Sequence[int],
    bindings: Sequence[str],
    budget: int,
) -> Dict[str, List[Dict[str, Any]]]:
    """{variant: [run_seed outcome per seed]}, seeds interleaved across variants."""
    results: Dict[str, List[Dict[str, Any]]] = {label: [] for label in variants}
    for seed in seeds:
        for label, gin_file in variants.items():
            slug = label.replace(" ", "_")
            results[label].append(
                run_seed(
                    gin_file,
                    seed,
                    os.path.join(work_dir, slug, f"seed_{seed}"),
                    bindings,
                    budget,
                )
            )
    return results


def rows(results: Mapping[str, List[Dict[str, Any]]], group: str) -> List[dict]:
    """Two rows per variant (env steps, wall time); residual's baseline is plain's."""
    out = []
    for label, outcomes in results.items():
        details = [
            {k: o[k] for k in ("seed", "run_dir", "beat", "evaluations", "last")}
            for o in outcomes
        ]
        for key, unit, what in (
            ("env_steps", "env steps", "env steps of training"),
            ("wall_s", "s", "wall time of training"),
        ):

            def name(variant, what=what):
                return (
                    f"{what} until the greedy policy beats the schedule "
                    f"(year-round cost, comfort no worse), {variant}"
                )

            values = [o[key] for o in outcomes if o[key] is not None]
            row = common.row(
                group,
                name(label),
                unit,
                values,
                baseline=name(PLAIN) if label != PLAIN and PLAIN in results else None,
            )
            row["details"] = details
            out.append(row)
    return out


def run(repetitions: int = 1, quick: bool = False, full: bool = False) -> List[dict]:
    """The learning rows (`repetitions` is ignored: the seeds are the repetitions).

    Args:
      repetitions: Unused; 3 seeds (1 with `quick`).
      quick: Tiny smoke test of the code path, no result claimed.
      full: Unused (the group runs only with --full or --only).
    """
    del repetitions, full
    if quick:
        work_dir = tempfile.mkdtemp(prefix="bench_learning_")
        try:
            results = measure(
                work_dir, VARIANTS, QUICK_SEEDS, QUICK_BINDINGS, QUICK_TRAIN_STEPS
            )
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        return rows(results, QUICK_GROUP)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work_dir = os.environ.get(RUNS_DIR_ENV) or os.path.join(
        common.REPO_ROOT, "bench", "results", "learning", stamp
    )
    print(f"[bench] learning runs in {work_dir}", file=sys.stderr, flush=True)
    results = measure(work_dir, VARIANTS, SEEDS, FULL_BINDINGS, BUDGET)
    return rows(results, GROUP)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke test")
    parser.add_argument(
        "--variant", choices=("plain", "residual"), help="one variant only"
    )
    parser.add_argument("--seeds", default=None, help="e.g. 0,1,2")
    parser.add_argument("--root_dir", default=None, help="where the runs go")
    args = parser.parse_args(argv)
    variants = dict(VARIANTS)
    if args.variant:
        label = PLAIN if args.variant == "plain" else RESIDUAL
        variants = {label: VARIANTS[label]}
    seeds = (
        [int(s) for s in args.seeds.split(",")]
        if args.seeds
        else list(QUICK_SEEDS if args.quick else SEEDS)
    )
    work_dir = args.root_dir or tempfile.mkdtemp(prefix="bench_learning_")
    bindings, budget = (
        (QUICK_BINDINGS, QUICK_TRAIN_STEPS) if args.quick else (FULL_BINDINGS, BUDGET)
    )
    results = measure(work_dir, variants, seeds, bindings, budget)
    for row in rows(results, QUICK_GROUP if args.quick else GROUP):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
