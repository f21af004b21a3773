"""JSON records that readers see whole or not at all."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional


def write_json_atomic(path: str, content: Dict[str, Any]) -> None:
    """Writes `content` to `path` via a temporary file and one rename, fsynced.

    A reader (or a resume after a crash) sees the old file or the new one,
    never half of one.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(content, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str) -> Optional[Dict[str, Any]]:
    """The file's content, or None when it does not exist (or is not JSON)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
