"""The learner and its periodic work: one core for every topology.

    core = TrainingCore(root_dir, config, agent, train_step, dataset_fn, ...)
    core.start()                       # evaluates a fresh run once
    while core.train_step < config.num_train_steps:
        ...                            # the topology's own work (collect, wait)
        core.train(iterations)         # gradient steps, then the triggers
    core.finish(summary)               # final eval, commit, export; DONE

The core is TF-Agents' `Learner` with interval triggers, called with the
train step after every `run` (TF-Agents' way):
  * commit: the replay buffer checkpoint (through the topology's callback),
    its record, then the learner checkpoint (`run_dir.py` explains why this
    order makes every learner checkpoint a committed one);
  * export: the greedy and collect policies (`policy_export.py`);
  * evaluate: the greedy policy, and the baseline once, on the episodes of
    the evaluation set, through the eval binary's own runner and report
    (`training/evaluation.py`);
  * summaries: the topology's scalars (env steps, buffer size, rates);
  * any extra trigger of the topology (the distributed trainer's weight push).
The Learner owns the learner checkpoints: it restores the newest (the
committed one) when built and writes them at commits; nothing else touches
train/checkpoints/ but the commit records beside them.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import tensorflow as tf
from absl import logging
from tf_agents.agents import tf_agent
from tf_agents.policies import greedy_policy
from tf_agents.train import interval_trigger
from tf_agents.train import learner as learner_lib

from smart_control.reinforcement_learning.training import (
    evaluation,
    policy_export,
    progress,
    run_dir,
)
from smart_control.reinforcement_learning.training.config import TrainConfig
from smart_control.reinforcement_learning.utils import clock, faults

# (buffer checkpoint for the commit record, items in the buffer)
BufferCheckpointFn = Callable[[], Tuple[Optional[str], int]]
# (env steps, episodes) of the run so far
CountersFn = Callable[[], Tuple[int, int]]


def check_learner_checkpoint(
    root_dir: str, agent: tf_agent.TFAgent, train_step: tf.Variable
) -> None:
    """Refuses to resume a run whose learner checkpoint is another agent's.

    Reads the newest learner checkpoint into `agent` (as the Learner will);
    call it before anything is written into root_dir, so that a resume with
    another agent or other networks changes nothing of the run.

    Raises:
      run_dir.RunDirError: Naming the run, the checkpoint and the agent.
    """
    directory = run_dir.path(root_dir, run_dir.LEARNER_CHECKPOINT_DIR)
    prefix = tf.train.latest_checkpoint(directory)
    if prefix is None:
        return
    try:
        status = tf.train.Checkpoint(agent=agent, train_step=train_step).read(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, TypeError, tf.errors.OpError) as e:
        raise run_dir.RunDirError(
            f"cannot resume {root_dir}: its learner checkpoint {prefix} does not "
            f"fit the {type(agent).__name__} this config builds (it was trained "
            "with another agent or other networks); resume with the run's own "
            f"config ({run_dir.path(root_dir, 'operative_config.gin')}) or use a "
            "new --root_dir"
        ) from e


class _Learner(learner_lib.Learner):
    """TF-Agents' Learner, saving its checkpoints when the core commits.

    Built with its own checkpoint trigger off: a learner checkpoint is only
    ever written as the last step of a commit.
    """

    def save_checkpoint(self) -> None:
        self._checkpointer.save(self.train_step)

    def checkpoint_steps(self) -> Sequence[int]:
        """Train steps of the learner checkpoints kept on disk."""
        state = tf.train.get_checkpoint_state(self._checkpointer._manager.directory)
        if state is None:
            return []
        return [int(p.rpartition("-")[2]) for p in state.all_model_checkpoint_paths]


class TrainingCore:
    """Learner, triggers, evaluation and the run directory's records."""

    def __init__(
        self,
        root_dir: str,
        config: TrainConfig,
        agent: tf_agent.TFAgent,
        train_step: tf.Variable,
        dataset_fn: Callable[[], tf.data.Dataset],
        *,
        checkpoints_to_keep: int,
        counters: CountersFn,
        checkpoint_buffer: BufferCheckpointFn,
        eval_env_factory: Callable[..., Any],
        scalars: Callable[[], Dict[str, float]] = dict,
        extra_triggers: Sequence[Callable[[int], None]] = (),
        show_progress: bool = True,
        progress_label: str = "",
    ):
        """Builds the Learner (which restores the committed learner checkpoint).

        Args:
          root_dir: The run directory (layout in `run_dir.py`).
          config: The learning setup (intervals, run length, seeds).
          agent: The agent to train.
          train_step: The agent's train step counter.
          dataset_fn: Returns the experience dataset the Learner samples.
          checkpoints_to_keep: Learner checkpoints kept (as many as the
            replay buffer keeps, so every kept commit is whole).
          counters: Returns (env steps, episodes) of the run so far.
          checkpoint_buffer: Checkpoints the replay buffer at a commit; returns
            the checkpoint to record (None if the buffer is checkpointed
            elsewhere) and the buffer's item count.
          eval_env_factory: Builds evaluation environments (the episodes
            are the evaluation set's, `evaluation_set.*`).
          scalars: Returns the topology's scalars for the summaries.
          extra_triggers: Called as `trigger(train_step)` after every run.
          show_progress: Whether to draw the progress line on stderr.
          progress_label: Prefix of the progress line.
        """
        self.root_dir = root_dir
        self.config = config
        self.agent = agent
        self.train_step = train_step
        self._counters = counters
        self._checkpoint_buffer = checkpoint_buffer
        self._scalars = scalars
        self.start_time = time.monotonic()
        self.last_eval: Optional[Dict[str, Any]] = None
        self.last_commit_step: Optional[int] = None
        self.progress = progress.Progress(
            config.num_train_steps,
            enabled=show_progress,
            label=progress_label,
        )
        self.exporter = policy_export.PolicyExporter(
            run_dir.path(root_dir, run_dir.POLICIES_DIR),
            agent,
            train_step,
            env_steps=lambda: self._counters()[0],
        )
        self._triggers = [
            interval_trigger.IntervalTrigger(config.checkpoint_interval, self.commit),
            interval_trigger.IntervalTrigger(
                config.policy_save_interval, self.exporter.export
            ),
            interval_trigger.IntervalTrigger(config.eval_interval, self.evaluate),
            interval_trigger.IntervalTrigger(
                config.summary_interval, self.write_summaries
            ),
        ]
        self.learner = _Learner(
            root_dir,
            train_step,
            agent,
            experience_dataset_fn=dataset_fn,
            triggers=[*self._triggers, *extra_triggers],
            checkpoint_interval=0,
            summary_interval=config.summary_interval,
            max_checkpoints_to_keep=checkpoints_to_keep,
        )
        # A TF policy: the evaluation steps all its episodes in one batch.
        self.greedy_policy = greedy_policy.GreedyPolicy(agent.policy)
        self.evaluation = evaluation.PeriodicEvaluation(
            eval_env_factory, run_dir.path(root_dir, run_dir.EVAL_DIR)
        )

    @property
    def step(self) -> int:
        return int(self.train_step.numpy())

    # -- the run ------------------------------------------------------------------

    def start(self, fresh: bool) -> None:
        """Evaluates the untrained policy (and the baseline) of a fresh run."""
        if fresh and self.config.eval_interval:
            self.evaluate()
        self._rate_start = (time.monotonic(), self._counters()[0], self.step)
        self.progress.start(self.step)

    def train(self, iterations: int) -> int:
        """Runs `iterations` gradient steps (at most to the end), then the triggers."""
        iterations = min(iterations, self.config.num_train_steps - self.step)
        if iterations > 0:
            self.learner.run(iterations=iterations)
        self.progress.update(self.step, self._counters()[0])
        return self.step

    @property
    def done_training(self) -> bool:
        return self.step >= self.config.num_train_steps

    def rates(self) -> Dict[str, float]:
        """Env and train steps per second since `start`."""
        started, env_steps, train_steps = self._rate_start
        elapsed = time.monotonic() - started
        if elapsed <= 0:
            return {"env_steps_per_s": 0.0, "train_steps_per_s": 0.0}
        return {
            "env_steps_per_s": (self._counters()[0] - env_steps) / elapsed,
            "train_steps_per_s": (self.step - train_steps) / elapsed,
        }

    # -- periodic work --------------------------------------------------------------

    def evaluate(self) -> Dict[str, Any]:
        """Evaluates the greedy policy (the baseline too, once); records it.

        Appends to eval/metrics.jsonl: train and env steps, time, the policy's
        and the baseline's overall means, and every column of the report
        (overall and per season, with confidence intervals).
        """
        step = self.step
        env_steps = self._counters()[0]
        report = self.evaluation(self.greedy_policy, step, env_steps=env_steps)
        record = {
            "env_steps": env_steps,
            "train_step": step,
            "time": clock.utc_now(),
            # Seconds since this process started training (a resumed run
            # restarts the clock).
            "elapsed_s": round(time.monotonic() - self.start_time, 2),
            **evaluation.record_fields(report),
        }
        run_dir.append_eval_metrics(self.root_dir, record)
        self.last_eval = record
        self.progress.last_eval = f"{self.evaluation.describe(report)} @ {step:,}"
        return record

    def commit(self) -> None:
        """Buffer checkpoint, its record, then the learner checkpoint."""
        step = self.step
        buffer_checkpoint, frames = self._checkpoint_buffer()
        faults.reached(faults.TRAIN_COMMIT_BUFFER)
        env_steps, episodes = self._counters()
        run_dir.write_commit_record(
            self.root_dir,
            run_dir.Commit(
                train_step=step,
                env_steps=env_steps,
                episodes=episodes,
                replay_buffer_checkpoint=buffer_checkpoint,
                replay_buffer_frames=frames,
            ),
        )
        faults.reached(faults.TRAIN_COMMIT_RECORD)
        self.learner.save_checkpoint()
        faults.reached(faults.TRAIN_COMMIT_DONE)
        run_dir.prune_commit_records(self.root_dir, self.learner.checkpoint_steps())
        self.last_commit_step = step
        logging.info(
            "Commit at train step %d, env step %d: buffer %s (%d frames)",
            step,
            env_steps,
            buffer_checkpoint,
            frames,
        )

    def write_summaries(self) -> None:
        with self.learner.train_summary_writer.as_default(), tf.summary.record_if(True):
            for name, value in self._scalars().items():
                tf.summary.scalar(name, value, step=self.step)

    # -- the end ----------------------------------------------------------------------

    def interrupted(self) -> None:
        """Commits what was learned since the last commit (Ctrl-C, SIGTERM)."""
        if self.step != self.last_commit_step:
            self.progress.message(
                "Interrupted: committing a checkpoint before exit ..."
            )
            self.commit()
            self.progress.message(
                f"Committed at train step {self.step:,}; run the same command to resume."
            )

    def finish(self, summary: Dict[str, Any]) -> Dict[str, Any]:
        """Final evaluation, commit and export (where due), then DONE.

        Args:
          summary: The topology's own fields of the DONE record.

        Returns:
          The DONE record.
        """
        step = self.step
        if self.config.eval_interval and (
            self.last_eval is None or self.last_eval["train_step"] != step
        ):
            self.evaluate()
        if self.last_commit_step != step:
            self.commit()
        if self.exporter.last_export_train_step != step:
            self.exporter.export()
        self.evaluation.flush()
        self.learner.train_summary_writer.flush()
        policy_checkpoint = run_dir.latest_policy_checkpoint(self.root_dir)
        done = {
            "train_step": step,
            "env_steps": self._counters()[0],
            "last_eval": self.last_eval,
            "greedy_policy": os.path.join(run_dir.POLICIES_DIR, "greedy_policy"),
            "policy_checkpoint": (
                os.path.relpath(policy_checkpoint, self.root_dir)
                if policy_checkpoint
                else None
            ),
            **summary,
        }
        run_dir.write_done(self.root_dir, done)
        self.progress.update(step, self._counters()[0], force=True)
        return done

    def close(self) -> None:
        self.progress.close()
