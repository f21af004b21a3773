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


# Before -m deselects by marker, and before pytest-xdist reads the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Puts every Slurm test in the `slurm` tier, and every test in a worker group.

    A test that uses a Slurm fixture is marked `slurm`, so a new Slurm test
    stays out of `make test-fast` even when its module forgets the marker.
    With pytest-xdist (`make test` runs `-n 2 --dist loadgroup`) a group runs
    on one worker: all Slurm tests share one (the test cluster is a session
    fixture, started once), and every other module is its own group, so its
    module- and session-scoped fixtures (a trained policy, a populated buffer,
    the bad-input table's runs) are built once, not once per worker.
    """
    for item in items:
        if _SLURM_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slurm)
        slurm = item.get_closest_marker("slurm") is not None
        group = "slurm" if slurm else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
