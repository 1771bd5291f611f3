"""hatch_build.py, the install's build hook: it compiles the resampler's C kernel into a module that loads,
and where it cannot, it says why instead of failing the install."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_hook() -> object:
    spec = importlib.util.spec_from_file_location("hatch_build_under_test", ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the kernel's source where the project's tree would have it."""
    package = tmp_path / "codecs" / "rtvoice_codecs"
    package.mkdir(parents=True)
    shutil.copy(ROOT / "codecs" / "rtvoice_codecs" / "_fir.c", package / "_fir.c")
    return tmp_path


def test_the_hook_builds_a_kernel_that_loads_and_resamples(tree: Path) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    hook = load_hook()
    assert hook.compile_kernel(tree) is None  # type: ignore[attr-defined]
    built = tree / "codecs" / "rtvoice_codecs" / "_fir.abi3.so"
    assert built.is_file()
    assert [p.name for p in built.parent.iterdir() if p.suffix == ".tmp"] == []  # no partial file left
    spec = importlib.util.spec_from_file_location("rtvoice_codecs._fir", built)
    assert spec is not None and spec.loader is not None
    kernel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernel)
    from rtvoice_codecs import fir_design

    design = fir_design(8000, 24000)
    state = bytearray(16 + 8 * (design.taps_per_phase - 1))
    assert len(kernel.process(design.phases, design.up, design.down, state, bytes(320))) == 960


def test_a_kernel_that_does_not_compile_is_reported_not_raised(tree: Path) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    (tree / "codecs" / "rtvoice_codecs" / "_fir.c").write_text("this is not C\n", encoding="utf-8")
    problem = load_hook().compile_kernel(tree)  # type: ignore[attr-defined]
    assert isinstance(problem, str) and "failed" in problem
    assert not (tree / "codecs" / "rtvoice_codecs" / "_fir.abi3.so").exists()
    assert [p.name for p in (tree / "codecs" / "rtvoice_codecs").iterdir()] == ["_fir.c"]


def test_a_tree_it_cannot_write_to_is_reported_not_raised(tmp_path: Path) -> None:
    problem = load_hook().compile_kernel(tmp_path / "missing")  # type: ignore[attr-defined]
    assert isinstance(problem, str) and "cannot write" in problem
