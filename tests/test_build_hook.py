"""hatch_build.py, the install's build hook: it compiles the resampler's C kernel into a module that loads,
and where it cannot, it says why instead of failing the install."""

from __future__ import annotations

import importlib.util
import random
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


def test_the_baseline_loop_gives_the_bytes_of_the_installed_one(tree: Path) -> None:
    """Where the kernel's loop is also built for AVX2 (x86-64 Linux), the CPU picks one at load time, so a
    machine's tests only run one of them; the baseline loop, built alone, must give the installed one's
    bytes. (It fails for a wrong index in either; a changed order of the additions would change a double
    by an ulp, which almost never moves a rounded sample: the order is kept by construction.)"""
    from rtvoice_codecs import fir_design
    from rtvoice_codecs.resample import load_kernel

    installed = load_kernel()
    if installed is None:
        pytest.skip("the C kernel was not built here")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    assert load_hook().compile_kernel(tree, defines=("FIR_NO_CLONES",)) is None  # type: ignore[attr-defined]
    spec = importlib.util.spec_from_file_location(
        "rtvoice_codecs._fir", tree / "codecs" / "rtvoice_codecs" / "_fir.abi3.so"
    )
    assert spec is not None and spec.loader is not None
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    rng = random.Random(7)
    # Loud noise (saturates), quiet noise and exact rounding ties are where a different sum order would show.
    pcm = b"".join(rng.randrange(-32768, 32768).to_bytes(2, "little", signed=True) for _ in range(24000))
    quiet = b"".join(rng.randrange(-40, 41).to_bytes(2, "little", signed=True) for _ in range(24000))
    for in_rate, out_rate in [(8000, 24000), (24000, 8000), (16000, 24000), (24000, 16000), (8000, 16000)]:
        design = fir_design(in_rate, out_rate)
        for data in (pcm, quiet):
            cuts = sorted({0, len(data), *(2 * rng.randrange(len(data) // 2) for _ in range(60))})
            chunks = [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
            outputs = []
            for kernel in (installed, baseline):
                state = bytearray(16 + 8 * (design.taps_per_phase - 1))
                outputs.append(
                    b"".join(kernel.process(design.phases, design.up, design.down, state, c) for c in chunks)
                )
            assert outputs[0] == outputs[1], (in_rate, out_rate)
