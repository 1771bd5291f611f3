"""``RealtimeSimulator``: an offline server for the OpenAI Realtime GA protocol, over real WebSockets.

The unmodified openai SDK connects to it::

    async with RealtimeSimulator() as sim:
        client = AsyncOpenAI(api_key="sk-test", websocket_base_url=sim.url)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            ...

The protocol decisions live in :mod:`rtvoice.testing.session` (no I/O). This module is the shell: the
handshake (path, model, key), one reader per connection, the pacing of responses (a :class:`Timing`: time
to first output, audio faster than real time in bursts, text at a token rate), speech synthesis off the
event loop (:class:`~rtvoice.testing.speech_cache.SpeechCache`), the session length cap and the injected
faults. What it remembers about past connections is bounded (``history``).

Order of server events is the order in which the session produced them: every computation and the sends
that follow it happen under one per-connection lock, so a response burst can never overtake the
``response.done`` of a cancel computed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from rtvoice.testing import speech
from rtvoice.testing.brain import Brain, EchoBrain
from rtvoice.testing.responses import Burst
from rtvoice.testing.session import IdFactory, SimulatedSession, append_bounded
from rtvoice.testing.speech_cache import SpeechCache
from rtvoice.testing.timing import Timing

__all__ = [
    "Faults",
    "RealtimeSimulator",
    "Timing",
    "add_client_message_observer",
    "remove_client_message_observer",
]

log = logging.getLogger("rtvoice.testing.simulator")

_GA_PATHS = ("/v1/realtime", "/openai/v1/realtime")
_BETA_PATHS = ("/openai/realtime",)
#: Sent and closed when a client asks for the retired beta protocol (message as quoted in public issues).
BETA_REFUSED = "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."

_observers: list[Callable[[str], None]] = []


def add_client_message_observer(observer: Callable[[str], None]) -> None:
    """Call ``observer`` with every raw client message any simulator receives (tests use this)."""
    _observers.append(observer)


def remove_client_message_observer(observer: Callable[[str], None]) -> None:
    """Undo :func:`add_client_message_observer`."""
    _observers.remove(observer)


@dataclass
class Faults:
    """Faults to inject, counted in server events sent on a connection (1 is ``session.created``).

    Attributes:
        close_at_event: close the socket instead of sending this event.
        close_code: the close code used by ``close_at_event`` (1011, internal error, by default).
        stall_at_event: before sending this event, stop sending anything for ``stall_seconds``.
        stall_seconds: how long the stall lasts.
        error_at_event: send ``error`` (an ``error`` object: type, code, message, ...) before this event.
        error: the error object to send.
        close_after_error: close with 1011 right after the injected error (a fatal upstream error).
        max_session_seconds: a shorter session cap for the connections these faults apply to (the server
            closes with 1001 and the cap's message, as at the real 60-minute limit).
        sessions: which connections get these faults, by 0-based connection order (None: every one), so a
            test can break one call and watch the others go on.
    """

    close_at_event: int | None = None
    close_code: int = 1011
    stall_at_event: int | None = None
    stall_seconds: float = 0.0
    error_at_event: int | None = None
    error: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "server_error",
            "code": None,
            "message": "The server had an error while processing your request.",
            "param": None,
            "event_id": None,
        }
    )
    close_after_error: bool = False
    max_session_seconds: float | None = None
    sessions: frozenset[int] | None = None

    def applies_to(self, connection: int) -> bool:
        """Whether the ``connection``-th connection (0-based) gets these faults."""
        return self.sessions is None or connection in self.sessions


class RealtimeSimulator:
    """A local Realtime API (GA) server on 127.0.0.1, for tests, demos and benchmarks.

    Args:
        host: interface to listen on (loopback by default).
        port: TCP port; 0 picks a free one (see :attr:`url`).
        api_key: when set, connections must present it (``Authorization: Bearer`` or Azure's ``api-key``).
        brain: decides every response; a callable ``BrainContext -> [Say | CallFunction]``. Default:
            :class:`~rtvoice.testing.brain.EchoBrain`.
        brain_factory: builds a fresh brain per connection (for scripted brains with state); wins over
            ``brain``.
        user_transcripts: the k-th caller utterance of a session is heard as the k-th text.
        max_session_seconds: the session length cap; the server closes with 1001 when it is reached.
        timing: the pace of responses (time to first output, audio and text rates, a scale). Default:
            :meth:`Timing.fast` (no thinking time, audio 4x real time, text at once), which keeps tests
            fast; ``Timing.realistic()`` is the real API's pace, ``Timing.realistic(scale=0.1)`` the same
            shape ten times faster. A brain with a ``timing`` attribute paces its own responses.
        generation_speed: overrides ``timing.audio_speed`` (how much faster than real time audio is sent).
        chunk_ms: audio per ``response.output_audio.delta``.
        first_audio_delay_ms: overrides the timing's time to first output (audio and text).
        late_transcripts: send input transcriptions after the response they triggered.
        faults: faults to inject on every connection.
        seed: seeds the ids, so a run can be replayed.
        synthesize: text → PCM16 at a sample rate and speed (default: espeak-ng, or tones without it). It
            runs on the simulator's worker threads, so it must not touch the event loop.
        history: how many past sessions, close codes and close times the simulator keeps (the newest),
            and how many client events each session keeps.
        speech_cache_bytes: synthesised audio kept for reuse across connections (least recent dropped).
        speech_threads: worker threads for speech synthesis.

    A subclass may set :attr:`connection_class` (a :class:`~websockets.asyncio.server.ServerConnection`
    subclass) to see connections below the message level, as the load test's stopwatch does.
    """

    connection_class: ClassVar[type[ServerConnection]] = ServerConnection

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        brain: Brain | None = None,
        brain_factory: Callable[[], Brain] | None = None,
        user_transcripts: Sequence[str] = (),
        max_session_seconds: float = 3600.0,
        timing: Timing | None = None,
        generation_speed: float | None = None,
        chunk_ms: int = 100,
        first_audio_delay_ms: float | None = None,
        late_transcripts: bool = False,
        faults: Faults | None = None,
        seed: int | None = None,
        synthesize: Callable[[str, int, float], bytes] | None = None,
        history: int = 1000,
        speech_cache_bytes: int = 64 * 1024 * 1024,
        speech_threads: int = 2,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self._brain_factory: Callable[[], Brain] = brain_factory or (lambda: brain or EchoBrain())
        self.user_transcripts = list(user_transcripts)
        self.max_session_seconds = max_session_seconds
        timing = timing or Timing.fast()
        if generation_speed is not None:
            timing = Timing(
                timing.first_audio_ms,
                timing.first_text_ms,
                generation_speed,
                timing.text_tokens_per_second,
                timing.scale,
            )
        if first_audio_delay_ms is not None:
            timing = Timing(
                first_audio_delay_ms,
                first_audio_delay_ms,
                timing.audio_speed,
                timing.text_tokens_per_second,
                timing.scale,
            )
        #: The pace of responses (a brain's own ``timing`` wins for its responses).
        self.timing = timing
        self.chunk_ms = chunk_ms
        self.late_transcripts = late_transcripts
        self.faults = faults or Faults()
        self._ids = IdFactory(seed)
        self.history = history
        synthesize = synthesize or (
            lambda text, rate, speed: speech.synthesize(text, sample_rate=rate, speed=speed)
        )
        #: Synthesised replies, shared by every connection (see :class:`SpeechCache`).
        self.speech = SpeechCache(synthesize, max_bytes=speech_cache_bytes, threads=speech_threads)
        self._server: Server | None = None
        #: The sessions this simulator served, in connection order (about the newest ``history``).
        self.sessions: list[SimulatedSession] = []
        #: Close codes of finished connections, in order (about the newest ``history``).
        self.close_codes: list[int | None] = []
        #: ``time.monotonic()`` when each connection's close began on the server side (a fault, the
        #: session cap, or the client's close), in order; tests measure how fast clients react.
        self.close_times: list[float] = []
        self._connections_open = 0
        self._idle = asyncio.Event()
        self._closing = asyncio.Event()  # set by aclose(): an injected stall ends at once
        self._connections_seen = 0

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ``websocket_base_url`` for the openai SDK: ``ws://HOST:PORT/v1``."""
        return f"ws://{self.host}:{self.bound_port}/v1"

    @property
    def http_url(self) -> str:
        """The ``base_url`` form (``http://HOST:PORT/v1``), for ``OPENAI_BASE_URL``."""
        return f"http://{self.host}:{self.bound_port}/v1"

    @property
    def bound_port(self) -> int:
        """The TCP port actually listened on."""
        if self._server is None:
            raise RuntimeError(
                "the simulator is not running; use 'async with RealtimeSimulator()' or start()"
            )
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    @property
    def generation_speed(self) -> float:
        """How many times faster than real time response audio is sent (``timing.audio_speed``)."""
        return self.timing.audio_speed

    async def start(self) -> None:
        """Start listening."""
        self._idle.set()
        self._closing.clear()
        self.speech.open()
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._check_handshake,
            max_size=16 * 1024 * 1024,
            compression=None,
            create_connection=self.connection_class,
        )

    async def aclose(self) -> None:
        """Close every connection (1001, going away) and stop listening."""
        self._closing.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.speech.close()

    async def wait_idle(self) -> None:
        """Wait until no connection is open (the client went away and the server finished the session)."""
        await self._idle.wait()

    async def __aenter__(self) -> RealtimeSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- handshake ------------------------------------------------------------------------------------

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if url.path.rstrip("/") in _BETA_PATHS:
            return None  # accepted, then refused with an error event (see _handle)
        if url.path.rstrip("/") not in _GA_PATHS:
            return self._http_error(
                HTTPStatus.NOT_FOUND, "invalid_request_error", None, f"Invalid URL (GET {url.path})"
            )
        if self.api_key is not None and not self._authorized(request.headers, query):
            return self._http_error(
                HTTPStatus.UNAUTHORIZED,
                "invalid_request_error",
                "invalid_api_key",
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            )
        if not query.get("model") and not query.get("call_id"):
            return self._http_error(
                HTTPStatus.BAD_REQUEST,
                "invalid_request_error",
                "missing_required_parameter",
                "Missing required parameter: 'model'.",
            )
        return None

    def _authorized(self, headers: Headers, query: dict[str, list[str]]) -> bool:
        bearer = headers.get("Authorization", "")
        if bearer.startswith("Bearer ") and bearer[len("Bearer ") :] == self.api_key:
            return True
        return headers.get("api-key") == self.api_key or query.get("api-key", [None])[0] == self.api_key

    @staticmethod
    def _http_error(status: HTTPStatus, kind: str, code: str | None, message: str) -> Response:
        body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return Response(status.value, status.phrase, headers, body)

    # -- one connection -------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections_open += 1
        self._idle.clear()
        try:
            await self._serve_connection(ws)
        finally:
            append_bounded(self.close_codes, ws.close_code, self.history)
            self._connections_open -= 1
            if self._connections_open == 0:
                self._idle.set()

    async def _serve_connection(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        beta = url.path.rstrip("/") in _BETA_PATHS or ws.request.headers.get("OpenAI-Beta", "").startswith(
            "realtime"
        )
        if beta:
            error = {"type": "invalid_request_error", "code": "beta_api_unsupported", "message": BETA_REFUSED}
            await ws.send(json.dumps({"type": "error", "event_id": self._ids("event"), "error": error}))
            await ws.close(1008, "beta protocol not supported")
            return
        connection = self._connections_seen
        self._connections_seen += 1
        faults = self.faults if self.faults.applies_to(connection) else Faults()
        query = parse_qs(url.query)
        model = (query.get("model") or ["gpt-realtime"])[0]
        brain = self._brain_factory()
        timing = self._timing_of(brain)
        session = SimulatedSession(
            model=model,
            now=time.time(),
            max_session_seconds=faults.max_session_seconds or self.max_session_seconds,
            brain=brain,
            user_transcripts=self.user_transcripts,
            new_id=self._ids,
            chunk_ms=self.chunk_ms,
            late_transcripts=self.late_transcripts,
            synthesize=self.speech.get,
            created_at_once=timing.thinks,
        )
        append_bounded(self.sessions, session, self.history)
        link = _Link(ws, faults, self._closing)
        response_ready = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._stream_responses(session, timing, link, response_ready))
                tasks.create_task(self._expire(link, session.max_session_seconds))
                async with link.lock:
                    await link.send_all(session.created_events())
                await self._read(ws, session, link, response_ready)
                raise _ConnectionDone
        except* _ConnectionDone:
            pass
        except* ConnectionClosed:
            pass
        finally:
            closed_at = link.closed_at if link.closed_at is not None else time.monotonic()
            append_bounded(self.close_times, closed_at, self.history)

    async def _read(
        self, ws: ServerConnection, session: SimulatedSession, link: _Link, response_ready: asyncio.Event
    ) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                for observer in list(_observers):
                    observer(message if isinstance(message, str) else message.decode("utf-8", "replace"))
                async with link.lock:
                    await link.send_all(session.receive_message(message))
                    if session.response is not None:
                        response_ready.set()
                if link.closed:
                    return

    def _timing_of(self, brain: Brain) -> Timing:
        own = getattr(brain, "timing", None)
        return own if isinstance(own, Timing) else self.timing

    async def _stream_responses(
        self, session: SimulatedSession, timing: Timing, link: _Link, response_ready: asyncio.Event
    ) -> None:
        loop = asyncio.get_running_loop()
        # Bursts follow a schedule (each one due a pause after the one before), so a late wake-up is
        # made up by the next pause instead of delaying the rest of the reply: the rate holds under load.
        paced: object = None  # the response the schedule belongs to
        due = 0.0
        while True:
            await response_ready.wait()
            while (response := session.response) is not None:
                if response.thinking or not response.started:
                    # The model thinks; meanwhile its speech is synthesised off the event loop.
                    think = timing.first_output_seconds(response.first_output) if response.thinking else 0
                    await asyncio.gather(
                        asyncio.sleep(think), self.speech.prepare(list(session.speech_requests))
                    )
                async with link.lock:
                    if session.response is not response:
                        continue  # cancelled while thinking (a new one may have started)
                    burst = session.next_response_events()
                    if response.thinking and not timing.thinks:
                        # No thinking time: response.created goes out with the first output.
                        more = session.next_response_events()
                        burst = Burst(burst.events + more.events, more.audio_ms, more.text_tokens)
                    await link.send_all(burst.events)
                if link.closed:
                    return
                now = loop.time()
                if paced is not response:
                    paced, due = response, now
                due = max(due, now - MAX_CATCH_UP_S) + self._pause(timing, burst)
                await asyncio.sleep(max(0.0, due - now))
            response_ready.clear()

    @staticmethod
    def _pause(timing: Timing, burst: Burst) -> float:
        # Audio goes out faster than real time, in bursts: one chunk, then a shorter pause; text at a rate.
        if burst.audio_ms:
            return timing.audio_seconds(burst.audio_ms)
        if burst.text_tokens:
            return timing.text_seconds(burst.text_tokens)
        return 0.0

    async def _expire(self, link: _Link, cap_seconds: float) -> None:
        await asyncio.sleep(cap_seconds)
        minutes = cap_seconds / 60
        shown = f"{minutes:g} minutes" if minutes >= 1 else f"{cap_seconds:g} seconds"
        await link.close(1001, f"Your session hit the maximum duration of {shown}.")


MAX_CATCH_UP_S = 1.0
"""How far behind its schedule a response's stream may fall and still catch up at once."""


class _ConnectionDone(Exception):
    """The client side finished; ends the connection's task group."""


class _Link:
    """Sends server events in order, with the injected faults, and closes at most once."""

    def __init__(self, ws: ServerConnection, faults: Faults, closing: asyncio.Event) -> None:
        self.ws = ws
        self.faults = faults
        self.closing = closing
        self.lock = asyncio.Lock()
        self.sent = 0
        self.closed = False
        self.closed_at: float | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = True
        self.closed_at = time.monotonic()
        await self.ws.close(code, reason)

    async def send_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if self.closed:
                return
            number = self.sent + 1
            if number == self.faults.stall_at_event:
                # Stall, but notice a close meanwhile (the client gave up, or the simulator is closing).
                # A stalled server reads nothing (the client's close may sit unread behind its audio), so
                # closing the simulator cuts the connection rather than waiting for a close handshake.
                closed = asyncio.ensure_future(self.ws.wait_closed())
                closing = asyncio.ensure_future(self.closing.wait())
                await asyncio.wait(
                    {closed, closing}, timeout=self.faults.stall_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in (closed, closing):
                    waiter.cancel()
                await asyncio.gather(closed, closing, return_exceptions=True)
                if self.closing.is_set():
                    self.closed_at = time.monotonic()
                    self.ws.transport.abort()
                if self.ws.close_code is not None or self.closing.is_set():
                    self.closed = True
                    return
            if number == self.faults.error_at_event:
                await self.ws.send(
                    json.dumps(
                        {"type": "error", "event_id": f"event_fault{number}", "error": self.faults.error}
                    )
                )
                if self.faults.close_after_error:
                    await self.close(1011, self.faults.error.get("message", "server error"))
                    return
            if number == self.faults.close_at_event:
                await self.close(self.faults.close_code, "injected fault")
                return
            self.sent = number
            await self.ws.send(json.dumps(event))
