"""The raw client messages every simulator received during this test run (filled by ``conftest.py``)."""

from __future__ import annotations

__all__ = ["CLIENT_MESSAGES"]

#: ``(test node id, raw message)``, from tests that send only what the project itself would send.
CLIENT_MESSAGES: list[tuple[str, str]] = []
