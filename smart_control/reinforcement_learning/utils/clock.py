"""Timestamps as every record of the project writes them."""

from __future__ import annotations

import datetime


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
