"""JSON records that readers see whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, Optional


def write_json_atomic(path: str, content: Dict[str, Any]) -> None:
    """Writes `content` to `path` via a temporary file and one rename, fsynced.

    A reader (or a resume after a crash) sees the old file or the new one,
    never half of one.
    """
    text = json.dumps(content, indent=2, sort_keys=True, default=str) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: str, text: str) -> None:
    """Writes `text` to `path` via a temporary file and one rename, fsynced.

    Raises:
      OSError: Naming `path` (a full disk fails at the write or the close,
        whose error names no file); the temporary file is removed first, so
        a failed write leaves the old file alone and nothing beside it.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename is None:
            raise OSError(e.errno, e.strerror, path) from e
        raise


def read_json(path: str) -> Optional[Dict[str, Any]]:
    """The file's content, or None when it does not exist (or is not JSON)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
