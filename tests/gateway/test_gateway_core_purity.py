"""The gateway's pure cores stay pure: no I/O, no event loop, no clock, no randomness of their own.

The stream tokens draw their default nonces from ``os.urandom`` (injectable as ``nonce_factory``); ``os``
is therefore allowed, and checked to be used for nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rtvoice_gateway

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
ROOT = Path(next(iter(rtvoice_gateway.__path__)))
MODULES = sorted([*ROOT.glob("carrier/*.py"), *ROOT.glob("security/*.py"), ROOT / "twiml.py"])


def imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_core_modules_are_found() -> None:
    names = {f"{path.parent.name}/{path.name}" for path in MODULES}
    assert names >= {
        "carrier/twilio.py",
        "carrier/pacing.py",
        "security/tokens.py",
        "rtvoice_gateway/twiml.py",
    }


@pytest.mark.parametrize("path", MODULES, ids=[f"{p.parent.name}/{p.name}" for p in MODULES])
def test_no_io_clock_or_randomness(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert imported_roots(tree) & BANNED == set()
    os_uses = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
    }
    assert os_uses <= {"urandom"}
