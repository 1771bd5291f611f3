"""Every end-to-end gateway test runs calls in real time over loopback: marked ``slow`` (scripts/test runs
them on Python 3.11; the 3.13 pass leaves them out to keep CI under ten minutes) and ``serial`` (they
measure real time: scripts/check runs them alone, after the parallel part)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.serial)
