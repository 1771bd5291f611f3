"""The Python example in docs/codecs.md runs unchanged, as a user would run it."""

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "codecs.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_docs_codecs_python_examples_run(tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert blocks, "docs/codecs.md has no python example"
    printed = ""
    for index, code in enumerate(blocks, 1):
        script = tmp_path / f"example_{index}.py"
        script.write_text(code, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, f"example {index} failed:\n{result.stderr[-2000:]}"
        printed += result.stdout
    assert "outbound: 13 frames of 160 bytes" in printed
    assert "FIR kernel here: " in printed
