"""``ChatCompletionsSimulator``: an offline Chat Completions API over real HTTP on loopback.

The unmodified openai SDK talks to it::

    async with ChatCompletionsSimulator([ChatReply(text="Hi!")]) as sim:
        client = AsyncOpenAI(api_key="sk-test", base_url=sim.base_url)
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=[...])

Replies are scripted: a list consumed one per accepted request, or a callable that sees the parsed
request (``chat_replies.py``: the script types and the completion bodies, usage and prompt caching
included). Requests are checked the way the API checks them, so mistakes that only show up against OpenAI
show up here too (``chat_validation.py``: the message-order rules of tool loops, tool definitions, required
fields, answered with the API's own HTTP 400 wording).

This module is the server: it checks the key (``Authorization: Bearer`` or Azure's ``api-key``), serves
the OpenAI path and Azure's deployment path (``/openai/deployments/<name>/chat/completions?api-version=...``),
and answers each accepted request with the script's next reply.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TypeAlias

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rtvoice.testing.chat_replies import (
    ChatReply,
    ChatRequest,
    CompletionWriter,
    ErrorReply,
    Reply,
    ScriptedCall,
)
from rtvoice.testing.chat_validation import ChatRequestError, validate_chat_request
from rtvoice.testing.embedded_server import EmbeddedServer

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

Script: TypeAlias = Sequence[Reply] | Callable[[ChatRequest], Reply | Awaitable[Reply]]


# -- the server --------------------------------------------------------------------------------------


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
        self._completions = CompletionWriter(seed)
        self.requests: list[ChatRequest] = []
        self.rejected: list[tuple[ChatRequest | None, ChatRequestError]] = []
        self._server: EmbeddedServer | None = None
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
        return self._server.port

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
        server = EmbeddedServer(self._app, host=self.host, port=self.port)
        try:
            await server.start()
        except OSError as exc:
            raise OSError(f"the chat simulator could not listen on {self.host}:{self.port}") from exc
        self._server = server

    async def aclose(self) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.aclose()

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
        # The completion's ids are minted before the request id, so a seeded run replays the same ids.
        completion = self._completions.completion(received, reply, created=int(time.time()))
        return JSONResponse(completion, headers={"x-request-id": self._completions.new_id("req_", 32)})

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
