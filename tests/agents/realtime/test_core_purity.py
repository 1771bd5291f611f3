"""The protocol core and the conversation history stay pure: no I/O, no clock, no randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rtvoice.conversation
import rtvoice.realtime

BANNED = {
    "asyncio",
    "websockets",
    "starlette",
    "httpx",
    "socket",
    "time",
    "uuid",
    "random",
    "secrets",
    "threading",
}
MODULES = sorted(
    path
    for package in (rtvoice.realtime, rtvoice.conversation)
    for path in Path(next(iter(package.__path__))).glob("*.py")
)


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_core_modules_are_found() -> None:
    assert {path.name for path in MODULES} >= {"protocol.py", "playback.py", "speech.py", "history.py"}


@pytest.mark.parametrize("path", MODULES, ids=[f"{p.parent.name}/{p.name}" for p in MODULES])
def test_no_io_clock_or_randomness(path: Path) -> None:
    assert imported_roots(path) & BANNED == set()
