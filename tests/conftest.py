"""Shared pytest fixtures and the test tiers.

gin is cleared around every test. Tiers (markers registered in pyproject.toml):
`slow` (more than ~10 s: binaries and launchers in subprocesses, training
runs) and `slurm` (the real test Slurm); `make test-fast` leaves both out.
"""

import gin
import pytest


@pytest.fixture(autouse=True)
def clear_gin_config():
    gin.clear_config()
    yield
    gin.clear_config()


# The fixtures that start the real test Slurm (tests/launchers/slurm_cluster.py).
_SLURM_FIXTURES = frozenset(
    {"slurm_cluster", "slurm_multinode", "slurm_multinode_cluster"}
)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    """Puts every test that uses a Slurm fixture in the `slurm` tier.

    A new Slurm test then stays out of `make test-fast` even when its module
    forgets the marker.
    """
    for item in items:
        if _SLURM_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slurm)
