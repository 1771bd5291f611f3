"""``serve --loop``: the gateway serves a call on uvloop and on asyncio's own loop (real processes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from rtvoice_gateway.serve import event_loop_factory
from rtvoice_gateway.testing import SimulatedCall
from support.gateway import wait_until
from support.serve import clean_env, serve_process
from support.timing import seconds


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flag", "env", "module"),
    [
        ("uvloop", None, "uvloop"),
        ("asyncio", None, "asyncio"),
        (None, "asyncio", "asyncio"),
        (None, None, "uvloop"),
    ],
)
async def test_serve_answers_a_call_on_the_loop_it_was_given(
    flag: str | None, env: str | None, module: str
) -> None:
    """``--loop`` (or ``EVENT_LOOP``; default auto, which is uvloop as installed) picks the loop the process
    runs on, as its log says, and a call is answered on it (the caller hears the agent)."""
    args = ["--loop", flag] if flag else []
    async with serve_process(*args, env=clean_env(**({"EVENT_LOOP": env} if env else {}))) as serve:
        server = serve.process
        assert server.stderr is not None
        call = SimulatedCall(serve.url)
        await call.dial()
        await call.connect()
        runner = asyncio.create_task(call.run())
        await wait_until(lambda: call.first_audio_at is not None, 20, "the agent's first audio")
        call.hang_up()
        async with asyncio.timeout(seconds(10)):
            await runner
        server.terminate()
        async with asyncio.timeout(seconds(10)):
            code = await server.wait()
        stderr = (await server.stderr.read()).decode()
    assert code == 0, stderr
    assert f"serving on the {module} event loop" in stderr, stderr
    assert "warmed up for calls in" in stderr, stderr  # before the first call, not during it
    assert "start-up objects kept out of the garbage collector's way" in stderr, stderr
    assert "collector thresholds 700/4/" in stderr, stderr  # short generation-1 collections (heap.py)


async def test_serve_declines_websocket_compression() -> None:
    """The carrier's socket carries no permessage-deflate even when offered (the simulator offers it, as a
    generic client does): deflating base64 audio cost CPU for a quarter of its bytes."""
    async with serve_process() as serve:
        call = SimulatedCall(serve.url)
        await call.dial()
        await call.connect()
        runner = asyncio.create_task(call.run())
        try:
            assert call.extensions == ()
        finally:
            call.hang_up()
            async with asyncio.timeout(seconds(10)):
                await runner


def test_uvloop_where_it_is_not_installed_is_one_line_and_exit_2() -> None:
    """``--loop uvloop`` without uvloop: one clear line on stderr, exit status 2 (no traceback)."""
    code = (
        "import sys; sys.modules['uvloop'] = None\n"  # importing it now raises ImportError
        "from rtvoice_gateway.cli import main\n"
        "sys.exit(main(['serve', '--port', '0', '--loop', 'uvloop']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "rtvoice-gateway serve: --loop uvloop: uvloop is not installed (pip install uvloop)"
    )


@pytest.mark.parametrize(
    ("choice", "loop_type"), [("asyncio", "_UnixSelectorEventLoop"), ("uvloop", "Loop"), ("auto", "Loop")]
)
def test_event_loop_factory_makes_the_loop_asked_for(choice: str, loop_type: str) -> None:
    loop = event_loop_factory(choice)()
    try:
        assert type(loop).__name__ == loop_type
    finally:
        loop.close()
