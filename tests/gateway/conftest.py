"""The CLI configures logging for its process (it is the host there); tests that call ``main()`` in this
process get the root logger's handlers and level put back afterwards. ``redis``: a real ``redis-server``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.redis_server import RedisServer, redis_server


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port for this test (skipped where it is not installed)."""
    with redis_server(tmp_path) as server:
        yield server
