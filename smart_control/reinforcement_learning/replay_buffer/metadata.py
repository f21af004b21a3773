"""metadata.json: what a buffer directory holds, for people and for loads.

Written by the process holding the directory's lock after every checkpoint
(atomically: readers see the old file or the new one). Besides the table
configuration it records the item count of each checkpoint the manager wrote,
`checkpoint_items`, which every load checks the restored checkpoint against.
A missing or corrupt file is never fatal: the loads then rely on what the
checkpoint files say, and the next write replaces it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, Optional

from absl import logging

from smart_control.reinforcement_learning.utils import json_files, provenance

FORMAT = 2
_PACKAGES = ("smart-control", "dm-reverb", "tf-agents", "tensorflow-cpu", "tensorflow")


def package_versions() -> Dict[str, str]:
    """Installed versions of the packages a buffer's format depends on."""
    return provenance.package_versions(_PACKAGES)


def describe_table(table_info: Any) -> Dict[str, Any]:
    """Sampler, remover and rate limiter of a `reverb.TableInfo`, JSON-ready."""
    limiter = table_info.rate_limiter_info
    return {
        "sampler": str(table_info.sampler_options).strip(),
        "remover": str(table_info.remover_options).strip(),
        "rate_limiter": {
            "samples_per_insert": limiter.samples_per_insert,
            "min_diff": limiter.min_diff,
            "max_diff": limiter.max_diff,
            "min_size_to_sample": limiter.min_size_to_sample,
        },
    }


def read(path: str) -> Optional[Dict[str, Any]]:
    """The metadata at `path`; None if it is missing or unreadable.

    An unreadable file (random bytes, half a file, not an object) is reported
    in one warning line naming it; it never stops a load.
    """
    try:
        with open(path, "rb") as f:
            content = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # UnicodeDecodeError, JSONDecodeError
        logging.warning(
            "Ignoring %s: not readable JSON (%s); relying on the checkpoint files.",
            path,
            str(e).splitlines()[0] if str(e) else type(e).__name__,
        )
        return None
    if not isinstance(content, dict):
        logging.warning(
            "Ignoring %s: not a JSON object; relying on the checkpoint files.", path
        )
        return None
    return content


def recorded_items(content: Optional[Dict[str, Any]]) -> Dict[str, int]:
    """{checkpoint name: item count} as recorded; entries that are not counts are dropped."""
    records = (content or {}).get("checkpoint_items")
    if not isinstance(records, dict):
        return {}
    return {
        str(name): int(count)
        for name, count in records.items()
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0
    }


def write(
    path: str,
    settings: Dict[str, Any],
    checkpoints: Iterable[str],
    records: Dict[str, int],
    created_at: Optional[str],
    updated_at: str,
) -> None:
    """Writes metadata.json atomically.

    Args:
      path: The file to write.
      settings: Table name, capacity, sequence length, spec and table
        configuration, written as they are.
      checkpoints: Names of the checkpoints on disk, oldest first.
      records: Item counts by checkpoint name; only those on disk are kept.
      created_at: When the buffer was created (ISO 8601).
      updated_at: Now (ISO 8601).
    """
    names = list(checkpoints)
    content = dict(settings)
    content.update(
        {
            "format": FORMAT,
            "checkpoints": names,
            "checkpoint_items": {n: records[n] for n in names if n in records},
            "created_at": created_at,
            "updated_at": updated_at,
            "versions": package_versions(),
        }
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    json_files.write_json_atomic(path, content)
