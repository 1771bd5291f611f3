"""The Python examples in docs/audio-devices.md run unchanged, as a user would run them.

Every ```python block there is a complete program; illustrative snippets that need more (an API key,
the agent) use ```py and are not run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "audio-devices.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
EXAMPLES = BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) == 5


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_doc_example_runs(index: int, tmp_path: Path) -> None:
    script = tmp_path / f"example_{index + 1}.py"
    script.write_text(EXAMPLES[index], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, f"example {index + 1} failed:\n{result.stderr[-2000:]}"
    expected = [
        "captured 200 ms of tone",
        "of 1000 ms before the interruption",
        "PCMU_8K -> PCM16_24K",
        "heard.wav: ",
        "10 frames in, 10 frames out, last position 200 ms",
    ][index]
    assert expected in result.stdout, result.stdout
