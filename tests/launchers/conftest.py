"""Fixtures of the launcher tests: real Slurm clusters (slurm_cluster.py)."""

from tests.launchers.slurm_cluster import (  # noqa: F401
    slurm_cluster,
    slurm_multinode,
    slurm_multinode_cluster,
)
