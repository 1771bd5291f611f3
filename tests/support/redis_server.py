"""A real ``redis-server`` for tests: on a free loopback port, nothing persisted, stopped afterwards.

Skipped (with the reason) where the binary is missing on a developer's machine; under CI (``CI`` set) a
missing binary fails instead, because ``scripts/test`` installs it (the Debian package ``redis-server``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rtvoice_gateway.loadtest.runner import free_port

__all__ = ["RedisServer", "redis_server", "require_redis_server"]

_START_TIMEOUT_S = 10.0


def require_redis_server() -> str:
    """The ``redis-server`` binary's path, or skip (fail under CI) with the reason."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server; scripts/test installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running ``redis-server``."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (idempotent): later commands get ``connection refused``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(binary: str, directory: Path) -> RedisServer:
    port = free_port()
    options = {
        "bind": "127.0.0.1",
        "port": str(port),
        "save": "",  # nothing persisted
        "appendonly": "no",
        "dir": str(directory),
        "logfile": str(directory / "redis.log"),
    }
    process = subprocess.Popen(
        [binary, *(part for name, value in options.items() for part in (f"--{name}", value))],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(process, port)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if _answers_ping(port):
            return server
        time.sleep(0.02)
    server.stop()
    logfile = directory / "redis.log"
    log = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
    raise RuntimeError(f"redis-server did not start on port {port}:\n{log}")


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """Start a ``redis-server`` in ``directory`` (skips without the binary); stop it at the end.

    The free port is picked just before the server binds it; if another process takes it meanwhile, the
    start is retried on another port.
    """
    binary = require_redis_server()
    for attempt in range(3):
        try:
            server = _start(binary, directory)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()
