"""The Python examples in the docs run, unchanged, as a user would run them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Docs whose every ``python`` block is a complete program that must run offline.
RUNNABLE_DOCS = ["docs/simulator.md", "docs/agent.md", "docs/carriers.md", "docs/outbound-calls.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in RUNNABLE_DOCS:
        for index, match in enumerate(BLOCK.finditer((ROOT / doc).read_text())):
            found.append((f"{doc}#{index + 1}", match.group(1)))
    return found


@pytest.mark.parametrize(("where", "code"), _examples(), ids=[w for w, _ in _examples()])
def test_doc_example_runs(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr[-2000:]}"
