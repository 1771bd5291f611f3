"""Every ``python`` block in docs/tools.md runs, unchanged, as a standalone program."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "tools.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
EXAMPLES = [match.group(1) for match in BLOCK.finditer(DOC.read_text())]


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"tools.md#{n + 1}" for n in range(len(EXAMPLES))])
def test_doc_example_runs(code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_schema_shown_for_get_weather_is_the_one_the_first_example_prints(tmp_path: Path) -> None:
    shown = re.search(r"^```json\n(.*?)^```$", DOC.read_text(), re.DOTALL | re.MULTILINE)
    assert shown is not None
    script = tmp_path / "example.py"
    script.write_text(EXAMPLES[0])
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True
    )
    printed = json.loads(result.stdout.splitlines()[0])
    assert printed["name"] == "get_weather"
    assert printed["parameters"] == json.loads(shown.group(1))
