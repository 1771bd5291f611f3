"""Providers open real Realtime sessions on the simulator: OpenAI by env, Azure GA by api-key header."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from openai._models import FinalRequestOptions

from rtvoice.exceptions import ConfigurationError
from rtvoice.providers import AzureOpenAIProvider, OpenAIProvider, SteppedAsyncOpenAI
from rtvoice.testing import RealtimeSimulator


async def _session_model(provider: OpenAIProvider | AzureOpenAIProvider, model: str) -> str:
    client = provider.create_client()
    options = provider.connect_options(model)
    try:
        async with client.realtime.connect(
            model=options.model, extra_headers=options.extra_headers, extra_query=options.extra_query
        ) as conn:
            created = json.loads(await conn.recv_bytes())
            assert created["type"] == "session.created"
            return str(created["session"]["model"])
    finally:
        await client.close()


async def test_openai_provider_honours_openai_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    async with RealtimeSimulator(api_key="sk-env") as sim:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        monkeypatch.setenv("OPENAI_BASE_URL", sim.http_url)
        provider = OpenAIProvider()
        assert await _session_model(provider, "gpt-realtime-mini") == "gpt-realtime-mini"
        assert "sk-env" not in provider.describe()


def test_openai_provider_without_a_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIProvider()


@pytest.mark.parametrize("names", ["readme", "rtvoice-0.7"])
async def test_azure_provider_uses_the_ga_path_and_api_key_header(names: str) -> None:
    async with RealtimeSimulator(api_key="azure-key") as sim:
        endpoint = f"http://127.0.0.1:{sim.bound_port}"
        if names == "readme":
            provider = AzureOpenAIProvider(
                azure_endpoint=endpoint,
                azure_deployment="my-realtime",
                api_version="2024-12-17",
                api_key="azure-key",
            )
        else:
            provider = AzureOpenAIProvider(
                azure_endpoint=endpoint, deployment="my-realtime", api_key="azure-key"
            )
        assert provider.websocket_base_url == f"ws://127.0.0.1:{sim.bound_port}/openai/v1"
        assert await _session_model(provider, "ignored") == "my-realtime"
        assert "azure-key" not in provider.describe()


def test_azure_provider_from_resource_name_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "dep")
    provider = AzureOpenAIProvider(resource="contoso")
    assert provider.websocket_base_url == "wss://contoso.openai.azure.com/openai/v1"
    assert provider.connect_options("x").model == "dep"


def test_azure_provider_errors_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_RESOURCE",
        "AZURE_OPENAI_DEPLOYMENT",
        "AZURE_OPENAI_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="azure_endpoint"):
        AzureOpenAIProvider()
    with pytest.raises(ConfigurationError, match="azure_deployment"):
        AzureOpenAIProvider(azure_endpoint="https://x.openai.azure.com")
    with pytest.raises(ConfigurationError, match="api_key"):
        AzureOpenAIProvider(azure_endpoint="https://x.openai.azure.com", azure_deployment="d")
    token = AzureOpenAIProvider(
        azure_endpoint="https://x.openai.azure.com", azure_deployment="d", azure_ad_token="t"
    )
    assert token.connect_options("m").extra_headers == {}


# A fresh interpreter: which modules does a process's first session import, with and without warm_up()?
_FIRST_SESSION = """
import asyncio, json, sys
from rtvoice import OpenAIProvider, RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator
from rtvoice.testing.phone_line import PhoneLineMicrophone, PhoneLineSpeaker

async def main(warm):
    async with RealtimeSimulator(user_transcripts=["Hello."]) as sim:
        provider = OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url)
        if warm:
            provider.warm_up()
        from openai._base_client import platform_headers
        from rtvoice_codecs import fir_design

        before = set(sys.modules)
        designs, headers = fir_design.cache_info().misses, platform_headers.cache_info().misses
        agent = RealtimeAgent(
            instructions="Be brief.",
            turn_detection=ServerVAD(),
            audio_input=PhoneLineMicrophone(bytes([0xFF]) * 4000),
            audio_output=PhoneLineSpeaker(),
            provider=provider,
        )
        run = asyncio.create_task(agent.run())
        await asyncio.sleep(1.0)
        await agent.stop()
        result = await run
        assert result.error is None, result.error
        print(json.dumps({
            "imports": sorted(set(sys.modules) - before),
            "filters designed": fir_design.cache_info().misses - designs,
            "platform headers computed": platform_headers.cache_info().misses - headers,
        }))
        await provider.aclose()

asyncio.run(main(sys.argv[1] == "warm"))
"""


def _first_session(mode: str) -> dict[str, Any]:
    """The one-time work a process's first session did: modules imported, filters designed, headers."""
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_SESSION, mode], capture_output=True, text=True, timeout=60, check=True
    )
    work: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return work


def test_after_warm_up_the_first_session_does_no_one_time_work_on_the_event_loop() -> None:
    # Cold, the first session imports the SDK's HTTP transport and realtime client (over a hundred
    # modules, ~150 ms with the loop blocked), designs the phone line's two resampling filters (about
    # 1 ms each) and has the SDK compute its platform headers (`uname -p` in a subprocess, about 2 ms);
    # warmed up at start-up, nothing is left for it to do.
    cold = _first_session("cold")
    assert any(name.startswith("openai.resources.realtime") for name in cold["imports"])
    assert cold["filters designed"] == 2
    assert cold["platform headers computed"] == 1
    assert _first_session("warm") == {"imports": [], "filters designed": 0, "platform headers computed": 0}


async def test_warm_up_creates_the_shared_client_once() -> None:
    for provider in (
        OpenAIProvider(api_key="sk-test"),
        AzureOpenAIProvider(azure_endpoint="http://127.0.0.1:9", deployment="realtime", api_key="azure-key"),
    ):
        provider.warm_up()
        client = provider.client()
        provider.warm_up()
        assert provider.client() is client
        await provider.aclose()


@pytest.mark.parametrize("kind", ["openai", "azure"])
async def test_a_connect_lets_the_loop_run_half_way_through_its_preparation(kind: str) -> None:
    """The SDK's connect does about 1–1.5 ms of work before its first wait; the providers' clients let the
    loop run once in the middle of it (SteppedAsyncOpenAI), so other calls' callbacks are not held for
    all of it. Checked on a real connect: the SDK still calls the hook, and a callback scheduled before
    the connect runs inside it."""
    async with RealtimeSimulator(api_key="sk-test") as sim:
        provider: OpenAIProvider | AzureOpenAIProvider
        if kind == "openai":
            provider = OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url)
        else:
            endpoint = f"http://127.0.0.1:{sim.bound_port}"
            provider = AzureOpenAIProvider(azure_endpoint=endpoint, azure_deployment="d", api_key="sk-test")
        client = provider.create_client()
        assert isinstance(client, SteppedAsyncOpenAI)
        seen: list[str] = []
        hook = client._prepare_options

        async def watched(options: FinalRequestOptions) -> FinalRequestOptions:
            asyncio.get_running_loop().call_soon(seen.append, "another call's callback")
            prepared = await hook(options)
            seen.append("the connect goes on")
            return prepared

        client._prepare_options = watched  # type: ignore[method-assign]
        options = provider.connect_options("gpt-realtime-mini")
        try:
            async with client.realtime.connect(
                model=options.model, extra_headers=options.extra_headers, extra_query=options.extra_query
            ) as conn:
                assert json.loads(await conn.recv_bytes())["type"] == "session.created"
        finally:
            await client.close()
    assert seen == ["another call's callback", "the connect goes on"]
