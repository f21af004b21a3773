"""Running the real binaries on bad input and faulty filesystems (issue 15).

Shared by bad_input_test.py and filesystem_faults_test.py: each binary runs
as a subprocess of its own with the package of this checkout, its own empty
$TMPDIR, and the tree of everything it could touch is recorded before and
after (`tree_state`), so a test can say "one error line, nothing modified,
nothing left behind".
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

# The checkout under test (BAD_INPUT_REPO runs the table against another one,
# e.g. an older commit, to compare).
REPO = os.environ.get(
    "BAD_INPUT_REPO", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
SCRIPTS = "smart_control.reinforcement_learning.scripts"
MODULES = {
    "populate": f"{SCRIPTS}.populate_starter_buffer",
    "train": f"{SCRIPTS}.train",
    "eval": f"{SCRIPTS}.eval",
    "collect": f"{SCRIPTS}.collect",
    "reverb_server": f"{SCRIPTS}.reverb_server",
    "inspect_buffer": f"{SCRIPTS}.inspect_buffer",
    "export_buffer": f"{SCRIPTS}.export_buffer",
    "run_experiment": "launchers.run_experiment",
    "sweep": "launchers.sweep",
}
TRACEBACK = "Traceback (most recent call last)"

# A populate small enough for a fixture: one run of 24 steps (23 items).
TINY_POPULATE = ["--steps_per_run=24", "--num_runs=1", "--seed=3", "--noprogress"]
# Pendulum with 50-step episodes, tiny networks and batches, no evaluation.
TINY_TRAIN = [
    "--gin_file=train/pendulum_sac.gin",
    "--gin_bindings=load_gym_environment.max_episode_steps = 50",
    "--gin_bindings=create_sac_agent.actor_fc_layers = (16,)",
    "--gin_bindings=create_sac_agent.critic_joint_fc_layers = (16,)",
    "--gin_bindings=TrainConfig.batch_size = 16",
    "--gin_bindings=TrainConfig.eval_interval = 0",
    "--gin_bindings=TrainConfig.summary_interval = 100",
    "--gin_bindings=ReplayBufferManager.capacity = 2000",
    "--gin_bindings=train_eval.initial_collect_steps = 60",
    "--gin_bindings=TrainConfig.num_train_steps = 40",
    "--gin_bindings=TrainConfig.checkpoint_interval = 20",
    "--gin_bindings=TrainConfig.policy_save_interval = 20",
]


@dataclasses.dataclass
class Outcome:
    """What one run of a binary did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    leftovers: List[str]  # entries left in its $TMPDIR

    @property
    def lines(self) -> List[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def error_lines(self) -> List[str]:
        return [line for line in self.lines if line.startswith("error: ")]

    @property
    def traceback(self) -> bool:
        return TRACEBACK in self.stderr


def environment(tmpdir: str, **extra: str) -> Dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SMART_CONTROL_") and k != "PYTHONPATH"
    }
    env.update(PYTHONPATH=REPO, TMPDIR=tmpdir, **extra)
    return env


def run_binary(
    binary: str,
    args: Sequence[str],
    cwd: str,
    tmpdir: str,
    timeout: float = 900,
    preexec_fn=None,
    **extra_env: str,
) -> Outcome:
    """Runs `binary` (a key of MODULES) with its own, initially empty, $TMPDIR."""
    os.makedirs(tmpdir, exist_ok=True)
    assert not os.listdir(tmpdir), f"{tmpdir} is not empty"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", MODULES[binary], *args],
        cwd=cwd,
        env=environment(tmpdir, **extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )
    return Outcome(
        returncode=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        seconds=time.monotonic() - started,
        leftovers=sorted(os.listdir(tmpdir)),
    )


def tree_state(root: str) -> Dict[str, Tuple]:
    """Every entry under `root`: files by content hash, directories, links.

    Directories count (a refused run must not create an empty output
    directory either); modes count too (a refused run must not chmod).
    """
    state: Dict[str, Tuple] = {}
    if not os.path.lexists(root):
        return state
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            if os.path.islink(path):
                state[relative] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                state[relative] = ("dir", info.st_mode)
            else:
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                state[relative] = ("file", info.st_mode, digest)
    return state


def tree_changes(before: Dict[str, Tuple], after: Dict[str, Tuple]) -> List[str]:
    """What differs between two `tree_state`s, one line per path."""
    changes = []
    for path in sorted(set(before) | set(after)):
        if path not in after:
            changes.append(f"removed {path}")
        elif path not in before:
            changes.append(f"added {path}")
        elif before[path] != after[path]:
            changes.append(f"changed {path}")
    return changes


def make_buffer(buffer_dir: str, scratch: str) -> None:
    """A complete one-run starter buffer (populate's own output)."""
    done = run_binary(
        "populate",
        [f"--root_dir={buffer_dir}", *TINY_POPULATE],
        cwd=scratch,
        tmpdir=os.path.join(scratch, "tmp-populate"),
    )
    assert done.returncode == 0, done.stderr[-3000:]


def make_interrupted_run(run_dir: str, scratch: str) -> None:
    """A train run killed right after its first commit (resumable, not DONE)."""
    done = run_binary(
        "train",
        [f"--root_dir={run_dir}", *TINY_TRAIN],
        cwd=scratch,
        tmpdir=os.path.join(scratch, "tmp-train"),
        SMART_CONTROL_FAULT="train.commit.done:1",
    )
    assert done.returncode == -9, done.stderr[-3000:]
    assert not os.path.exists(os.path.join(run_dir, "DONE"))


def make_buffer_and_run(scratch: str) -> Tuple[str, str]:
    """`make_buffer` and `make_interrupted_run` side by side under `scratch`:
    (buffer directory, run directory)."""
    buffer_dir = os.path.join(scratch, "buffer")
    run_dir = os.path.join(scratch, "run")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        made = [
            pool.submit(make_buffer, buffer_dir, scratch),
            pool.submit(make_interrupted_run, run_dir, scratch),
        ]
        for future in made:
            future.result()
    return buffer_dir, run_dir


def copy_tree(source: str, target: str) -> None:
    shutil.copytree(source, target, symlinks=True)


def describe(outcome: Outcome) -> str:
    return (
        f"exit {outcome.returncode}, {len(outcome.lines)} stderr line(s):\n"
        + "\n".join(outcome.lines[-15:])
    )


def pick_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def first(lines: Sequence[str], prefix: str) -> Optional[str]:
    return next((line for line in lines if line.startswith(prefix)), None)
