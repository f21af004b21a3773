r"""The guide's populate command end to end, and where its time goes.

Group "populate" (no baselines; absolute times):
  * the guide's command, wall time of the whole process:
        python -m smart_control.reinforcement_learning.scripts.populate_starter_buffer \
            --root_dir=<tmp> --capacity 50000 --steps-per-run 672 --num-runs 10
  * the same command run instrumented (`python -m bench.bench_populate FLAGS`
    runs the binary's main in-process with timers around the environment,
    the policy and the buffer), split into:
      start-up     process launch until `import reverb, tf_agents` is done
                   (a cold import: the interpreter and TensorFlow), then the
                   rest until populate starts (binary imports, flags, gin);
      environment  BuildingEnvironment construction, reset and step;
      policy       policy.action;
      buffer       the replay observer's calls (writes, resets), the
                   manager's checkpoint after each run, its create and close;
      observers    the episode-statistics, content-hash and progress observers;
      finish       after populate returns: operative config, summary, exit;
      other        the rest: the driver loop itself, state files.
    starter_buffer.py itself is not changed.

With `quick`, one run of 96 steps, instrumented, stands for the command too,
to keep the smoke test short.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from bench import common

GROUP = "populate"
WALL = "guide populate command (10 x 672 steps), wall"
SPLIT = {
    "import": "  instrumented: start-up, import reverb + tf_agents",
    "startup": "  instrumented: start-up, the rest (binary imports, flags, gin)",
    "environment": "  instrumented: environment (construct, reset, step)",
    "policy": "  instrumented: policy (action)",
    "buffer": "  instrumented: buffer, total",
    "buffer_observer": "    buffer: replay observer calls",
    "buffer_checkpoint": "    buffer: manager.checkpoint() after each run",
    "buffer_manager": "    buffer: manager create and close",
    "observers": "  instrumented: stats, content-hash and progress observers",
    "finish": "  instrumented: after populate (operative config, summary, exit)",
    "other": "  instrumented: other (driver loop, state files)",
    "wall": "  instrumented: wall",
}
_BUFFER_PARTS = ("buffer_observer", "buffer_checkpoint", "buffer_manager")
_BINARY = "smart_control.reinforcement_learning.scripts.populate_starter_buffer"


def _flags(root_dir: str, quick: bool) -> List[str]:
    steps, runs = ("96", "1") if quick else ("672", "10")
    return [
        f"--root_dir={root_dir}",
        "--capacity",
        "50000",
        "--steps-per-run",
        steps,
        "--num-runs",
        runs,
    ]


def _run_process(args: List[str]) -> subprocess.CompletedProcess:
    return common.run_python(args)


def _wall(quick: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="bench_populate_") as tmp:
        flags = _flags(os.path.join(tmp, "buffer"), quick)
        return common.timed(lambda: _run_process(["-m", _BINARY, *flags]))


def _instrumented(quick: bool) -> Dict[str, float]:
    """One instrumented run: the seconds of each part of the split."""
    with tempfile.TemporaryDirectory(prefix="bench_populate_") as tmp:
        flags = _flags(os.path.join(tmp, "buffer"), quick)
        launched = time.time()
        completed = _run_process(["-m", "bench.bench_populate", *flags])
        ended = time.time()
    child = json.loads(completed.stdout.strip().splitlines()[-1])
    split = {key: child[key] for key in (*_BUFFER_PARTS, "observers")}
    split.update(
        {
            "import": child["imported"] - launched,
            "startup": child["populate_started"] - child["imported"],
            "environment": child["environment"],
            "policy": child["policy"],
            "buffer": sum(child[key] for key in _BUFFER_PARTS),
            "finish": ended - child["populate_ended"],
            "wall": ended - launched,
        }
    )
    split["other"] = split["wall"] - sum(
        split[k]
        for k in ("import", "startup", "environment", "policy", "buffer")
        + ("observers", "finish")
    )
    return split


def run(repetitions: int = 3, quick: bool = False) -> List[dict]:
    walls = []
    splits: Dict[str, List[float]] = {key: [] for key in SPLIT}
    for _ in range(repetitions):
        if not quick:  # quick: one process only, the instrumented one
            walls.append(_wall(quick))
        for key, value in _instrumented(quick).items():
            splits[key].append(value)
    if quick:
        walls = splits["wall"]
    wall_name = WALL if not quick else WALL.replace("10 x 672", "1 x 96")
    rows = [common.row(GROUP, wall_name, "s", walls)]
    rows += [common.row(GROUP, SPLIT[key], "s", splits[key]) for key in SPLIT]
    return rows


# -- the instrumented child --------------------------------------------------


class _Timers:
    def __init__(self):
        self.seconds = dict.fromkeys(
            ("environment", "policy", "observers", *_BUFFER_PARTS), 0.0
        )

    def wrap(self, category: str, fn):
        seconds = self.seconds
        clock = time.perf_counter

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[category] += clock() - start

        return timed


class _TimedObserver:
    """The replay observer with its calls timed as buffer time."""

    def __init__(self, observer: Any, timers: _Timers):
        self._observer = observer
        self._call = timers.wrap("buffer_observer", observer.__call__)
        self.reset = timers.wrap("buffer_observer", observer.reset)
        self.flush = timers.wrap("buffer_observer", observer.flush)

    def __call__(self, trajectory: Any) -> None:
        self._call(trajectory)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._observer, name)


def _child_main(argv: List[str]) -> None:
    """Runs the populate binary's main with timers; prints one JSON line."""
    import reverb  # noqa: F401
    import tf_agents  # noqa: F401

    marks = {"imported": time.time()}
    timers = _Timers()
    from tf_agents.drivers import py_driver

    from smart_control.environment import building_env
    from smart_control.reinforcement_learning.populate import starter_buffer
    from smart_control.reinforcement_learning.replay_buffer import replay_buffer
    from smart_control.reinforcement_learning.scripts import (
        populate_starter_buffer as binary_main,
    )

    env_class = building_env.BuildingEnvironment
    env_class.__init__ = timers.wrap("environment", env_class.__init__)

    manager_class = replay_buffer.ReplayBufferManager
    manager_class.checkpoint = timers.wrap(
        "buffer_checkpoint", manager_class.checkpoint
    )
    for method in ("close", "load_replay_buffer"):
        setattr(
            manager_class,
            method,
            timers.wrap("buffer_manager", getattr(manager_class, method)),
        )
    create = timers.wrap("buffer_manager", manager_class.create_replay_buffer)

    def create_replay_buffer(self):
        buffer, observer = create(self)
        return buffer, _TimedObserver(observer, timers)

    manager_class.create_replay_buffer = create_replay_buffer

    driver_init = py_driver.PyDriver.__init__

    def instrumented_driver(self, env, policy, observers, *args, **kwargs):
        env.step = timers.wrap("environment", env.step)
        env.reset = timers.wrap("environment", env.reset)
        policy.action = timers.wrap("policy", policy.action)
        observers = [observers[0]] + [
            timers.wrap("observers", observer) for observer in observers[1:]
        ]
        driver_init(self, env, policy, observers, *args, **kwargs)

    py_driver.PyDriver.__init__ = instrumented_driver

    populate = starter_buffer.populate_starter_buffer

    def timed_populate(*args, **kwargs):
        marks["populate_started"] = time.time()
        try:
            return populate(*args, **kwargs)
        finally:
            marks["populate_ended"] = time.time()

    starter_buffer.populate_starter_buffer = timed_populate
    sys.argv = [binary_main.__file__, *argv, "--noprogress"]
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # the binary's summary; stdout carries our JSON
    try:
        binary_main.run()  # the binary's own flags and network, as a user gets
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    finally:
        sys.stdout = real_stdout
    print(json.dumps({**marks, **timers.seconds}), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
