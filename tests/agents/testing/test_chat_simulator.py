"""ChatCompletionsSimulator over real loopback HTTP with the unmodified openai SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types.chat import ChatCompletion

from rtvoice.testing.chat import (
    ChatCompletionsSimulator,
    ChatReply,
    ChatRequest,
    ChatRequestError,
    ErrorReply,
    Reply,
    ScriptedCall,
    validate_chat_request,
)

KEY = "sk-test-key-123456"
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}
USER = {"role": "user", "content": "Find the opening hours."}


def _assistant_calls(*ids: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
            for i in ids
        ],
    }


def _tool(call_id: str, content: str = "9 to 5") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


@pytest.fixture
async def client() -> AsyncIterator[AsyncOpenAI]:
    # max_retries=0: a refused request must show as one request, not three.
    async with AsyncOpenAI(api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=0) as c:
        yield c


async def _create(client: AsyncOpenAI, sim: ChatCompletionsSimulator, **kwargs: Any) -> ChatCompletion:
    completion = await client.with_options(base_url=sim.base_url).chat.completions.create(
        model="gpt-4o-mini", **kwargs
    )
    assert isinstance(completion, ChatCompletion)
    return completion


async def test_scripted_replies_are_served_in_order_with_text_and_tool_calls(client: AsyncOpenAI) -> None:
    script = [
        ChatReply(tool_calls=[ScriptedCall("lookup", {"q": "hours"}, id="call_fixed")]),
        ChatReply(text="Open 9 to 5."),
    ]
    async with ChatCompletionsSimulator(script, api_key=KEY) as sim:
        first = await _create(client, sim, messages=[USER], tools=[LOOKUP])
        second = await _create(
            client, sim, messages=[USER, _assistant_calls("call_fixed"), _tool("call_fixed")], tools=[LOOKUP]
        )
    call = first.choices[0].message.tool_calls
    assert call is not None and len(call) == 1
    assert call[0].type == "function"
    assert (call[0].id, call[0].function.name, json.loads(call[0].function.arguments)) == (
        "call_fixed",
        "lookup",
        {"q": "hours"},
    )
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.content is None
    assert second.choices[0].message.content == "Open 9 to 5."
    assert second.choices[0].finish_reason == "stop"
    assert second.model == "gpt-4o-mini"
    assert [len(r.messages) for r in sim.requests] == [1, 3]
    assert sim.requests[1].messages[2] == _tool("call_fixed")
    assert sim.requests[0].tool_names == ["lookup"]


async def test_generated_call_ids_are_distinct_and_raw_arguments_are_sent_verbatim(
    client: AsyncOpenAI,
) -> None:
    script = [ChatReply(tool_calls=[ScriptedCall("lookup", {"q": "a"}), ScriptedCall("lookup", "{not json")])]
    async with ChatCompletionsSimulator(script) as sim:
        completion = await _create(client, sim, messages=[USER], tools=[LOOKUP])
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    ids = [c.id for c in calls]
    assert len(set(ids)) == 2 and all(i.startswith("call_") for i in ids)
    assert [c.function.arguments for c in calls if c.type == "function"] == ['{"q": "a"}', "{not json"]


async def test_callable_script_sees_the_parsed_request(client: AsyncOpenAI) -> None:
    seen: list[ChatRequest] = []

    async def brain(request: ChatRequest) -> Reply:
        seen.append(request)
        return ChatReply(text=f"{len(request.messages)} messages, last: {request.messages[-1]['content']}")

    async with ChatCompletionsSimulator(brain) as sim:
        completion = await _create(client, sim, messages=[{"role": "system", "content": "Be brief."}, USER])
    assert completion.choices[0].message.content == "2 messages, last: Find the opening hours."
    assert seen[0].model == "gpt-4o-mini"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


async def test_sync_callable_script_and_custom_finish_reason(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator(lambda _r: ChatReply(text="cut", finish_reason="length")) as sim:
        completion = await _create(client, sim, messages=[USER])
    assert (completion.choices[0].message.content, completion.choices[0].finish_reason) == ("cut", "length")


async def test_usage_counts_prompt_and_completion_tokens(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator([ChatReply(text="x" * 40), ChatReply(text="y")]) as sim:
        short = await _create(client, sim, messages=[USER])
        longer = await _create(client, sim, messages=[USER, {"role": "user", "content": "z" * 400}])
    assert short.usage is not None and longer.usage is not None
    assert short.usage.completion_tokens == 10  # 40 characters, 4 a token
    assert longer.usage.completion_tokens == 1
    assert longer.usage.prompt_tokens >= short.usage.prompt_tokens + 100
    for usage in (short.usage, longer.usage):
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        assert usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == 0  # under 1024 tokens nothing is cached


async def test_cached_tokens_report_the_shared_prefix_in_128_token_blocks(client: AsyncOpenAI) -> None:
    system = {"role": "system", "content": "Rules: " + "be precise and kind. " * 300}  # ~1500 tokens
    async with ChatCompletionsSimulator() as sim:
        first = await _create(client, sim, messages=[system, USER])
        again = await _create(
            client, sim, messages=[system, USER, {"role": "assistant", "content": "OK."}, USER]
        )
        other = await _create(
            client, sim, messages=[{"role": "system", "content": "Different. " * 600}, USER]
        )
    assert first.usage is not None and again.usage is not None and other.usage is not None
    assert first.usage.prompt_tokens >= 1024
    assert first.usage.prompt_tokens_details is not None and again.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0  # nothing seen before
    cached = again.usage.prompt_tokens_details.cached_tokens
    assert cached is not None and cached > 0 and cached % 128 == 0
    # The whole first prompt is a prefix of the second one, less the last partial block.
    assert first.usage.prompt_tokens - 128 <= cached <= first.usage.prompt_tokens
    assert other.usage.prompt_tokens_details is not None
    assert other.usage.prompt_tokens_details.cached_tokens == 0


async def test_tool_message_without_preceding_tool_calls_is_refused(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator() as sim:
        with pytest.raises(openai.BadRequestError) as caught:
            await _create(client, sim, messages=[USER, _tool("call_nowhere")])
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "message": "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
        "with 'tool_calls'.",
        "type": "invalid_request_error",
        "param": "messages.[1].role",
        "code": None,
    }
    assert sim.requests == []
    assert len(sim.rejected) == 1 and sim.rejected[0][0] is not None


async def test_tool_message_answering_an_unknown_call_id_is_refused(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator() as sim:
        with pytest.raises(openai.BadRequestError) as caught:
            await _create(
                client, sim, messages=[USER, _assistant_calls("call_a"), _tool("call_b")], tools=[LOOKUP]
            )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == (
        "Invalid parameter: 'tool_call_id' of 'call_b' not found in 'tool_calls' of previous message."
    )
    assert caught.value.body["param"] == "messages.[2].tool_call_id"


async def test_unanswered_tool_calls_are_refused_naming_the_missing_ids(client: AsyncOpenAI) -> None:
    messages = [USER, _assistant_calls("call_a", "call_b", "call_c"), _tool("call_b"), USER]
    async with ChatCompletionsSimulator() as sim:
        with pytest.raises(openai.BadRequestError) as caught:
            await _create(client, sim, messages=messages, tools=[LOOKUP])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: call_a, call_c"
    )
    assert caught.value.body["param"] == "messages.[1].role"


async def test_tool_calls_left_open_at_the_end_are_refused_too(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator() as sim:
        with pytest.raises(openai.BadRequestError, match="did not have response messages: call_z"):
            await _create(client, sim, messages=[USER, _assistant_calls("call_z")], tools=[LOOKUP])


async def test_complete_tool_round_trip_in_any_order_is_accepted(client: AsyncOpenAI) -> None:
    messages = [USER, _assistant_calls("call_a", "call_b"), _tool("call_b"), _tool("call_a"), USER]
    async with ChatCompletionsSimulator() as sim:
        completion = await _create(client, sim, messages=messages, tools=[LOOKUP])
    assert completion.choices[0].message.content == "OK."
    assert len(sim.requests) == 1


async def test_wrong_key_and_missing_key_are_refused_with_401() -> None:
    async with ChatCompletionsSimulator(api_key=KEY) as sim:
        async with AsyncOpenAI(api_key="sk-wrong-key-0000", base_url=sim.base_url, max_retries=0) as bad:
            with pytest.raises(openai.AuthenticationError) as caught:
                await bad.chat.completions.create(model="gpt-4o-mini", messages=[USER])  # type: ignore[list-item]
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key-0000" not in str(caught.value)  # the key is masked, as the API does
    assert sim.requests == []


async def test_streaming_is_refused_clearly(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator() as sim:
        with pytest.raises(openai.BadRequestError, match="does not implement streaming"):
            await client.with_options(base_url=sim.base_url).chat.completions.create(
                model="gpt-4o-mini",
                messages=[USER],  # type: ignore[list-item]
                stream=True,
            )


async def test_realtime_shaped_tool_definition_is_refused(client: AsyncOpenAI) -> None:
    flat = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
    async with ChatCompletionsSimulator() as sim:
        with pytest.raises(openai.BadRequestError) as caught:
            await _create(client, sim, messages=[USER], tools=[flat])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "Missing required parameter: 'tools[0].function'."


async def test_script_exhausted_is_a_500_the_sdk_does_not_retry() -> None:
    async with ChatCompletionsSimulator([ChatReply(text="only one")]) as sim:
        # Default retries: the x-should-retry: false header stops them.
        async with AsyncOpenAI(api_key=KEY, base_url=sim.base_url) as sdk:
            await sdk.chat.completions.create(model="m", messages=[USER])  # type: ignore[list-item]
            with pytest.raises(openai.InternalServerError, match="no reply left for request #2"):
                await sdk.chat.completions.create(model="m", messages=[USER])  # type: ignore[list-item]
    assert len(sim.requests) == 2


async def test_scripted_call_to_a_tool_not_offered_is_a_test_bug(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator([ChatReply(tool_calls=[ScriptedCall("nope")])]) as sim:
        with pytest.raises(openai.InternalServerError, match="calls 'nope', which the request did not offer"):
            await _create(client, sim, messages=[USER], tools=[LOOKUP])
    script = [ChatReply(tool_calls=[ScriptedCall("nope")])]
    async with ChatCompletionsSimulator(script, allow_unknown_tools=True) as sim:
        completion = await _create(client, sim, messages=[USER], tools=[LOOKUP])
    assert completion.choices[0].message.tool_calls is not None


async def test_error_replies_carry_the_api_error_fields(client: AsyncOpenAI) -> None:
    script: list[Reply] = [
        ErrorReply(429, "Rate limit reached for gpt-4o-mini.", "requests", "rate_limit_exceeded"),
        ChatReply(text="fine now"),
    ]
    async with ChatCompletionsSimulator(script) as sim:
        with pytest.raises(openai.RateLimitError) as caught:
            await _create(client, sim, messages=[USER])
        completion = await _create(client, sim, messages=[USER])
    assert (caught.value.status_code, caught.value.code) == (429, "rate_limit_exceeded")
    assert completion.choices[0].message.content == "fine now"


async def test_azure_deployment_path_with_api_key_header() -> None:
    async with ChatCompletionsSimulator([ChatReply(text="from azure")], api_key=KEY) as sim:
        async with AsyncAzureOpenAI(
            azure_endpoint=sim.azure_endpoint,
            azure_deployment="my-gpt",
            api_version="2024-10-21",
            api_key=KEY,
        ) as azure:
            completion = await azure.chat.completions.create(model="my-gpt", messages=[USER])  # type: ignore[list-item]
    assert completion.choices[0].message.content == "from azure"
    request = sim.requests[0]
    assert (request.path, request.deployment, request.api_version) == (
        "/openai/deployments/my-gpt/chat/completions",
        "my-gpt",
        "2024-10-21",
    )
    assert request.headers["api-key"] == KEY


async def test_unknown_path_is_404_with_the_api_error_shape(client: AsyncOpenAI) -> None:
    async with ChatCompletionsSimulator() as sim:
        with pytest.raises(openai.NotFoundError, match=r"Invalid URL \(POST /v1/embeddings\)"):
            await client.with_options(base_url=sim.base_url).embeddings.create(model="m", input="x")


async def test_base_url_needs_a_running_simulator() -> None:
    sim = ChatCompletionsSimulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.base_url
    async with sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.base_url


# -- the checks as a pure function --------------------------------------------------------------------


def _refusal(body: object) -> ChatRequestError:
    with pytest.raises(ChatRequestError) as caught:
        validate_chat_request(body)
    return caught.value


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"messages": [USER]}, "you must provide a model parameter", None),
        ({"model": "m"}, "Missing required parameter: 'messages'.", "messages"),
        ({"model": "m", "messages": []}, "Invalid 'messages': empty array.", "messages"),
        ({"model": "m", "messages": "hi"}, "expected an array, but got a string", "messages"),
        (
            {"model": "m", "messages": [{"content": "x"}]},
            "Missing required parameter: 'messages[0].role'.",
            None,
        ),
        (
            {"model": "m", "messages": [{"role": "bot", "content": "x"}]},
            "Invalid value: 'bot'.",
            "messages[0].role",
        ),
        ({"model": "m", "messages": [{"role": "user"}]}, "'messages[0].content'", "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "but got an integer", None),
        ({"model": "m", "messages": [{"role": "assistant", "content": None}]}, "got null", None),
        (
            {"model": "m", "messages": [USER], "temprature": 1},
            "Unrecognized request argument supplied: temprature",
            None,
        ),
        (
            {"model": "m", "messages": [USER], "tool_choice": "auto"},
            "only allowed when 'tools'",
            "tool_choice",
        ),
        (
            {"model": "m", "messages": [USER], "tools": [{"type": "web"}]},
            "Invalid value: 'web'.",
            "tools[0].type",
        ),
        (
            {"model": "m", "messages": [USER], "tools": [{"type": "function", "function": {"name": "a b"}}]},
            "does not match pattern",
            "tools[0].function.name",
        ),
        (
            {
                "model": "m",
                "messages": [USER],
                "tools": [{"type": "function", "function": {"name": "x" * 65}}],
            },
            "string too long",
            "tools[0].function.name",
        ),
        (
            {
                "model": "m",
                "messages": [USER],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}],
            },
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"string\"'",
            "tools[0].function.parameters",
        ),
        (
            {"model": "m", "messages": [USER, {"role": "tool", "content": "x"}]},
            "Missing required parameter: 'messages[1].tool_call_id'.",
            None,
        ),
        (
            {
                "model": "m",
                "messages": [
                    USER,
                    {"role": "assistant", "content": None, "tool_calls": [{"id": "a", "type": "function"}]},
                ],
            },
            "Missing required parameter: 'messages[1].tool_calls[0].function'.",
            None,
        ),
        (
            {
                "model": "m",
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "a", "type": "function", "function": {"name": "f", "arguments": {}}}
                        ],
                    },
                ],
            },
            "Invalid type for 'messages[1].tool_calls[0].function.arguments': expected a string",
            None,
        ),
    ],
)
def test_request_checks(body: object, message: str, param: str | None) -> None:
    error = _refusal(body)
    assert message in error.message
    if param is not None:
        assert error.param == param
    assert error.status == 400 and error.body()["error"]["message"] == error.message


def test_valid_requests_pass_the_checks() -> None:
    validate_chat_request({"model": "m", "messages": [USER]})
    validate_chat_request(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "x"}]},
                USER,
                _assistant_calls("a"),
                _tool("a"),
                {"role": "assistant", "content": "done"},
            ],
            "tools": [LOOKUP, {"type": "function", "function": {"name": "no_params"}}],
            "tool_choice": "auto",
            "temperature": 0.2,
        }
    )
