"""Two real ``rtvoice-gateway serve`` processes sharing one Redis and one stream token secret, as two
replicas behind a load balancer: a stream token used on one process is refused on the other.

The replay is the worst case: the carrier retried the webhook and it reached the second process, which
then holds an answered call for that CallSid and would take the stream if only it could tell the token
apart from a fresh one. (In-process variants, handoff included: tests/gateway/e2e/test_replicas.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import InvalidStatus

from rtvoice_gateway.testing import SimulatedCall
from support.gateway import quiet_spans, wait_until
from support.redis_server import RedisServer
from support.serve import clean_env, serve_process
from support.timing import seconds

pytestmark = pytest.mark.slow

SECRET = "one-secret-shared-by-every-replica-0123456789"


@contextlib.asynccontextmanager
async def serve(redis_url: str, log: list[str]) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A ``serve`` process (embedded simulator, no carrier credentials); its URL and the process. Its
    stderr is appended to ``log`` once it has exited."""
    env = clean_env(REDIS_URL=redis_url, STREAM_TOKEN_SECRET=SECRET, DRAIN_GRACE_SECONDS="0")
    async with serve_process(env=env) as served:
        try:
            yield served.url, served.process
        finally:
            if served.process.returncode is None:
                served.process.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError):  # then serve_process kills it
                    async with asyncio.timeout(seconds(30)):
                        _, stderr = await served.process.communicate()
                    log.append(stderr.decode())


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
