"""What a run records about the code that produced it: versions and commit."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from typing import Dict, Optional, Sequence

PACKAGES = (
    "smart-control",
    "tensorflow-cpu",
    "tensorflow",
    "dm-reverb",
    "tf-agents",
    "gin-config",
    "numpy",
)


def package_versions(packages: Sequence[str] = PACKAGES) -> Dict[str, str]:
    """Installed versions of `packages` (missing ones are left out)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def git_commit(directory: Optional[str] = None) -> Optional[str]:
    """The checkout's commit (with '+dirty' when it has changes), or None.

    Args:
      directory: A directory inside the checkout; default: this package's.
    """
    directory = directory or os.path.dirname(os.path.abspath(__file__))
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
