"""Shared pytest fixtures: gin is cleared around every test."""

import gin
import pytest


@pytest.fixture(autouse=True)
def clear_gin_config():
    gin.clear_config()
    yield
    gin.clear_config()
