"""Small, atomic JSON records and the facts a run records about itself."""

from __future__ import annotations

import datetime
import importlib.metadata
import subprocess
from typing import Dict, Optional

import gin

from smart_control.reinforcement_learning.utils import json_files

_PACKAGES = (
    "smart-control",
    "tensorflow-cpu",
    "dm-reverb",
    "tf-agents",
    "gin-config",
    "numpy",
)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


read_json = json_files.read_json
write_json = json_files.write_json_atomic


def package_versions() -> Dict[str, str]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def git_commit(directory: str) -> Optional[str]:
    """The checkout's commit (with '+dirty' when it has changes), or None."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def experiment_config_str() -> str:
    return gin.config_str()
