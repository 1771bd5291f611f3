"""A real ``rtvoice-gateway serve`` process for tests: started on a free port, stopped on every exit path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from support.timing import seconds

__all__ = ["ServeProcess", "clean_env", "serve_process"]

#: Settings a developer's shell may hold that would change what ``serve`` does in a test.
SETTINGS_FROM_THE_SHELL = (
    "OPENAI_API_KEY",
    "TWILIO_AUTH_TOKEN",
    "PUBLIC_URL",
    "NUMBERS_CONFIG",
    "EVENT_LOOP",
    "REDIS_URL",
    "DRAIN_GRACE_SECONDS",
    "DRAIN_GOODBYE",
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without :data:`SETTINGS_FROM_THE_SHELL`, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k not in SETTINGS_FROM_THE_SHELL}, **extra}


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    url: str
    """``http://127.0.0.1:PORT``, from the process's ``listening on`` line."""


@contextlib.asynccontextmanager
async def serve_process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[ServeProcess]:
    """``rtvoice-gateway serve --port 0 ARGS`` (stdout and stderr piped), once it listens. Killed at the
    end if the test has not stopped it itself."""
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "rtvoice_gateway.cli", "serve", "--port", "0", *args],
        env=clean_env() if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        async with asyncio.timeout(seconds(30)):
            line = (await server.stdout.readline()).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield ServeProcess(server, line.removeprefix("listening on "))
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
