"""Buffer contents as a Minari dataset (HDF5 storage), and back.

One Minari episode per segment (writer episode) of n stored steps, the
TF-Agents trajectories t_0 .. t_{n-1}, where t_k carries o_k, a_k and the
reward r_k and discount of the step it leads to:

  observations   o_0 .. o_{n-1}                        (n = N + 1)
  actions        a_0 .. a_{n-2}                        (N)
  rewards        r_0 .. r_{n-2}                        (N)
  terminations   t_k leads to LAST with discount 0     (N)
  truncations    t_k leads to LAST with discount > 0,  (N)
                 and the last step of a segment the driver cut
  infos[field]   every trajectory field but the observation, for all n
                 trajectories (step_type, next_step_type, action, reward,
                 discount, policy_info leaves; nests as "a.b" keys)

The buffer never stores the observation after the last trajectory of a
segment: a segment ended by the environment keeps it in its boundary step
(LAST -> FIRST, whose action and reward carry no information), one cut by the
driver loses it, so its last action and reward are only in `infos`. `infos`
makes the export lossless: an import rebuilds every trajectory exactly (the
Minari arrays win for the steps they hold, so relabelled rewards carry over).

Episode metadata: run, segment_in_run, first_step (index of o_0 in its
writer episode), num_items, ends_with_boundary, run_seed (populate buffers).
Dataset metadata: the Minari fields, and `smart_control` (see export.py).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf
import tree
from tf_agents.trajectories import time_step as ts

from smart_control.reinforcement_learning.datasets import (
    buffer_contents,
    spaces,
    spec_codec,
)

METADATA_KEY = "smart_control"
DATA_DIR = "data"
_DATA_FORMAT = "hdf5"


def _info_value(spec: Any, value: Any) -> Any:
    """A field's arrays as Minari infos hold them: an array or a flat dict."""
    if isinstance(spec, tf.TensorSpec):
        return value
    return {
        ".".join(str(p) for p in path): leaf
        for path, leaf in tree.flatten_with_path(value)
    }


def _from_info_value(spec: Any, value: Any) -> Any:
    if isinstance(spec, tf.TensorSpec):
        return np.asarray(value)
    keys = [".".join(str(p) for p in path) for path, _ in tree.flatten_with_path(spec)]
    return tree.unflatten_as(spec, [np.asarray(value[k]) for k in keys])


def _check_leaves(data_spec: Any) -> None:
    for path, spec in tree.flatten_with_path(data_spec):
        if spec.dtype == tf.uint8 and spec.shape.rank >= 1:
            # Minari's HDF5 storage JPEG-encodes every uint8 array of rank >= 2
            # (with the time axis): a lossy copy.
            raise ValueError(
                f"data_spec leaf {'/'.join(map(str, path))} is uint8 of rank >= 1, "
                "which Minari stores as lossy JPEG"
            )
    if not isinstance(data_spec.reward, tf.TensorSpec):
        raise ValueError(
            f"data_spec reward must be one tensor for Minari, got {data_spec.reward}"
        )


def _episode_buffer(contents: buffer_contents.BufferContents, index: int) -> Any:
    from minari.data_collector.episode_buffer import EpisodeBuffer

    spec = contents.data_spec
    segment = contents.segments[index]
    n = len(segment)
    if n < 2:
        raise ValueError(
            f"segment {index} holds a single step; a Minari episode needs an "
            "observation after it (sequence_length 1 buffers cannot be exported)"
        )
    fields = segment.fields(spec)
    leads_to_last = fields.next_step_type[: n - 1] == ts.StepType.LAST
    discount = np.asarray(fields.discount[: n - 1])
    terminations = leads_to_last & (discount == 0)
    truncations = leads_to_last & (discount != 0)
    if not segment.ends_with_boundary(spec):
        truncations[-1] = True  # The driver stopped; the data ends here.
    head = tf.nest.map_structure(lambda a: a[: n - 1], fields.action)
    infos = {}
    for name, field_spec in spec._asdict().items():
        if name == "observation" or not tf.nest.flatten(field_spec):
            continue
        infos[name] = _info_value(field_spec, getattr(fields, name))
    return EpisodeBuffer(
        observations=spaces.to_space_value(spec.observation, fields.observation),
        actions=spaces.to_space_value(spec.action, head),
        rewards=np.asarray(fields.reward[: n - 1]),
        terminations=terminations,
        truncations=truncations,
        infos=infos,
    )


def _episode_metadata(contents: buffer_contents.BufferContents) -> List[Dict]:
    seeds = {}
    populate = contents.source.get("populate") or {}
    runs = contents.runs()
    if len(populate.get("runs", [])) == len(runs):
        seeds = {i: r.get("seed") for i, r in enumerate(populate["runs"])}
    metadata = []
    for run, indices in enumerate(runs):
        for position, index in enumerate(indices):
            segment = contents.segments[index]
            entry = {
                "run": run,
                "segment_in_run": position,
                "first_step": segment.first_step,
                "num_items": segment.num_items,
                "ends_with_boundary": segment.ends_with_boundary(contents.data_spec),
            }
            if seeds.get(run) is not None:
                entry["run_seed"] = int(seeds[run])
            metadata.append(entry)
    return metadata


def check_dataset_id(dataset_id: str) -> str:
    """Raises ValueError unless `dataset_id` is a Minari id like 'name-v0'."""
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError):
        raise ValueError(
            "dataset_id must be a Minari id '(namespace/)name-v<version>', "
            f"got {dataset_id!r}"
        ) from None
    return dataset_id


def write_minari(
    contents: buffer_contents.BufferContents,
    dataset_dir: str,
    dataset_id: str,
    metadata: Dict[str, Any],
    *,
    description: Optional[str] = None,
    author: Optional[str] = None,
    algorithm_name: Optional[str] = None,
) -> str:
    """Writes a Minari dataset into `dataset_dir`/data; returns that data path.

    Args:
      contents: What to write.
      dataset_dir: The dataset directory (laid out like one under Minari's
        datasets root: `minari.MinariDataset(dataset_dir + "/data")` opens it).
      dataset_id: Minari dataset id recorded in the metadata.
      metadata: JSON-safe provenance stored under the `smart_control` key.
      description: Minari `description`.
      author: Minari `author`.
      algorithm_name: Minari `algorithm_name` (the policy that collected).

    Raises:
      ValueError: If the data cannot be stored losslessly, or `dataset_id` is
        malformed.
    """
    import minari
    from minari.dataset.minari_storage import MinariStorage

    check_dataset_id(dataset_id)
    spec = contents.data_spec
    _check_leaves(spec)
    data_path = os.path.join(dataset_dir, DATA_DIR)
    os.makedirs(dataset_dir, exist_ok=True)
    storage = MinariStorage.new(
        data_path,
        observation_space=spaces.space_from_spec(spec.observation),
        action_space=spaces.space_from_spec(spec.action),
        data_format=_DATA_FORMAT,
    )
    episodes = [_episode_buffer(contents, i) for i in range(len(contents.segments))]
    if episodes:
        storage.update_episodes(episodes)
        storage.update_episode_metadata(_episode_metadata(contents))
    fields: Dict[str, Any] = {
        "dataset_id": dataset_id,
        "minari_version": minari.__version__,
        METADATA_KEY: {**metadata, "data_spec": spec_codec.encode_spec(spec)},
    }
    if description is not None:
        fields["description"] = description
    if author is not None:
        fields["author"] = {author}
    if algorithm_name is not None:
        fields["algorithm_name"] = algorithm_name
    storage.update_metadata(fields)
    return data_path


def data_path_of(path: str) -> str:
    """The Minari data directory of a dataset directory (or the data dir itself)."""
    path = os.path.abspath(os.path.expanduser(path))
    candidate = os.path.join(path, DATA_DIR)
    return candidate if os.path.isdir(candidate) else path


def read_minari(path: str) -> buffer_contents.BufferContents:
    """Reads a dataset `write_minari` wrote (through Minari's own API).

    Args:
      path: The dataset directory, or its `data` directory.

    Raises:
      FileNotFoundError: If `path` does not exist.
      ValueError: If it is not a Minari dataset, or not one written by
        `write_minari` (the data spec is needed to rebuild the buffer).
    """
    import minari

    if not os.path.exists(os.path.expanduser(path)):
        raise FileNotFoundError(f"no such Minari dataset: {path}")
    data_path = data_path_of(path)
    try:
        dataset = minari.MinariDataset(data_path)
    except (ValueError, KeyError, AssertionError) as e:
        raise ValueError(f"{path} is not a Minari dataset: {e}") from None
    stored = dataset.storage.metadata.get(METADATA_KEY)
    if not stored or "data_spec" not in stored:
        raise ValueError(
            f"{path} is a Minari dataset without '{METADATA_KEY}' metadata: only "
            "datasets written by export_buffer can be imported"
        )
    spec = spec_codec.decode_spec(stored["data_spec"])
    buffer_contents.check_trajectory_spec(spec, f"dataset {path}")
    episode_meta = list(
        dataset.storage.get_episode_metadata(range(dataset.total_episodes))
    )
    segments = []
    for episode, meta in zip(dataset.iterate_episodes(), episode_meta):
        segments.append(
            buffer_contents.Segment(
                leaves=_trajectory_leaves(spec, episode),
                first_step=int(meta.get("first_step", 0)),
                num_items=int(meta.get("num_items", 0)),
            )
        )
    return buffer_contents.BufferContents(
        data_spec=spec,
        segments=segments,
        sequence_length=int(stored["sequence_length"]),
        stride_length=int(stored.get("stride_length", 1)),
        capacity=int(stored.get("capacity", 0)),
        num_items=int(stored.get("num_items", 0)),
        source={
            "minari_dataset": data_path,
            "dataset_id": dataset.id,
            "exported": stored,
        },
    )


def _trajectory_leaves(spec: Any, episode: Any) -> List[np.ndarray]:
    """The flat trajectory leaves of one Minari episode."""
    infos = episode.infos or {}
    fields = {}
    for name, field_spec in spec._asdict().items():
        if name == "observation":
            leaves = spaces.from_space_value(field_spec, episode.observations)
            fields[name] = tf.nest.pack_sequence_as(
                field_spec, [np.asarray(x) for x in leaves]
            )
        elif not tf.nest.flatten(field_spec):
            fields[name] = field_spec  # An empty nest, e.g. policy_info=().
        elif name not in infos:
            raise ValueError(f"episode {episode.id} has no infos[{name!r}]")
        else:
            fields[name] = _from_info_value(field_spec, infos[name])
    # The Minari arrays hold the first N steps; infos the last trajectory too.
    actions = spaces.from_space_value(spec.action, episode.actions)
    fields["action"] = tf.nest.pack_sequence_as(
        spec.action,
        [
            np.concatenate([np.asarray(head), tail[len(head) :]])
            for head, tail in zip(actions, tf.nest.flatten(fields["action"]))
        ],
    )
    rewards = np.asarray(episode.rewards)
    fields["reward"] = np.concatenate(
        [rewards.astype(fields["reward"].dtype), fields["reward"][len(rewards) :]]
    )
    trajectory = type(spec)(**fields)
    return [np.asarray(leaf) for leaf in tf.nest.flatten(trajectory)]
