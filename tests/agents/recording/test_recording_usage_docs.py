"""The Python examples in docs/recording-and-usage.md run unchanged, as standalone programs, offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "recording-and-usage.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
EXAMPLES = BLOCK.findall(DOC.read_text(encoding="utf-8"))
# What each example must print: the figures the page's prose quotes.
EXPECTED = [
    "2000 ms recorded, 900 ms of agent audio cut at barge-in",
    "final: 2000 ms, 96000 bytes of audio",
    "total $0.27513 (prices of 2026-12-03, complete: True)",
]


def test_the_page_has_the_examples_it_describes() -> None:
    assert len(EXAMPLES) == len(EXPECTED)


@pytest.mark.parametrize(
    ("code", "expected"), list(zip(EXAMPLES, EXPECTED, strict=True)), ids=["timeline", "file", "usage"]
)
def test_docs_example_runs(code: str, expected: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout
