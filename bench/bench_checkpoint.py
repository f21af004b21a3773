"""Checkpoint save/restore time, size on disk and server memory per item.

Groups "checkpoint 50k" and, with `full`, "checkpoint 500k": a Reverb
server with the manager's table runs in a child process (so its memory is
its own), filled with that many sequence-2 items of the reference step (280
bytes of tensors per step, random observations: the least compressible
case). Rows:
  * the checkpoint's size on disk vs the raw tensor bytes of the stored steps
    (baseline; target <= 1.5x);
  * save: `ReplayBufferManager.checkpoint()` (flush, then the server writes
    the checkpoint; the manager is connected to the server by address);
  * restore: a bare `reverb.Server` starting from the checkpoint (baseline)
    vs a new manager's `load_replay_buffer(source_dir=...)`, twice: from a
    buffer directory the manager wrote (metadata.json records the item
    count, which the load checks: the path of every training run that starts
    from a starter buffer), and from the bare checkpoint directory with no
    record (a checkpoint written elsewhere: the load also cross-checks the
    items' chunk references against chunks.tfrecord). Either load reads the
    table and items records, writes a copy re-configured for its capacity and
    starts a server from the copy;
  * server memory per stored item: the server process's RSS growth while
    the table fills (three equal slices of the fill give the three values)
    vs the raw tensor bytes per item (baseline).

50k items are written twice, by the manager's observer (FastTrajectoryObserver
with auto-tuned chunks of at most 3 steps, as TF-Agents' observer writes
them) and by FastTrajectoryObserver with 32-step chunks; 500k items by the
latter only (a minute just to write them, so only with `full`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Dict, List

from bench import common

RAW_BYTES = "raw tensor bytes of the stored steps"
RAW_PER_ITEM = "raw tensor bytes per item"
_WRITERS = {
    "manager": "manager observer (auto-tuned chunks)",
    "fast": "FastTrajectoryObserver (32-step chunks)",
}


def _names(writer: str) -> Dict[str, str]:
    w = _WRITERS[writer]
    return {
        "disk": f"on disk, {w} items",
        "save": f"save: manager.checkpoint(), {w} items",
        "restore_raw": f"restore: bare reverb.Server, {w} items",
        "restore_own": f"restore: manager.load_replay_buffer(), {w} items, "
        "buffer directory (count recorded)",
        "restore": f"restore: manager.load_replay_buffer(), {w} items, "
        "bare checkpoint (no record: chunks cross-checked)",
        "rss": f"server RSS per item, {w}",
    }


def _steps_for(items: int) -> int:
    """Steps of `make_steps` that make exactly `items` items."""
    steps = items
    while common.items_written(steps) < items:
        steps += 1
    return steps


def _fill(observer: Any, steps: int, server_pid: int, slices: int = 3) -> List[float]:
    """Writes `steps` steps in `slices` parts; server RSS growth per item of each."""
    per_item = []
    written = 0
    for part in range(slices):
        count = steps // slices if part < slices - 1 else steps - written
        batch = common.make_steps(count, seed=written, first_step=written)
        before = common.rss_bytes(server_pid)
        for step in batch:
            observer(step)
        observer.flush()
        grown = common.rss_bytes(server_pid) - before
        items = common.items_written(written + count) - common.items_written(written)
        per_item.append(grown / items)
        written += count
        del batch
    return per_item


def _bare_restore(checkpoint: str, capacity: int, items: int) -> float:
    import reverb

    root = tempfile.mkdtemp(prefix="bench_restore_")

    def restore():
        server = reverb.Server(
            [common.build_table(capacity)],
            port=None,
            checkpointer=reverb.checkpointers.DefaultCheckpointer(
                path=root, fallback_checkpoint_path=checkpoint
            ),
        )
        info = reverb.Client(f"localhost:{server.port}").server_info()
        server.stop()
        if info[common.TABLE_NAME].current_size != items:
            raise RuntimeError("bare restore lost items")

    try:
        return common.timed(restore)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        common.collect()


def _own_buffer(spec: Any, checkpoint: str, capacity: int, directory: str) -> None:
    """A buffer directory holding `checkpoint`'s items, as the manager writes it."""
    from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
        ReplayBufferManager,
    )

    manager = ReplayBufferManager(spec, capacity, directory)
    try:
        manager.load_replay_buffer(source_dir=checkpoint)
        manager.checkpoint()
    finally:
        manager.close()


def _manager_restore(spec: Any, checkpoint: str, capacity: int, items: int) -> float:
    from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
        ReplayBufferManager,
    )

    target = tempfile.mkdtemp(prefix="bench_restore_")
    loader = ReplayBufferManager(spec, capacity, target)

    def restore():
        loader.load_replay_buffer(source_dir=checkpoint)
        if loader.num_frames() != items:
            raise RuntimeError(f"manager restored {loader.num_frames()} items")

    try:
        return common.timed(restore)
    finally:
        loader.close()
        shutil.rmtree(target, ignore_errors=True)
        common.collect()


def _one_writer(
    group: str, items: int, writer: str, repetitions: int, manager_restore: bool
) -> List[dict]:
    import reverb

    from smart_control.reinforcement_learning.replay_buffer.fast_observer import (
        FastTrajectoryObserver,
    )
    from smart_control.reinforcement_learning.replay_buffer.replay_buffer import (
        ReplayBufferManager,
    )

    spec = common.make_spec()
    names = _names(writer)
    values: Dict[str, List[float]] = {key: [] for key in names}
    work = tempfile.mkdtemp(prefix="bench_checkpoint_")
    try:
        keep = os.path.join(work, "kept")
        with common.ServerProcess(items, os.path.join(work, "root")) as server:
            client = reverb.Client(server.address)
            chunks = 32 if writer == "fast" else None
            observer = FastTrajectoryObserver(
                client, common.TABLE_NAME, 2, max_chunk_length=chunks
            )
            values["rss"] = _fill(observer, _steps_for(items), server.pid)
            observer.close()
            manager = ReplayBufferManager(
                spec, items, None, server_address=server.address
            )
            manager.create_replay_buffer()  # connects; checks the signature
            if manager.num_frames() != items:
                raise RuntimeError(f"wrote {manager.num_frames()} items, not {items}")
            for _ in range(repetitions):
                path = {}

                def save(path=path):
                    path["path"] = manager.checkpoint()

                values["save"].append(common.timed(save))
                values["disk"].append(common.dir_bytes(path["path"]) / 1e6)
            # Reverb deletes all but the newest checkpoint of its root.
            shutil.copytree(path["path"], keep)
            manager.close()
        own = os.path.join(work, "own")
        if manager_restore:
            _own_buffer(spec, keep, items, own)
        for _ in range(repetitions):
            values["restore_raw"].append(_bare_restore(keep, items, items))
            if manager_restore:
                values["restore_own"].append(_manager_restore(spec, own, items, items))
                values["restore"].append(_manager_restore(spec, keep, items, items))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        common.row(group, names["disk"], "MB", values["disk"], RAW_BYTES),
        common.row(group, names["save"], "s", values["save"]),
        common.row(group, names["restore_raw"], "s", values["restore_raw"]),
    ]
    if manager_restore:
        rows += [
            common.row(group, names[key], "s", values[key], names["restore_raw"])
            for key in ("restore_own", "restore")
        ]
    rows.append(common.row(group, names["rss"], "B/item", values["rss"], RAW_PER_ITEM))
    return rows


def _raw_rows(group: str, items: int, repetitions: int) -> List[dict]:
    raw_bytes = _steps_for(items) * common.STEP_BYTES
    return [
        common.row(group, RAW_BYTES, "MB", [raw_bytes / 1e6] * repetitions),
        common.row(group, RAW_PER_ITEM, "B/item", [raw_bytes / items] * repetitions),
    ]


def run(repetitions: int = 3, quick: bool = False, full: bool = False) -> List[dict]:
    small = 1_000 if quick else 50_000
    large = 500_000 if full and not quick else None
    rows = []
    group = f"checkpoint {small // 1000}k"
    rows += _raw_rows(group, small, repetitions)
    rows += _one_writer(group, small, "manager", repetitions, manager_restore=True)
    if not quick:
        rows += _one_writer(group, small, "fast", repetitions, manager_restore=True)
    if large:
        group = f"checkpoint {large // 1000}k"
        rows += _raw_rows(group, large, repetitions)
        rows += _one_writer(group, large, "fast", repetitions, manager_restore=True)
    return rows
