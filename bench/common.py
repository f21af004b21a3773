"""Helpers shared by the benchmark modules: rows, data, timing, servers.

Every benchmark module has `run(repetitions, quick=False) -> list[dict]`
returning rows

    {"group": str, "name": str, "unit": str,
     "values": [one float per repetition], "baseline": name-or-None}

where `baseline` names another row of the same group. `bench.run_all`
computes medians, ranges, ratios and target verdicts from them.

The data is the issue's reference workload: TF-Agents `Trajectory` steps with
a 64-float32 observation and a 2-float32 action (280 bytes of tensors per
step), in episodes of 672 steps (one week of 15-minute steps).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from typing import Any, Callable, Iterator, List, Optional

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBS_SIZE = 64
ACTION_SIZE = 2
EPISODE_STEPS = 672
TABLE_NAME = "experience"  # ReplayBufferManager's default table name
# Set by `run_all --profile GROUP` while GROUP runs: the path prefix under
# which benchmarks that measure in child processes write those profiles.
CHILD_PROFILE_ENV = "BENCH_CHILD_PROFILE"
# Bytes of tensor data in one step: observation, action, step_type,
# next_step_type, reward, discount (all 4-byte types).
STEP_BYTES = 4 * (OBS_SIZE + ACTION_SIZE + 4)


def row(
    group: str,
    name: str,
    unit: str,
    values: List[float],
    baseline: Optional[str] = None,
) -> dict:
    return {
        "group": group,
        "name": name,
        "unit": unit,
        "values": [float(v) for v in values],
        "baseline": baseline,
    }


def make_spec() -> Any:
    """The per-step data spec: a TF-Agents `Trajectory` (no policy info)."""
    import tensorflow as tf
    from tf_agents.specs import tensor_spec
    from tf_agents.trajectories import trajectory

    return trajectory.Trajectory(
        step_type=tf.TensorSpec([], tf.int32, "step_type"),
        observation=tf.TensorSpec([OBS_SIZE], tf.float32, "observation"),
        action=tensor_spec.BoundedTensorSpec(
            [ACTION_SIZE], tf.float32, -1.0, 1.0, "action"
        ),
        policy_info=(),
        next_step_type=tf.TensorSpec([], tf.int32, "step_type"),
        reward=tf.TensorSpec([], tf.float32, "reward"),
        discount=tf.TensorSpec([], tf.float32, "discount"),
    )


def make_steps(count: int, seed: int = 0, first_step: int = 0) -> List[Any]:
    """`count` unbatched numpy steps; every 672nd ends an episode (LAST -> FIRST).

    Observations are random normal floats, the least compressible case (the
    building's smooth signals compress about 2x better).
    """
    from tf_agents.trajectories import time_step as ts
    from tf_agents.trajectories import trajectory

    rng = np.random.default_rng(seed)
    observations = rng.standard_normal((count, OBS_SIZE)).astype(np.float32)
    actions = rng.uniform(-1, 1, (count, ACTION_SIZE)).astype(np.float32)
    rewards = rng.standard_normal(count).astype(np.float32)
    steps = []
    for i in range(count):
        last = (first_step + i) % EPISODE_STEPS == EPISODE_STEPS - 1
        steps.append(
            trajectory.Trajectory(
                step_type=np.int32(ts.StepType.LAST if last else ts.StepType.MID),
                observation=observations[i],
                action=actions[i],
                policy_info=(),
                next_step_type=np.int32(ts.StepType.FIRST if last else ts.StepType.MID),
                reward=rewards[i],
                discount=np.float32(1.0),
            )
        )
    return steps


def items_written(num_steps: int, sequence_length: int = 2) -> int:
    """Items an observer writes for `make_steps(num_steps)` (stride 1)."""
    full, rest = divmod(num_steps, EPISODE_STEPS)
    per_episode = EPISODE_STEPS - sequence_length + 1
    return full * per_episode + max(0, rest - sequence_length + 1)


def build_table(capacity: int, spec: Any = None) -> Any:
    """The manager's table (uniform sampler, FIFO remover, MinSize(1))."""
    from smart_control.reinforcement_learning.replay_buffer import table_config

    return table_config.build_table(
        TABLE_NAME,
        capacity,
        spec if spec is not None else make_spec(),
        table_config.uniform_sampler,
        table_config.min_size_rate_limiter,
    )


def write_profile(profiler: Any, path: str) -> None:
    """Top functions of a `cProfile.Profile` by cumulative and by own time."""
    import io
    import pstats

    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    with open(path, "w") as f:
        f.write(stream.getvalue())


def timed(fn: Callable[[], Any]) -> float:
    """Seconds `fn()` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rss_bytes(pid: Optional[int] = None) -> int:
    """Resident set size of a process (this one by default), from /proc."""
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc status")


def dir_bytes(path: str) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            total += os.path.getsize(os.path.join(dirpath, name))
    return total


def collect() -> None:
    gc.collect()


def interleaved(repetitions: int, names: List[str]) -> Iterator[tuple]:
    """(repetition, name) pairs, every name once per repetition, so that load
    drifts on a shared machine hit all variants alike."""
    for repetition in range(repetitions):
        for name in names:
            yield repetition, name


class ServerProcess:
    """A Reverb server in a child process (`python -m bench.reverb_server`).

    The child builds the same table as `build_table(capacity)`, prints its
    port and serves until its stdin closes. Use as a context manager.
    """

    def __init__(self, capacity: int, checkpoint_dir: Optional[str] = None):
        args = [sys.executable, "-m", "bench.reverb_server", f"--capacity={capacity}"]
        if checkpoint_dir:
            args.append(f"--checkpoint_dir={checkpoint_dir}")
        self.process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("port "):
            self.close()
            raise RuntimeError(f"reverb server process did not start: {line!r}")
        self.port = int(line.split()[1])
        self.address = f"localhost:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def run_python(args: List[str]) -> subprocess.CompletedProcess:
    """Runs `python <args>` from the repository root; raises with its output if it fails."""
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:3])} failed ({completed.returncode}):\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )
    return completed
