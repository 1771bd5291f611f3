"""rtvoice_codecs is a pure core: no event loop, clock, sockets or ids, and no imports from the layers above."""

import ast
from pathlib import Path

import rtvoice_codecs

ALLOWED = {
    "__future__",
    "audioop",
    "collections",
    "dataclasses",
    "functools",
    "importlib",  # loads the optional C kernel (_fir.c: arithmetic on buffers, no I/O)
    "logging",  # one warning for an RTVOICE_FIR_KERNEL it cannot follow
    "math",
    "numpy",
    "os",  # reads RTVOICE_FIR_KERNEL, once at import
    "rtvoice_codecs",
    "soxr",
    "sys",
    "types",
    "typing",
    "warnings",
}

PACKAGE = Path(rtvoice_codecs.__file__).parent


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_modules_import_only_pure_dependencies() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 6
    for path in modules:
        extra = imported_roots(path) - ALLOWED
        assert not extra, f"{path.name} imports {sorted(extra)}"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import asyncio\nfrom time import monotonic\nfrom . import sibling\n", encoding="utf-8")
    assert imported_roots(module) - ALLOWED == {"asyncio", "time"}


def test_every_module_declares_all() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            t.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign) for t in _targets(node)
        }
        assert "__all__" in names, path.name


def test_package_reexports_the_public_api() -> None:
    for name in (
        "StreamResampler",
        "FrameChunker",
        "frame_bytes",
        "ulaw_to_pcm16",
        "pcm16_to_alaw",
        "RATE_24K",
    ):
        assert name in rtvoice_codecs.__all__
        assert hasattr(rtvoice_codecs, name)


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.Name]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t for t in targets if isinstance(t, ast.Name)]
