"""docs/dashboard.md's console example runs as written: ``serve`` with ``DASHBOARD_TOKEN``, then its curl
commands print what the doc says."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.timing import seconds

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "dashboard.md").read_text()


def curl_examples() -> list[tuple[str, str]]:
    """Each ``$ curl ...`` line of the doc with the line it prints."""
    return re.findall(r"^\$ (curl .*)\n(\S+)$", DOC, re.MULTILINE)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_docs_curl_examples_print_what_the_doc_says() -> None:
    examples = curl_examples()
    assert [expected for _, expected in examples] == ["401", "200"]
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("OPENAI_API_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_URL")
        },
        "DASHBOARD_TOKEN": "docs-example-dashboard-token",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtvoice_gateway.cli", "serve", "--port", "0",
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        async with asyncio.timeout(seconds(30)):
            line = (await server.stdout.readline()).decode().strip()
        url = line.removeprefix("listening on ")
        for command, expected in examples:
            shell = await asyncio.create_subprocess_exec(
                "bash", "-c", command.replace("http://127.0.0.1:8080", url),
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            async with asyncio.timeout(seconds(10)):
                out, err = await shell.communicate()
            assert out.decode().strip() == expected, (command, err.decode())
    finally:
        server.send_signal(signal.SIGTERM)
        async with asyncio.timeout(seconds(10)):
            await server.communicate()
