"""Two real ``rtvoice-gateway serve`` processes sharing one Redis and one stream token secret, as two
replicas behind a load balancer: a stream token used on one process is refused on the other.

The replay is the worst case: the carrier retried the webhook and it reached the second process, which
then holds an answered call for that CallSid and would take the stream if only it could tell the token
apart from a fresh one. (In-process variants, handoff included: tests/gateway/e2e/test_replicas.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import InvalidStatus

from rtvoice_gateway.testing import SimulatedCall
from support.gateway import quiet_spans, wait_until
from support.redis_server import RedisServer
from support.timing import seconds

pytestmark = pytest.mark.slow

SECRET = "one-secret-shared-by-every-replica-0123456789"


@contextlib.asynccontextmanager
async def serve(redis_url: str, log: list[str]) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A ``serve`` process (embedded simulator, no carrier credentials); its URL and the process. Its
    stderr is appended to ``log`` once it has exited."""
    drop = ("OPENAI_API_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_URL", "NUMBERS_CONFIG", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env |= {"REDIS_URL": redis_url, "STREAM_TOKEN_SECRET": SECRET, "DRAIN_GRACE_SECONDS": "0"}
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "rtvoice_gateway.cli", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert server.stdout is not None
    try:
        async with asyncio.timeout(seconds(30)):
            line = (await server.stdout.readline()).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield line.removeprefix("listening on "), server
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(seconds(30)):
                    _, stderr = await server.communicate()
                log.append(stderr.decode())
            except TimeoutError:
                server.kill()
                await server.wait()


async def test_a_token_used_on_one_serve_process_is_refused_on_another_sharing_redis(
    redis: RedisServer,
) -> None:
    log_a: list[str] = []
    log_b: list[str] = []
    async with serve(redis.url, log_a) as (url_a, a), serve(redis.url, log_b) as (url_b, b):
        call = SimulatedCall(url_a)
        await call.dial()
        await call.connect()
        runner = asyncio.create_task(call.run())
        await wait_until(lambda: quiet_spans(call, 1), 30, "the greeting on A")
        assert call.twiml is not None and call.twiml.stream_url is not None

        replay = SimulatedCall(url_b)  # the carrier retried the webhook; it reached B
        replay.call_sid = call.call_sid
        await replay.dial()
        used = urlsplit(call.twiml.stream_url)  # ... and then the same stream token, sent to B
        on_b = used._replace(netloc=urlsplit(url_b).netloc).geturl()
        with pytest.raises(InvalidStatus) as refused:
            await replay.connect(stream_url=on_b)
        assert refused.value.response.status_code == 403

        call.hang_up()
        async with asyncio.timeout(seconds(10)):
            await runner
        assert call.closed_by == "caller"
    assert (a.returncode, b.returncode) == (0, 0), log_a + log_b
    assert "refused: stream token used twice" in log_b[0], log_b
    assert "stream token used twice" not in log_a[0]
