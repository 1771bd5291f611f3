"""``ChatCompletionsSimulator``: an offline Chat Completions API over real HTTP on loopback.

The unmodified openai SDK talks to it::

    async with ChatCompletionsSimulator([ChatReply(text="Hi!")]) as sim:
        client = AsyncOpenAI(api_key="sk-test", base_url=sim.base_url)
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=[...])

Replies are scripted: a list consumed one per accepted request, or a callable that sees the parsed
request. Requests are checked the way the API checks them, so mistakes that only show up against OpenAI
show up here too. The checks that matter most for tool loops are the message-order rules, answered with
the API's own HTTP 400 wording:

* a ``tool`` message that answers no open assistant ``tool_calls`` → "messages with role 'tool' must be
  a response to a preceeding message with 'tool_calls'." (sic: the API's spelling);
* a ``tool`` message whose ``tool_call_id`` is not among the open calls → "'tool_call_id' of ... not found
  in 'tool_calls' of previous message.";
* an assistant message whose calls are not all answered before the next other message (or the end) →
  "An assistant message with 'tool_calls' must be followed by tool messages responding to each
  'tool_call_id'. ...".

Also checked: the model, required fields and roles, tool definitions (the nested ``function`` shape,
name pattern and length, object parameter schemas), ``tool_choice`` without tools, unknown request
arguments, and the key (``Authorization: Bearer`` or Azure's ``api-key``). ``stream: true`` is refused
with a clear 400 (not implemented). Azure's deployment path
(``/openai/deployments/<name>/chat/completions?api-version=...``) is served too.

Usage is estimated (4 characters a token, a few tokens of overhead per message) and prompt caching
follows the API's rule: from 1024 prompt tokens on, the longest prefix shared with an earlier request is
reported as ``prompt_tokens_details.cached_tokens``, in blocks of 128 tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
import re
import string
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias

import uvicorn
from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "ChatCompletionsSimulator",
    "ChatReply",
    "ChatRequest",
    "ChatRequestError",
    "ErrorReply",
    "Reply",
    "ScriptedCall",
    "validate_chat_request",
]

_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_KNOWN_ARGUMENTS = CompletionCreateParamsBase.__optional_keys__ | {"stream"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_CACHE_MIN_TOKENS = 1024
_CACHE_BLOCK_TOKENS = 128


# -- script ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptedCall:
    """A function call the simulated model makes.

    Attributes:
        name: the function; it must be one of the request's tools (unless the simulator allows others).
        arguments: a dict (sent as JSON) or the exact arguments text (to send invalid JSON on purpose).
        id: the call id; default a fresh ``call_...`` id.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ChatReply:
    """One assistant turn: text, function calls, or both.

    Attributes:
        text: the assistant text (None: only calls).
        tool_calls: the calls, in order.
        finish_reason: default ``tool_calls`` when there are calls, else ``stop``.
    """

    text: str | None = None
    tool_calls: Sequence[ScriptedCall] = ()
    finish_reason: str | None = None


@dataclass(frozen=True)
class ErrorReply:
    """Answer a request with an API error instead of a completion.

    Attributes:
        status: the HTTP status.
        message: the error message.
        type: the error type (``server_error``, ``rate_limit_exceeded``, ``invalid_request_error``, ...).
        code: the error code, when any.
        should_retry: sent as ``x-should-retry`` (the SDK obeys it); None sends no header, so the SDK
            applies its own rule (it retries 408, 409, 429 and 5xx).
    """

    status: int = 500
    message: str = "The server had an error while processing your request. Sorry about that!"
    type: str = "server_error"
    code: str | None = None
    should_retry: bool | None = False


Reply: TypeAlias = ChatReply | ErrorReply
Script: TypeAlias = Sequence[Reply] | Callable[["ChatRequest"], Reply | Awaitable[Reply]]


@dataclass(frozen=True)
class ChatRequest:
    """A request the simulator received.

    Attributes:
        path: the URL path.
        body: the parsed JSON body.
        headers: the request headers (lower-case names).
        deployment: the Azure deployment from the path, or None on the OpenAI path.
        api_version: Azure's ``api-version`` query parameter, or None.
    """

    path: str
    body: Mapping[str, Any]
    headers: Mapping[str, str]
    deployment: str | None = None
    api_version: str | None = None

    @property
    def model(self) -> str:
        """The model asked for (on Azure, the deployment when the body names none)."""
        return str(self.body.get("model") or self.deployment or "")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages, as sent."""
        return list(self.body.get("messages") or [])

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions, as sent."""
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        """The names of the offered functions."""
        return [tool["function"]["name"] for tool in self.tools if tool.get("type") == "function"]


# -- request checks (pure) ---------------------------------------------------------------------------


class ChatRequestError(Exception):
    """A request the API would refuse, with the API's error fields.

    Args:
        message: the API's message.
        param: the offending parameter path, as the API names it.
        code: the API's error code.
        status: the HTTP status.
        type: the error type.
    """

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int = 400,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.type = type

    def body(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


def _missing(param: str) -> ChatRequestError:
    return ChatRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _wrong_type(param: str, expected: str, value: object) -> ChatRequestError:
    return ChatRequestError(
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def validate_chat_request(body: object) -> None:
    """Check a Chat Completions request body as the API does, for the rules tool loops trip over.

    Args:
        body: the parsed JSON body.

    Raises:
        ChatRequestError: the API would refuse the request (HTTP 400), with its message and ``param``.
    """
    if not isinstance(body, dict):
        raise ChatRequestError(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}."
        )
    unknown = sorted(set(body) - _KNOWN_ARGUMENTS)
    if unknown:
        raise ChatRequestError(f"Unrecognized request argument supplied: {unknown[0]}")
    if not body.get("model"):
        raise ChatRequestError("you must provide a model parameter")
    if body.get("stream"):
        raise ChatRequestError(
            "The chat simulator does not implement streaming: send stream=false (the default).",
            param="stream",
            code="unsupported_value",
        )
    _validate_tools(body.get("tools"), body.get("tool_choice"))
    _validate_messages(body.get("messages"))


def _validate_tools(tools: object, tool_choice: object) -> None:
    if tools is None:
        if tool_choice is not None:
            raise ChatRequestError(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                param="tool_choice",
            )
        return
    if not isinstance(tools, list):
        raise _wrong_type("tools", "an array of objects", tools)
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise _wrong_type(where, "an object", tool)
        if "type" not in tool:
            raise _missing(f"{where}.type")
        if tool["type"] not in ("function", "custom"):
            raise ChatRequestError(
                f"Invalid value: '{tool['type']}'. Supported values are: 'function' and 'custom'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if tool["type"] != "function":
            continue
        # A Realtime-shaped tool (name at the top level) lands here: the nested object is missing.
        function = tool.get("function")
        if function is None:
            raise _missing(f"{where}.function")
        if not isinstance(function, dict):
            raise _wrong_type(f"{where}.function", "an object", function)
        name = function.get("name")
        if name is None:
            raise _missing(f"{where}.function.name")
        if not isinstance(name, str):
            raise _wrong_type(f"{where}.function.name", "a string", name)
        if len(name) > 64:
            raise ChatRequestError(
                f"Invalid '{where}.function.name': string too long. Expected a string with maximum length 64, "
                f"but got a string with length {len(name)} instead.",
                param=f"{where}.function.name",
                code="string_above_max_length",
            )
        if not _TOOL_NAME.match(name):
            raise ChatRequestError(
                f"Invalid '{where}.function.name': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                param=f"{where}.function.name",
                code="invalid_value",
            )
        parameters = function.get("parameters")
        if parameters is not None and (
            not isinstance(parameters, dict) or parameters.get("type") != "object"
        ):
            got = parameters.get("type") if isinstance(parameters, dict) else _json_type(parameters)
            raise ChatRequestError(
                f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"', "
                f"got 'type: \"{got}\"'.",
                param=f"{where}.function.parameters",
                code="invalid_function_parameters",
            )


def _validate_messages(messages: object) -> None:
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array", messages)
    if not messages:
        raise ChatRequestError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array "
            "instead.",
            param="messages",
            code="empty_array",
        )
    # The assistant message whose calls are still open: (its index, the ids not answered yet).
    open_calls: tuple[int, list[str]] | None = None
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _wrong_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        if role not in _ROLES:
            raise ChatRequestError(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                "'tool', and 'developer'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if role == "tool":
            call_id = _check_tool_message(message, where)
            if open_calls is None:
                raise ChatRequestError(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            if call_id not in open_calls[1]:
                raise ChatRequestError(
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in 'tool_calls' of previous "
                    "message.",
                    param=f"messages.[{index}].tool_call_id",
                )
            open_calls[1].remove(call_id)
            continue
        _close(open_calls)
        open_calls = None
        if role == "assistant":
            ids = _check_assistant_message(message, where)
            if ids:
                open_calls = (index, ids)
        else:
            _check_content(message, where)
    _close(open_calls)


def _close(open_calls: tuple[int, list[str]] | None) -> None:
    if open_calls is not None and open_calls[1]:
        index, missing = open_calls
        raise ChatRequestError(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(missing)}",
            param=f"messages.[{index}].role",
        )


def _check_content(message: dict[str, Any], where: str) -> None:
    if "content" not in message:
        raise _missing(f"{where}.content")
    content = message["content"]
    if not isinstance(content, str | list):
        raise _wrong_type(f"{where}.content", "one of a string or array of objects", content)


def _check_tool_message(message: dict[str, Any], where: str) -> str:
    _check_content(message, where)
    call_id = message.get("tool_call_id")
    if call_id is None:
        raise _missing(f"{where}.tool_call_id")
    if not isinstance(call_id, str):
        raise _wrong_type(f"{where}.tool_call_id", "a string", call_id)
    return call_id


def _check_assistant_message(message: dict[str, Any], where: str) -> list[str]:
    calls = message.get("tool_calls")
    content = message.get("content")
    if content is None and not calls and not message.get("function_call"):
        raise ChatRequestError(
            "Invalid value for 'content': expected a string, got null.", param=f"{where}.content"
        )
    if content is not None and not isinstance(content, str | list):
        raise _wrong_type(f"{where}.content", "one of a string or array of objects", content)
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise _wrong_type(f"{where}.tool_calls", "an array", calls)
    ids: list[str] = []
    for position, call in enumerate(calls):
        at = f"{where}.tool_calls[{position}]"
        if not isinstance(call, dict):
            raise _wrong_type(at, "an object", call)
        for key in ("id", "type", "function"):
            if key not in call:
                raise _missing(f"{at}.{key}")
        function = call["function"]
        if not isinstance(function, dict):
            raise _wrong_type(f"{at}.function", "an object", function)
        for key in ("name", "arguments"):
            if key not in function:
                raise _missing(f"{at}.function.{key}")
            if not isinstance(function[key], str):
                raise _wrong_type(f"{at}.function.{key}", "a string", function[key])
        ids.append(str(call["id"]))
    return ids


# -- usage -------------------------------------------------------------------------------------------


def _tokens(text: str) -> int:
    # About 4 characters a token for English text, as OpenAI's own rule of thumb says.
    return (len(text) + 3) // 4


def _prompt_text(body: Mapping[str, Any]) -> str:
    # Tools come first: the API renders them into the prompt ahead of the messages, so a changed tool
    # list breaks the cached prefix just as it does on the real service.
    parts = [json.dumps(body.get("tools") or [], sort_keys=True)]
    parts.extend(json.dumps(message, sort_keys=True) for message in body.get("messages") or [])
    return "\n".join(parts)


def _common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


# -- the server --------------------------------------------------------------------------------------


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit.set()

    # serve() would take over SIGINT/SIGTERM for the whole process; a helper inside tests or a user's
    # program must leave the signal handlers alone.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; waiting on an event makes aclose() prompt. on_tick still
        # runs once a second (counter % 10 == 0), which keeps the Date header current.
        counter = 0
        while not await self.on_tick(counter):
            counter += 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)


class ChatCompletionsSimulator:
    """A local Chat Completions API on 127.0.0.1, for tests, docs and demos.

    Args:
        script: the replies: a list (one per accepted request, in order) or a callable receiving the
            :class:`ChatRequest` and returning a :class:`ChatReply` or :class:`ErrorReply` (or an
            awaitable of one). Default: every request is answered "OK.".
        api_key: when set, requests must present it (``Authorization: Bearer`` or ``api-key``).
        host: interface to listen on.
        port: TCP port; 0 picks a free one (see :attr:`base_url`).
        allow_unknown_tools: let scripted calls name functions the request did not offer (a real model
            practically never does; by default such a script is a test bug and answered with HTTP 500).
        seed: seeds the generated ids, so a run can be replayed.

    Attributes:
        requests: every accepted request, in order.
        rejected: every refused request with the error it got, in order.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_unknown_tools: bool = False,
        seed: int | None = None,
    ) -> None:
        self._script: Script = script if script is not None else (lambda _request: ChatReply(text="OK."))
        self._cursor = 0
        self.api_key = api_key
        self.host = host
        self.port = port
        self.allow_unknown_tools = allow_unknown_tools
        self._random = random.Random(seed)
        self.requests: list[ChatRequest] = []
        self.rejected: list[tuple[ChatRequest | None, ChatRequestError]] = []
        self._prompts: list[tuple[str, str]] = []  # (model, prompt text) of answered requests
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/openai/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/openai/deployments/{deployment}/chat/completions", self._azure, methods=["POST"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            ]
        )

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def bound_port(self) -> int:
        """The TCP port actually listened on.

        Raises:
            RuntimeError: the simulator is not running.
        """
        if self._server is None or not self._server.servers:
            raise RuntimeError(
                "the chat simulator is not running; use 'async with ChatCompletionsSimulator()'"
            )
        sockets = self._server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.bound_port}/v1"

    @property
    def azure_endpoint(self) -> str:
        """The Azure ``azure_endpoint``: ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.bound_port}"

    async def start(self) -> None:
        """Start listening (returns once the port is bound).

        Raises:
            OSError: the address could not be bound.
        """
        config = uvicorn.Config(
            self._app, host=self.host, port=self.port, log_level="warning", lifespan="off", access_log=False
        )
        server = _EmbeddedServer(config)
        self._server = server
        self._task = asyncio.create_task(self._serve(server), name="chat-simulator")
        # uvicorn offers no "started" future, only a flag; the wait is a few loop turns.
        while not server.started:
            if self._task.done():
                self._server = None
                await self._task
                raise OSError(f"the chat simulator could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.001)

    @staticmethod
    async def _serve(server: uvicorn.Server) -> None:
        try:
            await server.serve()
        except SystemExit:
            # uvicorn exits the process when it cannot bind; here that is just a failed start.
            return

    async def aclose(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None and self._task is not None:
            self._server.request_exit()
            await self._task
        self._server = None
        self._task = None

    async def __aenter__(self) -> ChatCompletionsSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- endpoints ------------------------------------------------------------------------------------

    async def _openai(self, request: Request) -> Response:
        return await self._handle(request, deployment=None, api_version=None)

    async def _azure(self, request: Request) -> Response:
        api_version = request.query_params.get("api-version")
        if not api_version:
            # Azure answers a request without api-version with a bare 404.
            return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, status_code=404)
        return await self._handle(
            request, deployment=request.path_params["deployment"], api_version=api_version
        )

    async def _not_found(self, request: Request) -> Response:
        error = ChatRequestError(f"Invalid URL ({request.method} {request.url.path})", status=404)
        return JSONResponse(error.body(), status_code=404)

    def _authorized(self, request: Request) -> ChatRequestError | None:
        if self.api_key is None:
            return None
        bearer = request.headers.get("authorization", "")
        presented = (
            bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else request.headers.get("api-key")
        )
        if presented == self.api_key:
            return None
        if not presented:
            return ChatRequestError(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                status=401,
            )
        shown = f"{presented[:3]}{'*' * 4}{presented[-4:]}" if len(presented) > 8 else "****"
        return ChatRequestError(
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
            status=401,
        )

    async def _handle(self, request: Request, *, deployment: str | None, api_version: str | None) -> Response:
        refusal = self._authorized(request)
        if refusal is not None:
            self.rejected.append((None, refusal))
            return JSONResponse(refusal.body(), status_code=refusal.status)
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            refusal = ChatRequestError(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
                "valid JSON."
            )
            self.rejected.append((None, refusal))
            return JSONResponse(refusal.body(), status_code=400)
        received = ChatRequest(
            path=request.url.path,
            body=body if isinstance(body, dict) else {},
            headers=dict(request.headers),
            deployment=deployment,
            api_version=api_version,
        )
        try:
            validate_chat_request(body)
        except ChatRequestError as error:
            self.rejected.append((received, error))
            return JSONResponse(error.body(), status_code=error.status)
        self.requests.append(received)
        reply = await self._next_reply(received)
        if isinstance(reply, ErrorReply):
            headers = (
                {} if reply.should_retry is None else {"x-should-retry": str(reply.should_retry).lower()}
            )
            failure = ChatRequestError(reply.message, code=reply.code, status=reply.status, type=reply.type)
            return JSONResponse(failure.body(), status_code=reply.status, headers=headers)
        return JSONResponse(self._completion(received, reply), headers={"x-request-id": self._id("req_", 32)})

    async def _next_reply(self, request: ChatRequest) -> Reply:
        if callable(self._script):
            produced = self._script(request)
            reply = await produced if inspect.isawaitable(produced) else produced
        elif self._cursor < len(self._script):
            reply = self._script[self._cursor]
            self._cursor += 1
        else:
            return ErrorReply(
                message=f"chat simulator: the script has no reply left for request #{len(self.requests)} "
                f"(it holds {len(self._script)})"
            )
        if isinstance(reply, ChatReply) and not self.allow_unknown_tools:
            offered = request.tool_names
            for call in reply.tool_calls:
                if call.name not in offered:
                    return ErrorReply(
                        message=f"chat simulator: the script calls {call.name!r}, which the request did not "
                        f"offer (tools: {offered})"
                    )
        return reply

    # -- completions ----------------------------------------------------------------------------------

    def _id(self, prefix: str, length: int) -> str:
        return prefix + "".join(self._random.choices(string.ascii_letters + string.digits, k=length))

    def _completion(self, request: ChatRequest, reply: ChatReply) -> dict[str, Any]:
        calls: list[dict[str, Any]] = [
            {
                "id": call.id or self._id("call_", 24),
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(call.arguments),
                },
            }
            for call in reply.tool_calls
        ]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text,
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = calls
        completion_tokens = max(
            1,
            _tokens(reply.text or "")
            + sum(3 + _tokens(c["function"]["name"]) + _tokens(c["function"]["arguments"]) for c in calls),
        )
        prompt_text = _prompt_text(request.body)
        # 3 more: the reply is primed with <|start|>assistant<|message|>.
        prompt_tokens = 3 + _tokens(prompt_text)
        return {
            "id": self._id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {
                    "cached_tokens": self._cached(request.model, prompt_text, prompt_tokens),
                    "audio_tokens": 0,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_simulator",
        }

    def _cached(self, model: str, text: str, prompt_tokens: int) -> int:
        shared = max(
            (_common_prefix(text, earlier) for used, earlier in self._prompts if used == model), default=0
        )
        self._prompts.append((model, text))
        if prompt_tokens < _CACHE_MIN_TOKENS:
            return 0
        cached = min(_tokens(text[:shared]), prompt_tokens)
        return cached // _CACHE_BLOCK_TOKENS * _CACHE_BLOCK_TOKENS
