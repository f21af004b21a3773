"""Benchmark of the train loop against a plain TF-Agents Actor + Learner loop.

Both loops train the same SAC agent (`create_sac_agent` defaults: 256x256
networks, Adam 3e-4, batch 256, one gradient step per environment step) on
Gym Pendulum-v1 after 1,000 random steps, with an in-process Reverb server
(uniform sampler, MinSize(1) limiter). The plain loop is the wiring of
tf_agents/examples/sac/haarnoja18/sac_train_eval.py: `as_dataset(...)
.prefetch(50)`, `collect_actor.run(); learner.run(iterations=1)`.

`run()` reports learner steps per second (wall clock, and per CPU-second
of the process: all its threads) over `iterations` collect+train
iterations after `warmup` more (the first train call traces the train step,
seconds that would swamp a short run), each loop in a fresh subprocess,
alternating, so that machine load drifts hit both alike. The clock runs from
the start of the first measured `Learner.run` call to the end of the last
one, in both loops. Evaluation and checkpoints are off in both.

With `full` (`run_all --full`), it also measures the quality bar once per
repetition: both loops train to 10,000 env steps with evaluations (10
greedy episodes) every 1,000 env steps, ours as the real binary with
configs/train/pendulum_sac.gin; rows: the first env step with mean eval
return >= -200 and the wall time to get there (about 10 minutes a
repetition).

With `run_all --profile train`, each child writes a cProfile of its loop to
<out>/profile_train_<loop>_<pid>.txt.

    PYTHONPATH=. python bench/bench_train.py                 # steps/s rows
    PYTHONPATH=. python bench/bench_train.py --quality       # quality bar
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Iterator, List, Optional

# Not `from bench import common`: this file also runs as a script.
_CHILD_PROFILE_ENV = "BENCH_CHILD_PROFILE"

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OURS = "train loop (train_eval, SAC Pendulum-v1, batch 256)"
_PLAIN = "plain TF-Agents Actor+Learner (same agent and settings)"
_INITIAL_COLLECT_STEPS = 1000
_BATCH_SIZE = 256
_CAPACITY = 100_000
_TARGET_RETURN = -200.0
_ITERATIONS = 120
_WARMUP = 20


# -- the two loops, each run in a subprocess --------------------------------


@contextlib.contextmanager
def _learner_clock() -> Iterator[List[tuple]]:
    """Records (wall, cpu) at the start and end of every `Learner.run` call."""
    from tf_agents.train import learner

    marks: List[tuple] = []
    original = learner.Learner.run

    def run(self, *args, **kwargs):
        marks.append((time.monotonic(), time.process_time()))
        try:
            return original(self, *args, **kwargs)
        finally:
            marks.append((time.monotonic(), time.process_time()))

    learner.Learner.run = run
    try:
        yield marks
    finally:
        learner.Learner.run = original


def _rates(marks: List[tuple], warmup: int) -> dict:
    """Learner steps/s after the first `warmup` calls (one step per call)."""
    starts, ends = marks[0::2], marks[1::2]
    measured = len(ends) - warmup
    if measured < 1:
        raise RuntimeError(f"{len(ends)} learner calls, warm-up {warmup}")
    wall = ends[-1][0] - starts[warmup][0]
    cpu = ends[-1][1] - starts[warmup][1]
    return {
        "train_steps_per_s": measured / wall,
        "train_steps_per_cpu_s": measured / cpu,
        "measured_steps": measured,
    }


def _ours(iterations: int, root_dir: str, warmup: int = _WARMUP) -> dict:
    """Learner steps/s of `train_eval` with evaluation and checkpoints off."""
    import functools

    import gin

    from smart_control.reinforcement_learning.training import environments, train_eval
    from smart_control.reinforcement_learning.training.config import TrainConfig

    gin.bind_parameter("ReplayBufferManager.capacity", _CAPACITY)
    with _learner_clock() as marks:
        result = train_eval.train_eval(
            root_dir,
            config=TrainConfig(
                env_factory=functools.partial(
                    environments.load_gym_environment, "Pendulum-v1"
                ),
                num_train_steps=warmup + iterations,
                batch_size=_BATCH_SIZE,
                eval_interval=0,
                checkpoint_interval=0,
                policy_save_interval=0,
                summary_interval=1000,
            ),
            initial_collect_steps=_INITIAL_COLLECT_STEPS,
            show_progress=False,
        )
    return {**_rates(marks, warmup), "train_step": result.train_step}


def _plain(
    iterations: int,
    root_dir: str,
    warmup: int = _WARMUP,
    eval_interval: int = 0,
    eval_episodes: int = 10,
) -> dict:
    """The haarnoja18 wiring; with `eval_interval`, evaluates like ours does."""
    import reverb
    import tensorflow as tf
    from tf_agents.metrics import py_metrics
    from tf_agents.policies import greedy_policy, py_tf_eager_policy, random_py_policy
    from tf_agents.replay_buffers import reverb_replay_buffer, reverb_utils
    from tf_agents.train import actor, learner, triggers
    from tf_agents.train.utils import spec_utils, train_utils

    from smart_control.reinforcement_learning.agents import sac
    from smart_control.reinforcement_learning.training import environments

    start = time.monotonic()
    seed = 0
    tf.random.set_seed(seed)
    collect_env = environments.load_gym_environment("Pendulum-v1", seed=seed)
    _, action_spec, time_step_spec = spec_utils.get_tensor_specs(collect_env)
    train_step = train_utils.create_train_step()
    agent = sac.create_sac_agent(time_step_spec, action_spec, train_step)
    agent.initialize()

    table = reverb.Table(
        "uniform_table",
        max_size=_CAPACITY,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        rate_limiter=reverb.rate_limiters.MinSize(1),
    )
    server = reverb.Server([table], port=None)
    replay = reverb_replay_buffer.ReverbReplayBuffer(
        agent.collect_data_spec,
        sequence_length=2,
        table_name="uniform_table",
        local_server=server,
    )
    observer = reverb_utils.ReverbAddTrajectoryObserver(
        replay.py_client, "uniform_table", sequence_length=2, stride_length=1
    )

    def experience_dataset_fn():
        return replay.as_dataset(sample_batch_size=_BATCH_SIZE, num_steps=2).prefetch(
            50
        )

    learner_triggers = [triggers.StepPerSecondLogTrigger(train_step, interval=1000)]
    if eval_interval:
        # haarnoja18's policy exports. Left out of the speed runs: building
        # the trigger traces three policies (10-15 s of set-up, outside the
        # measured loop), and it never fires within them.
        learner_triggers.append(
            triggers.PolicySavedModelTrigger(
                os.path.join(root_dir, learner.POLICY_SAVED_MODEL_DIR),
                agent,
                train_step,
                interval=5000,
            )
        )
    agent_learner = learner.Learner(
        root_dir, train_step, agent, experience_dataset_fn, triggers=learner_triggers
    )
    random_policy = random_py_policy.RandomPyPolicy(
        collect_env.time_step_spec(), collect_env.action_spec(), seed=seed
    )
    actor.Actor(
        collect_env,
        random_policy,
        train_step,
        steps_per_run=_INITIAL_COLLECT_STEPS,
        observers=[observer],
    ).run()
    collect_actor = actor.Actor(
        collect_env,
        py_tf_eager_policy.PyTFEagerPolicy(agent.collect_policy, use_tf_function=True),
        train_step,
        steps_per_run=1,
        metrics=actor.collect_metrics(10),
        summary_dir=os.path.join(root_dir, learner.TRAIN_DIR),
        observers=[observer],
    )
    greedy = py_tf_eager_policy.PyTFEagerPolicy(
        greedy_policy.GreedyPolicy(agent.policy), use_tf_function=True
    )
    evals = []

    def evaluate(env_steps):
        eval_env = environments.load_gym_environment("Pendulum-v1", seed=seed + 1)
        average_return = py_metrics.AverageReturnMetric(buffer_size=eval_episodes)
        actor.Actor(
            eval_env,
            greedy,
            train_step,
            episodes_per_run=eval_episodes,
            metrics=[average_return],
        ).run()
        evals.append(
            {
                "env_steps": env_steps,
                "return": float(average_return.result()),
                "elapsed_s": time.monotonic() - start,
            }
        )

    if eval_interval:
        evaluate(_INITIAL_COLLECT_STEPS)
    with _learner_clock() as marks:
        for iteration in range(1, warmup + iterations + 1):
            collect_actor.run()
            agent_learner.run(iterations=1)
            env_steps = _INITIAL_COLLECT_STEPS + iteration
            if eval_interval and env_steps % eval_interval == 0:
                evaluate(env_steps)
    observer.close()
    server.stop()
    return {
        **_rates(marks, warmup),
        "train_step": int(train_step.numpy()),
        "evals": evals,
        "wall_time_s": time.monotonic() - start,
    }


def _in_subprocess(loop: str, iterations: int) -> dict:
    """Runs one loop in a new Python process; returns its JSON result."""
    with tempfile.TemporaryDirectory(prefix=f"bench_train_{loop}_") as root_dir:
        completed = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                f"--single={loop}",
                f"--iterations={iterations}",
                f"--root_dir={root_dir}",
            ],
            cwd=_REPO,
            env={**os.environ, "PYTHONPATH": _REPO, "TF_CPP_MIN_LOG_LEVEL": "2"},
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"{loop} loop failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(
    repetitions: int = 3, iterations: int = _ITERATIONS, full: bool = False
) -> list[dict]:
    """Learner steps/s of our loop and of the plain TF-Agents loop.

    Args:
      repetitions: Runs of each loop (alternating, each in a new process).
      iterations: Measured collect+train iterations per run (after 1,000
        random steps and `_WARMUP` unmeasured iterations).
      full: Also measure the quality bar (`quality()`) once per repetition.

    Returns:
      Rows {"group", "name", "unit", "values", "baseline"}: wall-clock steps/s
      and steps per CPU-second (process time of all threads, less sensitive
      to other processes sharing the cores), ours against the plain loop.
    """
    runs = {"ours": [], "plain": []}
    for repetition in range(repetitions):
        order = ("plain", "ours") if repetition % 2 == 0 else ("ours", "plain")
        for loop in order:
            runs[loop].append(_in_subprocess(loop, iterations))
    rows = []
    for key, unit, suffix in (
        ("train_steps_per_s", "steps/s", ""),
        ("train_steps_per_cpu_s", "steps/cpu-s", " (CPU time)"),
    ):
        rows.append(
            {
                "group": "train",
                "name": _OURS + suffix,
                "unit": unit,
                "values": [r[key] for r in runs["ours"]],
                "baseline": _PLAIN + suffix,
            }
        )
        rows.append(
            {
                "group": "train",
                "name": _PLAIN + suffix,
                "unit": unit,
                "values": [r[key] for r in runs["plain"]],
                "baseline": None,
            }
        )
    if full:
        rows += _quality_rows(repetitions)
    return rows


def _quality_rows(repetitions: int) -> list[dict]:
    results = []
    for _ in range(repetitions):
        with tempfile.TemporaryDirectory(prefix="bench_train_quality_") as root:
            results.append(quality(root))
    rows = []
    for key, unit, what in (
        ("env_steps", "env steps", "first env step with eval return >= -200"),
        ("elapsed_s", "s", "wall time to eval return >= -200"),
    ):
        names = {
            "ours": f"quality: {what}, ours (train binary)",
            "plain": f"quality: {what}, plain TF-Agents",
        }
        for loop in ("ours", "plain"):
            values = []
            for result in results:
                first = result[loop]["first_at_target"]
                # Never reaching the bar counts as the whole run (10,000 steps).
                if first is None:
                    values.append(10_000 if key == "env_steps" else float("nan"))
                else:
                    values.append(first[key])
            rows.append(
                {
                    "group": "train quality",
                    "name": names[loop],
                    "unit": unit,
                    "values": values,
                    "baseline": None if loop == "plain" else names["plain"],
                }
            )
    return rows


# -- the quality bar --------------------------------------------------------


def _first_at_target(evals: list[dict]) -> dict | None:
    return next((e for e in evals if e["return"] >= _TARGET_RETURN), None)


def quality(root_dir: str) -> dict:
    """SAC on Pendulum to 10,000 env steps: ours (the binary) and plain."""
    ours_dir = os.path.join(root_dir, "ours")
    start = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "smart_control.reinforcement_learning.scripts.train",
            f"--root_dir={ours_dir}",
            "--gin_file=train/pendulum_sac.gin",
        ],
        cwd=_REPO,
        env={**os.environ, "PYTHONPATH": _REPO},
        check=True,
    )
    ours_wall = time.monotonic() - start
    with open(os.path.join(ours_dir, "eval", "metrics.jsonl")) as f:
        ours_evals = [
            {
                "env_steps": r["env_steps"],
                "return": r["metrics"]["return"],
                "elapsed_s": r["elapsed_s"],
            }
            for r in map(json.loads, f)
        ]
    with open(os.path.join(ours_dir, "DONE")) as f:
        done = json.load(f)

    plain_dir = os.path.join(root_dir, "plain")
    start = time.monotonic()
    plain = _plain(
        10_000 - _INITIAL_COLLECT_STEPS, plain_dir, warmup=0, eval_interval=1000
    )
    plain_wall = time.monotonic() - start
    return {
        "ours": {
            "evals": ours_evals,
            "first_at_target": _first_at_target(ours_evals),
            "process_wall_time_s": ours_wall,
            "done": done,
        },
        "plain": {
            "evals": plain["evals"],
            "first_at_target": _first_at_target(plain["evals"]),
            "wall_time_s": plain_wall,
            "train_steps_per_s": plain["train_steps_per_s"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=_ITERATIONS)
    parser.add_argument(
        "--quality", action="store_true", help="measure the quality bar"
    )
    parser.add_argument(
        "--root_dir", default=None, help="where runs write (temp if unset)"
    )
    parser.add_argument("--single", choices=("ours", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        loop = _ours if args.single == "ours" else _plain
        prefix: Optional[str] = os.environ.get(_CHILD_PROFILE_ENV)
        profiler = cProfile.Profile() if prefix else None
        if profiler:
            profiler.enable()
        result = loop(args.iterations, args.root_dir)
        if profiler:
            profiler.disable()
            from bench import common

            common.write_profile(profiler, f"{prefix}_{args.single}_{os.getpid()}.txt")
        print(json.dumps(result))
        return
    if args.quality:
        root_dir = args.root_dir or tempfile.mkdtemp(prefix="bench_train_quality_")
        print(json.dumps(quality(root_dir), indent=2))
        return
    for row in run(args.repetitions, args.iterations):
        values = ", ".join(f"{v:.1f}" for v in row["values"])
        print(f"{row['name']}: [{values}] {row['unit']}")


if __name__ == "__main__":
    main()
