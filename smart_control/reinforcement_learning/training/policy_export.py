"""Exports the agent's greedy and collect policies as SavedModels.

    policies/
      greedy_policy/      SavedModel of the greedy policy, with the weights of
                          the latest export: tf.saved_model.load() it (or pass
                          it to the eval binary) and act
      collect_policy/     the same for the collect (exploring) policy
      checkpoints/policy_checkpoint_<train step>/
                          the policy variables at every export, for
                          tf_agents.policies.policy_loader.load(
                              <root_dir>/policies/greedy_policy, <checkpoint>)

Unlike TF-Agents' `PolicySavedModelTrigger`, which writes SavedModels of the
initial weights when training starts and afterwards only checkpoints, every
export rewrites the SavedModels, so the directory alone is the trained policy.
A SavedModel is written to a temporary directory first and then renamed into
place. Savers are built at the first export, so a run pays for tracing the
policies only when it saves them.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable, Dict, Optional

import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.policies import greedy_policy, policy_saver

GREEDY_POLICY_DIR = "greedy_policy"
COLLECT_POLICY_DIR = "collect_policy"
CHECKPOINTS_DIR = "checkpoints"
# Metadata key of the environment step count, as TF-Agents' triggers name it.
ENV_STEP_METADATA_KEY = "env_step"


class PolicyExporter:
    """Writes policies/greedy_policy, policies/collect_policy and checkpoints."""

    def __init__(
        self,
        policies_dir: str,
        agent: tf_agent.TFAgent,
        train_step: tf.Variable,
        env_steps: Callable[[], int],
    ):
        """Initialises the exporter; nothing is traced or written yet.

        Args:
          policies_dir: Directory of the exported policies.
          agent: The agent whose `policy` and `collect_policy` are exported.
          train_step: Train step variable, saved with the policies.
          env_steps: Returns the current env step count, saved as metadata.
        """
        self._dir = policies_dir
        self._agent = agent
        self._train_step = train_step
        self._env_steps = env_steps
        self._savers: Optional[Dict[str, policy_saver.PolicySaver]] = None
        self._env_step_variable: Optional[tf.Variable] = None
        self.last_export_train_step: Optional[int] = None

    def _build_savers(self) -> Dict[str, policy_saver.PolicySaver]:
        self._env_step_variable = tf.Variable(0, dtype=tf.int64, trainable=False)
        metadata = {ENV_STEP_METADATA_KEY: self._env_step_variable}
        policy = self._agent.policy
        if not isinstance(policy, greedy_policy.GreedyPolicy):
            policy = greedy_policy.GreedyPolicy(policy)
        return {
            GREEDY_POLICY_DIR: policy_saver.PolicySaver(
                policy, train_step=self._train_step, metadata=metadata
            ),
            COLLECT_POLICY_DIR: policy_saver.PolicySaver(
                self._agent.collect_policy,
                train_step=self._train_step,
                metadata=metadata,
            ),
        }

    def export(self) -> str:
        """Exports both policies with the current weights.

        Returns:
          The policy checkpoint directory written.
        """
        if self._savers is None:
            self._savers = self._build_savers()
        self._agent.post_process_policy()
        self._env_step_variable.assign(self._env_steps())
        for name, saver in self._savers.items():
            target = os.path.join(self._dir, name)
            _recover_leftovers(target)
            staging = f"{target}.tmp-{os.getpid()}"
            try:
                saver.save(staging)
                _replace_directory(staging, target)
            except BaseException:
                # A full or read-only disk, an interrupt: no partial
                # SavedModel is left beside the policies.
                shutil.rmtree(staging, ignore_errors=True)
                raise
        train_step = int(self._train_step.numpy())
        checkpoint = os.path.join(
            self._dir, CHECKPOINTS_DIR, f"policy_checkpoint_{train_step:010d}"
        )
        existed = os.path.exists(checkpoint)
        try:
            self._savers[GREEDY_POLICY_DIR].save_checkpoint(checkpoint)
        except BaseException:
            # The newest policy checkpoint is what eval loads: never a partial one.
            if not existed:
                shutil.rmtree(checkpoint, ignore_errors=True)
            raise
        self.last_export_train_step = train_step
        return checkpoint


def _recover_leftovers(target: str) -> None:
    """Cleans up after an export that was killed half-way (one trainer per run).

    A `<target>.tmp-<pid>` is an unfinished SavedModel: removed. A
    `<target>.old-<pid>` is the previous SavedModel: put back if the new one
    never arrived, removed otherwise.
    """
    directory, name = os.path.split(target)
    if not os.path.isdir(directory):
        return
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry.startswith(f"{name}.tmp-"):
            shutil.rmtree(path, ignore_errors=True)
        elif entry.startswith(f"{name}.old-"):
            if os.path.exists(target):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.rename(path, target)


def _replace_directory(new: str, target: str) -> None:
    """Moves `new` to `target`, replacing it (two renames; no partial target)."""
    old = f"{target}.old-{os.getpid()}"
    if os.path.exists(target):
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if os.path.exists(old) and not os.path.exists(target):
            os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
