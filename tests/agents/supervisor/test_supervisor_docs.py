"""Every python block in docs/supervisor.md runs unchanged, offline, as a standalone program."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "supervisor.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_docs_supervisor_python_examples_run(tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 5, "docs/supervisor.md lost an example"
    # As a user would run them, but never with a real key or endpoint from the developer's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    printed = []
    for index, code in enumerate(blocks, 1):
        script = tmp_path / f"example_{index}.py"
        script.write_text(code, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-W", "error", str(script)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
            check=False,
        )
        assert result.returncode == 0, f"example {index} failed:\n{result.stderr[-2000:]}"
        printed.append(result.stdout)
    assert "Clarify(question='For how many people?')" in printed[0]
    assert 'Done(message="Booked a table for 4 at Luigi\'s at 19:30.", success=True)' in printed[0]
    assert '{"message": "Booked a table for 4 at Luigi\'s at 19:30.", "success": true}' in printed[0]
    assert printed[1].splitlines()[-3:] == [
        "Clarification needed before completing this task.",
        "Cannot continue yet. Still waiting for the user's clarification answer.",
        '{"message": "Booked for Friday.", "success": true}',
    ]
    assert printed[2].splitlines() == [
        f"Done(message='Done: Book table {n}.', success=True), 1 chat call(s) billed" for n in (1, 2, 3)
    ]
    assert "/openai/deployments/gpt-4o/chat/completions" in printed[3]
    assert "400 False" in printed[3] and "preceeding message with 'tool_calls'" in printed[3]
    assert "You sent 1 message(s) to gpt-4o-mini." in printed[4]
