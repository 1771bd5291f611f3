"""ChatOpenAI and ChatAzureOpenAI against the Chat Completions simulator, over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from openai.types.realtime import RealtimeFunctionTool

from rtvoice.exceptions import ConfigurationError, UpstreamError
from rtvoice.llm import (
    AssistantMessage,
    ChatAzureOpenAI,
    ChatMessage,
    ChatModelError,
    ChatOpenAI,
    ChatResult,
    ChatUsage,
    SystemMessage,
    ToolCall,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from rtvoice.testing.chat import ChatCompletionsSimulator, ChatReply, ChatRequest, ErrorReply, ScriptedCall

KEY = "sk-test-llm"
WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests decide the environment; a developer's own key or base URL must not leak in.
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_VERSION",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT",
        "AZURE_OPENAI_AD_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


async def test_text_reply_with_usage_and_the_exact_wire_request() -> None:
    async with ChatCompletionsSimulator([ChatReply(text="Hello there.")], api_key=KEY) as sim:
        async with ChatOpenAI(
            model="gpt-4o-mini", api_key=KEY, base_url=sim.base_url, temperature=0.3
        ) as llm:
            result = await llm.complete([SystemMessage("Be brief."), UserMessage("Hi")])
    assert result.text == "Hello there."
    assert result.tool_calls == ()
    assert result.finish_reason == "stop"
    assert result.model == "gpt-4o-mini"
    assert result.id is not None and result.id.startswith("chatcmpl-")
    assert result.usage.model == "gpt-4o-mini"
    assert result.usage.completion_id == result.id
    assert result.usage.completion_tokens == 3  # 12 characters
    assert result.usage.prompt_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    body = sim.requests[0].body
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.3,
    }


async def test_tool_calls_round_trip_through_the_history() -> None:
    script = [
        ChatReply(tool_calls=[ScriptedCall("get_weather", {"city": "Oslo"}, id="call_1")]),
        ChatReply(text="It is mild in Oslo."),
    ]
    async with ChatCompletionsSimulator(script) as sim:
        async with ChatOpenAI(api_key=KEY, base_url=sim.base_url) as llm:
            first = await llm.complete([UserMessage("Weather in Oslo?")], [WEATHER])
            history: list[ChatMessage] = [
                UserMessage("Weather in Oslo?"),
                first.to_message(),
                ToolMessage("call_1", "12 °C"),
            ]
            second = await llm.complete(history, [WEATHER])
    assert first.tool_calls == (ToolCall("call_1", "get_weather", '{"city": "Oslo"}'),)
    assert first.text is None and first.finish_reason == "tool_calls"
    assert second.text == "It is mild in Oslo."
    sent = sim.requests[1].body
    assert sent["tools"] == [WEATHER.to_wire()] and sent["tool_choice"] == "auto"
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "12 °C"}
    assert "temperature" not in sent  # None leaves the API default


async def test_cached_tokens_are_read_from_prompt_tokens_details() -> None:
    system = SystemMessage("Policy: " + "answer carefully. " * 400)
    async with ChatCompletionsSimulator() as sim:
        async with ChatOpenAI(api_key=KEY, base_url=sim.base_url) as llm:
            first = await llm.complete([system, UserMessage("one")])
            second = await llm.complete(
                [system, UserMessage("one"), AssistantMessage("OK."), UserMessage("two")]
            )
    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens > 0 and second.usage.cached_tokens % 128 == 0
    assert second.usage.cached_tokens <= second.usage.prompt_tokens


async def test_environment_key_and_base_url_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    async with ChatCompletionsSimulator([ChatReply(text="via env")], api_key="sk-from-env") as sim:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        monkeypatch.setenv("OPENAI_BASE_URL", sim.base_url)
        async with ChatOpenAI() as llm:
            result = await llm.complete([UserMessage("hi")])
    assert result.text == "via env"
    assert sim.requests[0].headers["authorization"] == "Bearer sk-from-env"
    assert sim.requests[0].model == "gpt-4o-mini"  # the default model


def test_no_key_is_a_configuration_error_naming_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        ChatOpenAI()


async def test_a_refused_request_becomes_chat_model_error_with_status_and_code() -> None:
    async with ChatCompletionsSimulator(api_key=KEY) as sim:
        async with ChatOpenAI(api_key="sk-wrong-000000", base_url=sim.base_url) as llm:
            with pytest.raises(ChatModelError) as caught:
                await llm.complete([UserMessage("hi")])
    error = caught.value
    assert isinstance(error, UpstreamError)
    assert (error.status_code, error.code, error.retryable) == (401, "invalid_api_key", False)
    assert "HTTP 401" in str(error) and "Incorrect API key provided" in str(error)
    assert "Error code:" not in str(error)  # the API's sentence, not the SDK's prefix


async def test_an_invalid_history_is_reported_with_the_api_message() -> None:
    async with ChatCompletionsSimulator() as sim:
        async with ChatOpenAI(api_key=KEY, base_url=sim.base_url) as llm:
            with pytest.raises(ChatModelError, match="preceeding message with 'tool_calls'") as caught:
                await llm.complete([UserMessage("hi"), ToolMessage("call_x", "orphan")])
    assert caught.value.status_code == 400 and not caught.value.retryable


async def test_server_errors_are_retryable_and_rate_limits_carry_their_code() -> None:
    script = [
        ErrorReply(503, "Overloaded", should_retry=False),
        ErrorReply(429, "Slow down", "requests", "rate_limit_exceeded"),
    ]
    async with ChatCompletionsSimulator(script) as sim:
        async with ChatOpenAI(api_key=KEY, base_url=sim.base_url) as llm:
            with pytest.raises(ChatModelError) as overloaded:
                await llm.complete([UserMessage("hi")])
            with pytest.raises(ChatModelError) as limited:
                await llm.complete([UserMessage("hi")])
    assert (overloaded.value.status_code, overloaded.value.retryable) == (503, True)
    assert (limited.value.status_code, limited.value.code, limited.value.retryable) == (
        429,
        "rate_limit_exceeded",
        True,
    )


async def test_an_unreachable_server_is_a_retryable_connection_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ChatOpenAI(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0) as llm:
        with pytest.raises(ChatModelError, match="could not reach OpenAI") as caught:
            await llm.complete([UserMessage("hi")])
    assert caught.value.retryable and caught.value.status_code is None


async def test_azure_sends_to_the_deployment_with_the_api_key_header() -> None:
    async with ChatCompletionsSimulator([ChatReply(text="azure ok")], api_key=KEY) as sim:
        async with ChatAzureOpenAI(
            azure_endpoint=sim.azure_endpoint, azure_deployment="gpt4o-prod", api_key=KEY
        ) as llm:
            result = await llm.complete([UserMessage("hi")])
    assert result.text == "azure ok" and result.model == "gpt4o-prod"
    request = sim.requests[0]
    assert request.deployment == "gpt4o-prod"
    assert request.api_version == "2024-10-21"
    assert request.headers["api-key"] == KEY


async def test_azure_reads_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with ChatCompletionsSimulator([ChatReply(text="env")], api_key="azure-env-key") as sim:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", sim.azure_endpoint)
        monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "dep-env")
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-env-key")
        monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
        async with ChatAzureOpenAI() as llm:
            assert (await llm.complete([UserMessage("hi")])).text == "env"
    assert (sim.requests[0].deployment, sim.requests[0].api_version) == ("dep-env", "2025-04-01-preview")


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"azure_endpoint": "https://r.openai.azure.com", "api_key": "k"}, "azure_deployment"),
        ({"azure_deployment": "d", "api_key": "k"}, "azure_endpoint"),
        ({"azure_endpoint": "https://r.openai.azure.com", "azure_deployment": "d"}, "api_key"),
    ],
)
def test_azure_configuration_errors_name_what_is_missing(kwargs: dict[str, str], fix: str) -> None:
    with pytest.raises(ConfigurationError, match=fix):
        ChatAzureOpenAI(
            azure_endpoint=kwargs.get("azure_endpoint"),
            azure_deployment=kwargs.get("azure_deployment"),
            api_key=kwargs.get("api_key"),
        )


def test_tool_spec_reads_realtime_and_chat_shapes() -> None:
    flat = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": WEATHER.parameters,
    }
    model = RealtimeFunctionTool.model_validate(flat)
    assert ToolSpec.from_definition(flat) == WEATHER
    assert ToolSpec.from_definition(WEATHER.to_wire()) == WEATHER
    assert ToolSpec.from_definition(model) == WEATHER
    bare = ToolSpec.from_definition({"type": "function", "name": "ping"})
    assert bare.parameters["type"] == "object" and bare.description == ""
    with pytest.raises(ValueError, match="without a function name"):
        ToolSpec.from_definition({"type": "function"})


def test_messages_and_results_convert_to_the_wire_shape() -> None:
    call = ToolCall("c1", "f", "{}")
    assert call == ("c1", "f", "{}")  # a plain (id, name, arguments_json) tuple
    assert AssistantMessage("text").to_wire() == {"role": "assistant", "content": "text"}
    result = ChatResult(text="t", tool_calls=(call,), usage=ChatUsage("m", 10, 2, 0))
    assert result.to_message() == AssistantMessage("t", (call,))
    assert result.usage.total_tokens == 12
    assert json.loads(json.dumps(result.to_message().to_wire()))["tool_calls"][0]["function"] == {
        "name": "f",
        "arguments": "{}",
    }


async def test_one_model_serves_many_concurrent_requests_and_reopens_after_aclose() -> None:
    # A chat model is built once and shared by every call's supervisor: requests overlap on one client.
    count = 12
    arrived: list[str] = []
    all_in_flight = asyncio.Event()

    async def brain(request: ChatRequest) -> ChatReply:
        text = str(request.messages[-1]["content"])
        arrived.append(text)
        if len(arrived) == count:
            all_in_flight.set()
        await all_in_flight.wait()  # nobody is answered until every request is in flight at once
        return ChatReply(text=f"answer to {text}")

    async with ChatCompletionsSimulator(brain, api_key=KEY) as sim:
        llm = ChatOpenAI(api_key=KEY, base_url=sim.base_url, max_retries=0)
        results = await asyncio.gather(*(llm.complete([UserMessage(f"call {n}")]) for n in range(count)))
        assert [r.text for r in results] == [f"answer to call {n}" for n in range(count)]
        assert len({r.usage.completion_id for r in results}) == count
        await llm.aclose()  # the owner's call; a later request opens a new client
        assert (await llm.complete([UserMessage("after")])).text == "answer to after"
        await llm.aclose()
