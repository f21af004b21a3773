"""Fixtures of the launcher tests: a real single-node Slurm (slurm_cluster.py)."""

from tests.launchers.slurm_cluster import slurm_cluster  # noqa: F401
