"""Timeouts in a scaled unit, so a slow CI machine can stretch them without editing tests.

Set ``RTVOICE_TEST_TIME_SCALE=3`` to triple every timeout. Timeouts only bound waits (a hung test fails
instead of hanging); no test asserts on how long something took.
"""

from __future__ import annotations

import os

__all__ = ["MS", "seconds"]

#: One millisecond of test timeout, scaled.
MS = float(os.environ.get("RTVOICE_TEST_TIME_SCALE", "1")) / 1000


def seconds(value: float) -> float:
    """A timeout of ``value`` seconds, scaled."""
    return value * MS * 1000
