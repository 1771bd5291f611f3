"""``rtvoice-gateway call`` against a gateway served on loopback: the CallSid on success; one line on
stderr and exit code 2 for bad input (1 when the gateway or the carrier fails), never a traceback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from rtvoice import RealtimeAgent
from rtvoice.testing import RealtimeSimulator
from rtvoice_gateway.cli import main
from rtvoice_gateway.numbers import CallDetails
from support.gateway import LiveGateway, live_gateway

NUMBER = "+15550100001"
CALLEE = "+15550100777"
API_TOKEN = "test-api-token-0123456789abcdef"


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You call people.")


@pytest.fixture
async def live(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveGateway]:
    monkeypatch.setenv("GATEWAY_API_TOKEN", API_TOKEN)
    monkeypatch.delenv("GATEWAY_URL", raising=False)
    async with (
        RealtimeSimulator() as sim,
        live_gateway(factory, sim=sim, settings={"gateway_api_token": API_TOKEN}) as live,
    ):
        live.api.outcome = "busy"  # the call ends at once: this is about the command
        yield live


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, ["call", *argv])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("rtvoice-gateway call: ")
    return lines[0]


async def test_call_prints_the_call_sid(live: LiveGateway, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("--to", CALLEE, "--from", NUMBER, "--amd", "--gateway", live.base_url) == 0
    out = capsys.readouterr().out
    (placed,) = live.api.placed
    assert out == f"{placed.sid}\n"
    assert (placed.param("To"), placed.param("From"), placed.param("MachineDetection")) == (
        CALLEE,
        NUMBER,
        "Enable",
    )


async def test_gateway_url_comes_from_the_environment(
    live: LiveGateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_URL", live.base_url)
    assert await run("--to", CALLEE, "--from", NUMBER) == 0
    assert capsys.readouterr().out.strip() == live.api.placed[0].sid


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "5550100777", "--from", NUMBER], "--to '5550100777' is not an E.164 number"),
        (["--to", CALLEE, "--from", "+1 555"], "--from '+1 555' is not an E.164 number"),
        (["--to", CALLEE, "--from", NUMBER, "--agent", "nope:make"], "unknown agent 'nope:make'"),
        (["--to", CALLEE, "--from", "+15550100999"], "no agent for +15550100999"),
        (["--to", CALLEE, "--from", NUMBER, "--gateway", "127.0.0.1:8080"], "--gateway must start with http"),
    ],
)
async def test_bad_input_is_one_line_and_exit_2(
    live: LiveGateway, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if "--gateway" not in argv:
        argv = [*argv, "--gateway", live.base_url]
    assert await run(*argv) == 2
    assert message in one_line(capsys)
    assert live.api.placed == []


async def test_no_token_or_a_wrong_token_is_exit_2(
    live: LiveGateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEWAY_API_TOKEN")
    assert await run("--to", CALLEE, "--from", NUMBER, "--gateway", live.base_url) == 2
    assert "GATEWAY_API_TOKEN is not set" in one_line(capsys)
    monkeypatch.setenv("GATEWAY_API_TOKEN", "not-the-token-0123456789")
    assert await run("--to", CALLEE, "--from", NUMBER, "--gateway", live.base_url) == 2
    assert "refused the API token" in one_line(capsys)
    assert API_TOKEN not in capsys.readouterr().err
    assert live.api.placed == []


async def test_a_carrier_refusal_or_no_gateway_is_exit_1(
    live: LiveGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    live.api.auth_token = "rotated"
    assert await run("--to", CALLEE, "--from", NUMBER, "--gateway", live.base_url) == 1
    assert "the carrier refused the call: HTTP 401" in one_line(capsys)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert await run("--to", CALLEE, "--from", NUMBER, "--gateway", f"http://127.0.0.1:{port}") == 1
    assert "cannot reach the gateway" in one_line(capsys)


async def test_a_gateway_without_the_api_is_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_API_TOKEN", API_TOKEN)
    async with RealtimeSimulator() as sim, live_gateway(factory, sim=sim) as live:
        assert await run("--to", CALLEE, "--from", NUMBER, "--gateway", live.base_url) == 2
    assert "has no outbound API" in one_line(capsys)
