"""One session of a :class:`~rtvoice.RealtimeAgent`: the connection, the core, the devices, the tasks.

The agent is configuration; an :class:`AgentSession` is one run of it, created per call and thrown away
when the call ends. It lives in two steps, so that a server can open the upstream while it is still
answering the carrier's webhook (pre-warm):

1. :meth:`AgentSession.connect` opens the Realtime WebSocket and configures the session (``session.update``,
   seeds), reading until ``session.updated``. No device is needed yet, only the audio formats.
2. :meth:`AgentSession.run` attaches the devices and holds the session in one ``asyncio.TaskGroup``:

   * the **reader** feeds every server frame to the core (reporting the speaker's position first, so a
     barge-in measures what was really heard);
   * the **microphone** streams chunks from the start; chunks that arrive before the session is ready are
     kept (up to :data:`EARLY_AUDIO_MS`, oldest dropped first and counted) and sent once it is, so a
     caller's first words are not lost;
   * the **clock** sleeps until the next thing that needs time: a playback poll while assistant audio
     plays (or a position pushed by the device that reaches the end of the audio queued), the core's
     wall-clock timer, the inactivity countdown.

Every I/O site has its own narrow ``try``, so an ending says what failed: ``connection_error`` (cannot
connect), ``upstream_closed``/``connection_lost`` (the server went away), ``device_error`` (a microphone or
speaker failed), while a failing recording is logged loudly, reported as ``recording_error`` and the call
goes on without it. :meth:`AgentSession.close` closes the socket; sessions never close a shared provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from openai.types.realtime import RealtimeResponseCreateParams
from openai.types.websocket_connection_options import WebSocketConnectionOptions
from websockets.asyncio.connection import Connection as WebSocket
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus

from rtvoice import events as ev
from rtvoice.agent_events import agent_error, agent_event
from rtvoice.audio import AudioFormat, AudioInputDevice, AudioOutputDevice
from rtvoice.audio.convert import ToPcm24
from rtvoice.conversation import ConversationHistory
from rtvoice.exceptions import LocalProtocolError, RemoteProtocolError, UpstreamError
from rtvoice.inactivity import Countdown, InactivityTimer, TimedOut
from rtvoice.providers import RealtimeProvider
from rtvoice.realtime import (
    Action,
    ArmTimer,
    AssistantAudioDone,
    AssistantResponseStarted,
    ClearPlayback,
    PlayAudio,
    PlaybackFinished,
    RealtimeProtocol,
    ResponseFinished,
    SendEvent,
    SendJSON,
    SessionReady,
    ToolCall,
    UpstreamErrorReceived,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
    encode_client_event,
)
from rtvoice.realtime.playback import EPSILON_MS
from rtvoice.recording.session_recorder import SessionRecorder
from rtvoice.tools import ToolContext
from rtvoice.usage import UsageTracker
from rtvoice.views import StopReason
from rtvoice.websocket_send import send_now as _send_now

if TYPE_CHECKING:
    from rtvoice.agent import RealtimeAgent

__all__ = ["CLOSE_TIMEOUT_S", "CONNECT_TIMEOUT_S", "EARLY_AUDIO_MS", "AgentSession"]

log = logging.getLogger("rtvoice.agent")

#: How often the speaker's position is read while assistant audio plays: at most every
#: ``PLAYBACK_POLL_MAX_S``, sooner as the queued audio runs out, never more often than
#: ``PLAYBACK_POLL_MIN_S``. Devices that push their position wake the clock at once instead.
PLAYBACK_POLL_MIN_S = 0.02
PLAYBACK_POLL_MAX_S = 0.2
#: How long closing the socket and stopping a device may take before we give up on the peer.
CLOSE_TIMEOUT_S = 0.5
#: How long opening and configuring the session may take.
CONNECT_TIMEOUT_S = 15.0
#: Caller audio kept while the session is not configured yet (a phone stream flows from the first ms).
EARLY_AUDIO_MS = 2000.0


class _Stop(Exception):
    """Ends the session's task group."""


class AgentSession:
    """One run of ``agent``: created by the agent, not by users.

    Args:
        agent: the configuration.
        provider: where to connect; ``owns_provider`` says whether closing the session closes it too.
        input_format: the microphone's format (sent in ``session.update``).
        output_format: the speaker's format.
    """

    def __init__(
        self,
        agent: RealtimeAgent,
        provider: RealtimeProvider,
        *,
        owns_provider: bool,
        input_format: AudioFormat,
        output_format: AudioFormat,
        session_id: str,
    ) -> None:
        self.agent = agent
        self.provider = provider
        self.owns_provider = owns_provider
        self.input_format = input_format
        self.output_format = output_format
        self.session_id = session_id
        self.history = ConversationHistory()
        self.usage = UsageTracker(agent.pricing)
        self.core = RealtimeProtocol(
            agent.session_config(input_format, output_format),
            seed=agent.conversation_seed,
            history=self.history,
            input_batch_ms=agent.input_batch_ms,
        )
        self.stop_reason: StopReason = "stopped"
        self.error: ev.AgentError | None = None
        self.dropped_early_audio_ms = 0.0
        """Caller audio dropped because the session took longer than :data:`EARLY_AUDIO_MS` to start."""
        self.kept_early_audio_ms = 0.0
        """Caller audio that arrived before the session was ready, kept and sent once it was."""
        self.dropped_upstream_frames = 0
        """Server frames that were not valid events (logged and skipped)."""
        self._stop_event = asyncio.Event()
        self._wake: asyncio.Future[None] | None = None  # the clock's sleep, while it sleeps
        self._conn: Any = None
        self._ws: WebSocket | None = None  # the SDK connection's socket, used directly (see _socket_of)
        self._connecting: asyncio.Future[None] | None = None
        self._closed = False
        self._core_deadline: float | None = None
        self._assistant_active = False
        timeout = agent.inactivity_timeout_seconds
        self._inactivity = InactivityTimer(timeout) if timeout is not None else None
        self._recorder: SessionRecorder | None = None
        self._speaker: AudioOutputDevice | None = None
        self._call_ms = 0.0  # the call's clock: milliseconds of microphone audio received
        self._early: deque[bytes] = deque()
        self._early_ms = 0.0
        # A G.711 microphone on a PCM16 session: the recording takes the caller's audio as the core
        # converts it for the upstream (see _record_sent), except the audio that came before the session
        # was ready, which it records as it came.
        self._caller_via_upstream = False
        self._mic_bytes_per_ms = 1
        self._sent_origin_ms: float | None = None  # the call time where the audio sent upstream starts
        self._record_due_ms = 0.0  # the call time of the recorder's next advance (see _record_tick)
        self._sent_in_bytes = 0  # microphone bytes the core has converted so far
        self._sent_recorded_bytes = 0  # of those, the early audio recorded when it came (not again)
        self._heard_from_server = time.monotonic()  # the watchdog: the latest server frame (or request)
        self._expecting = False  # the watchdog: a response is requested or in progress

    # -- state ------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The socket is open and the session configured."""
        return self._conn is not None and self.core.session_ready

    @property
    def stopping(self) -> bool:
        """An ending was requested."""
        return self._stop_event.is_set()

    async def wait_stopped(self) -> None:
        """Return once an ending was requested."""
        await self._stop_event.wait()

    def request_stop(self, reason: StopReason, error: ev.AgentError | None = None) -> None:
        """End the session (the first reason wins); safe from any task and from a signal handler's callback."""
        if self._stop_event.is_set():
            return
        self.stop_reason, self.error = reason, error
        self._stop_event.set()

    # -- connecting -------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the WebSocket and configure the session (reads until ``session.updated``).

        The work runs in a task the session owns, so :meth:`run` can wait for a connection that a
        pre-warm started, and :meth:`close` cancels one still in progress.

        Raises:
            UpstreamError: the server cannot be reached, refused the connection, closed it, or did not
                configure the session within :data:`CONNECT_TIMEOUT_S`. The socket is closed again.
        """
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        await asyncio.shield(self._connecting)

    async def _open(self) -> None:
        options = self.provider.connect_options(self.agent.model)
        where = self.provider.describe()
        log.info("connecting to %s, model %s", where, options.model)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                self._conn = await (
                    self.provider.client()
                    .realtime.connect(
                        model=options.model,
                        extra_headers=options.extra_headers,
                        extra_query=options.extra_query,
                        websocket_connection_options=cast(
                            WebSocketConnectionOptions, {"close_timeout": CLOSE_TIMEOUT_S}
                        ),
                    )
                    .enter()
                )
                self._ws = _socket_of(self._conn)
                while not self.core.session_ready:
                    await self._receive(await self._conn.recv_bytes())
        except InvalidStatus as exc:
            await self._close_socket()
            status = exc.response.status_code
            hint = " (check the API key)" if status in (401, 403) else ""
            raise UpstreamError(
                f"{where} refused the connection: HTTP {status}{hint}", code=str(status)
            ) from exc
        except (OSError, InvalidHandshake) as exc:
            await self._close_socket()
            raise UpstreamError(f"cannot connect to {where}: {exc}", retryable=True) from exc
        except TimeoutError as exc:
            await self._close_socket()
            raise UpstreamError(
                f"{where} did not configure the session within {CONNECT_TIMEOUT_S:.0f} s", retryable=True
            ) from exc
        except ConnectionClosed as exc:
            await self._close_socket()
            raise UpstreamError(f"{where} closed the connection while it was being set up: {exc}") from exc
        except BaseException:
            await self._close_socket()
            raise

    async def _close_socket(self) -> None:
        conn, self._conn = self._conn, None
        self._ws = None
        if conn is None:
            return
        try:
            # websockets aborts the TCP connection itself after its close_timeout (CLOSE_TIMEOUT_S); the
            # outer limit only guards against a close that hangs anyway.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2 * CLOSE_TIMEOUT_S)
        finally:
            # A server that never answers the close (a stalled one does not even read it) must not keep
            # the socket open: a close cut short leaves websockets in CLOSING with its transport alive.
            transport = getattr(getattr(conn, "_connection", None), "transport", None)
            if transport is not None and not transport.is_closing():
                transport.abort()

    async def close(self) -> None:
        """Cancel a connection in progress, close the socket (and the provider, when the session owns
        it); idempotent."""
        connecting = self._connecting
        if connecting is not None and not connecting.done():
            connecting.cancel()
        if connecting is not None:
            with contextlib.suppress(BaseException):
                await connecting
        await self._close_socket()
        if self.owns_provider and not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.provider.aclose(), CLOSE_TIMEOUT_S)

    # -- running ----------------------------------------------------------------------------------------

    async def run(self, mic: AudioInputDevice, speaker: AudioOutputDevice) -> None:
        """Hold the session with these devices until it ends (never raises for an ending).

        Connects first when :meth:`connect` was not called (or waits for the connection it started);
        the microphone streams from the start, its audio kept until the session is ready.
        """
        self._speaker = speaker
        tool_calls = self.agent.tool_calls
        try:
            try:
                await speaker.start()
            except Exception as exc:
                self._device_failed("speaker", exc, starting=True)
                return
            speaker.set_position_listener(self._on_position)
            if mic.format is not mic.session_format:  # (the agent checked that it converts)
                self.core.convert_input(mic.format, self._upstream_converter(mic.format))
                self._caller_via_upstream = True
            self._start_recording(mic.format, speaker.format)
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._microphone(mic), name="rtvoice-microphone")
                    tasks.create_task(self._serve(tasks, speaker), name="rtvoice-session")
                    await self._stop_event.wait()
                    raise _Stop
            except* _Stop as stopped:
                # asyncio's TaskGroup keeps the group it raised in a local of its finished __aexit__
                # frame, which the group's traceback holds: a cycle that would keep this session's whole
                # object graph alive until a garbage collection. Clearing the finished frames breaks it.
                traceback.clear_frames(stopped.__traceback__)
            except* Exception as group:
                # A bug of ours (every I/O site handles its own failures): log it, end with it.
                failure = group.exceptions[0]
                log.error("session failed", exc_info=failure)
                self.request_stop("error", ev.AgentError(type=type(failure).__name__, message=str(failure)))
        finally:
            tool_calls.unbind()
            speaker.set_position_listener(None)
            await _stop_device(mic.stop, "microphone")
            await _stop_device(speaker.stop, "speaker")
            self._finish_recording()
            await tool_calls.aclose()
            await self.close()

    async def _serve(self, tasks: asyncio.TaskGroup, speaker: AudioOutputDevice) -> None:
        """Wait for the connection, then start the reader and the clock."""
        try:
            await self.connect()
        except UpstreamError as exc:
            log.error("%s", exc)
            error = ev.AgentError(type="connection_error", message=str(exc), code=exc.code)
            self.agent.event_bus.dispatch_nowait(ev.AgentErrorEvent(error=error))
            self.request_stop("error", error)
            return
        conn = self._conn
        assert conn is not None
        context = ToolContext(
            event_bus=self.agent.event_bus,
            context=self.agent.context,
            conversation_history=self.history,
            extras=dict(self.agent.injectables),
        )
        self.agent.tool_calls.bind(tasks, self.core, self.execute, context)
        tasks.create_task(self._read(self._ws or conn, speaker), name="rtvoice-reader")
        tasks.create_task(self._clock(speaker), name="rtvoice-clock")
        self._arm_inactivity()

    def _device_failed(self, name: str, exc: BaseException, *, starting: bool = False) -> None:
        what = f"{name} failed to start" if starting else f"{name} failed"
        log.error("%s", what, exc_info=exc)
        error = ev.AgentError(type="device_error", message=f"{what}: {type(exc).__name__}: {exc}")
        self.agent.event_bus.dispatch_nowait(ev.AgentErrorEvent(error=error))
        self.request_stop("device_error", error)

    async def _receive(self, frame: bytes) -> None:
        try:
            actions = self.core.receive_json(frame, time.monotonic())
        except RemoteProtocolError as exc:
            self.dropped_upstream_frames += 1
            log.warning("skipped a server frame that is not a valid event: %s", exc)
            return
        await self.execute(actions)

    async def _read(self, conn: Any, speaker: AudioOutputDevice) -> None:
        recv = (lambda: conn.recv(decode=False)) if isinstance(conn, WebSocket) else conn.recv_bytes
        try:
            while True:
                frame = await recv()
                self._heard_from_server = time.monotonic()
                if self._assistant_active:
                    played = speaker.played_ms  # inline: this runs for every server frame
                    if played is not None:
                        actions = self.core.receive_playback(played, time.monotonic())
                        if actions:
                            await self.execute(actions)
                await self._receive(frame)
        except ConnectionClosed as exc:
            if self.stopping:
                return
            close = exc.rcvd
            code = close.code if close is not None else None
            reason = close.reason if close is not None else ""
            kind = "upstream_closed" if isinstance(exc, ConnectionClosedOK) else "connection_lost"
            message = f"the Realtime server closed the session (code {code}{': ' + reason if reason else ''})"
            error = ev.AgentError(type=kind, message=message, code=str(code) if code is not None else None)
            self.agent.event_bus.dispatch_nowait(ev.AgentErrorEvent(error=error))
            self.request_stop("upstream_closed", error)

    async def _microphone(self, mic: AudioInputDevice) -> None:
        try:
            await mic.start()
        except Exception as exc:
            self._device_failed("microphone", exc, starting=True)
            return
        bytes_per_ms = self._mic_bytes_per_ms = mic.format.bytes_per_ms
        chunks = mic.stream_chunks()
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                # The source ran out: send what a batch holds; the session goes on (the caller may
                # still listen).
                if self.core.session_ready:
                    await self.execute(self.core.flush_audio())
                return
            except Exception as exc:
                self._device_failed("microphone", exc)
                return
            if not chunk:
                continue
            start_ms, end_ms = self._call_ms, self._call_ms + len(chunk) / bytes_per_ms
            self._call_ms = end_ms
            ready = self.core.session_ready
            if self._recorder is not None:
                if ready and self._caller_via_upstream:
                    self._record_tick(end_ms)  # the chunk itself is recorded as the core converts it
                else:
                    self._record_caller(chunk, start_ms, end_ms)
            if not ready:
                self._keep_early(chunk, bytes_per_ms)
                continue
            if self._sent_origin_ms is None:  # the first audio sent: the early audio kept, then this
                early_bytes = sum(len(early) for early in self._early)
                self._sent_origin_ms = start_ms - early_bytes / bytes_per_ms
                self._sent_recorded_bytes = early_bytes
            while self._early:
                early = self._early.popleft()
                self.kept_early_audio_ms += len(early) / bytes_per_ms
                await self._send_audio(early)
            self._early_ms = 0.0
            await self._send_audio(chunk)

    def _keep_early(self, chunk: bytes, bytes_per_ms: int) -> None:
        self._early.append(chunk)
        self._early_ms += len(chunk) / bytes_per_ms
        while self._early_ms > EARLY_AUDIO_MS and len(self._early) > 1:
            dropped = len(self._early.popleft()) / bytes_per_ms
            self._early_ms -= dropped
            if not self.dropped_early_audio_ms:
                log.warning(
                    "the session is not ready yet: dropping caller audio older than %d ms", EARLY_AUDIO_MS
                )
            self.dropped_early_audio_ms += dropped

    async def _send_audio(self, chunk: bytes) -> None:
        try:
            actions = self.core.send_audio(chunk)
        except LocalProtocolError as exc:
            self._device_failed("microphone", exc)
            return
        if not actions:  # nothing while a batch fills
            return
        if len(actions) == 1 and type(action := actions[0]) is SendJSON:
            await self.send(action.text)  # most chunks are one append: no execute() around it
            return
        await self.execute(actions)

    async def _clock(self, speaker: AudioOutputDevice) -> None:
        while True:
            now = time.monotonic()
            deadlines = [
                d
                for d in (self._core_deadline, self._inactivity_deadline(), self._watchdog_deadline())
                if d is not None
            ]
            played = speaker.played_ms if self._assistant_active else None
            if played is not None:
                remaining_s = (self.core.playback_cursor_ms - played) / 1000
                deadlines.append(now + min(PLAYBACK_POLL_MAX_S, max(PLAYBACK_POLL_MIN_S, remaining_s)))
            # One future per sleep, woken by a timer or a poke (asyncio.timeout around Event.wait costs
            # twice as much, and the clock sleeps 50 times a second while a phone line reports positions).
            loop = asyncio.get_running_loop()
            wake = self._wake = loop.create_future()
            timer = loop.call_later(max(0.0, min(deadlines) - now), _wake_up, wake) if deadlines else None
            try:
                await wake
            finally:
                self._wake = None
                if timer is not None:
                    timer.cancel()
            now = time.monotonic()
            if self._assistant_active:
                await self._report_position(speaker)
            if self._core_deadline is not None and now >= self._core_deadline:
                self._core_deadline = None
                await self.execute(self.core.on_timer(now))
            self._poll_inactivity(now)
            self._poll_watchdog(now)

    def _watchdog_deadline(self) -> float | None:
        timeout = self.agent.upstream_timeout_seconds
        if timeout is None or not self.core.response_active:
            return None
        return self._heard_from_server + timeout

    def _poll_watchdog(self, now: float) -> None:
        deadline = self._watchdog_deadline()
        if deadline is None or now < deadline:
            return
        timeout = self.agent.upstream_timeout_seconds
        message = f"the Realtime server sent nothing for {timeout:g} s while a response was expected"
        log.error("%s: ending the session", message)
        error = ev.AgentError(type="upstream_timeout", message=message)
        self.agent.event_bus.dispatch_nowait(ev.AgentErrorEvent(error=error))
        self.request_stop("upstream_timeout", error)

    async def _report_position(self, speaker: AudioOutputDevice) -> None:
        played = speaker.played_ms
        if played is not None:
            await self.execute(self.core.receive_playback(played, time.monotonic()))

    def _inactivity_deadline(self) -> float | None:
        return self._inactivity.next_deadline() if self._inactivity is not None else None

    def _poll_inactivity(self, now: float) -> None:
        if self._inactivity is None:
            return
        bus = self.agent.event_bus
        for due in self._inactivity.poll(now):
            if isinstance(due, Countdown):
                bus.dispatch_nowait(ev.UserInactivityCountdown(remaining_seconds=due.remaining_seconds))
            elif isinstance(due, TimedOut):
                bus.dispatch_nowait(ev.UserInactivityTimeout(timeout_seconds=due.timeout_seconds))
                self.request_stop("inactivity")

    def _arm_inactivity(self) -> None:
        if self._inactivity is not None and self.core.session_ready:
            self._inactivity.arm(time.monotonic())
            self._poke()

    def _on_position(self) -> None:
        """The speaker pushed a new position: wake the clock when it may have played everything queued.

        Earlier positions need no wake: the reader reports the position before every server event (so a
        barge-in truncates at the freshest value) and the clock polls until the predicted end of the
        audio. A phone line pushes a position every 20 ms; waking the clock for each cost a task switch.
        """
        speaker = self._speaker
        played = speaker.played_ms if speaker is not None else None
        if played is None or played >= self.core.playback_cursor_ms - EPSILON_MS:
            self._poke()

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    # -- recording --------------------------------------------------------------------------------------

    def _start_recording(self, input_format: AudioFormat, output_format: AudioFormat) -> None:
        path = self.agent.recording_path
        if path is None:
            return
        try:
            self._recorder = SessionRecorder(
                path,
                stereo=self.agent.recording_stereo,
                input_format=input_format,
                output_format=output_format,
            )
        except Exception as exc:
            self._recording_failed(exc)

    def _record_caller(self, chunk: bytes, start_ms: float, end_ms: float) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        try:
            recorder.add_caller(chunk, start_ms, end_ms)
        except Exception as exc:
            self._recording_failed(exc)

    def _upstream_converter(self, mic_format: AudioFormat) -> Callable[[bytes], bytes]:
        """The core's converter for a G.711 microphone, whose output the recording takes too."""
        convert = ToPcm24(mic_format).convert

        def convert_and_record(audio: bytes) -> bytes:
            pcm = convert(audio)
            if self._recorder is not None:
                self._record_sent(pcm, len(audio))
            return pcm

        return convert_and_record

    def _record_sent(self, pcm: bytes, mic_bytes: int) -> None:
        """Record converted caller audio the core is sending: the stream of every chunk given to
        ``send_audio``, in order, from ``_sent_origin_ms`` on; its first ``_sent_recorded_bytes`` (the
        early audio) were recorded when they came."""
        offset = self._sent_in_bytes
        self._sent_in_bytes += mic_bytes
        skip = min(mic_bytes, max(0, self._sent_recorded_bytes - offset))
        if skip == mic_bytes or self._sent_origin_ms is None:  # (an empty conversion is skipped whole)
            return
        start_ms = self._sent_origin_ms + (offset + skip) / self._mic_bytes_per_ms
        if skip:
            pcm = pcm[skip * (len(pcm) // mic_bytes) :]  # exact: 3 samples of 2 bytes per G.711 byte
        recorder = self._recorder
        if recorder is None:
            return
        try:  # (directly rather than through _record: this runs for every chunk sent)
            recorder.add_converted_caller(pcm, start_ms)
        except Exception as exc:
            self._recording_failed(exc)

    def _record_tick(self, now_ms: float) -> None:
        """The call's clock reached ``now_ms``: let the recorder advance when its next advance is due (the
        microphone calls this for every chunk; the recorder moves only every ``ADVANCE_EVERY_MS``)."""
        recorder = self._recorder
        if recorder is None or now_ms < self._record_due_ms:
            return
        try:
            recorder.tick(now_ms)
        except Exception as exc:
            self._recording_failed(exc)
            return
        self._record_due_ms = recorder.next_tick_ms

    def _record(self, write: Callable[[SessionRecorder], None]) -> None:
        if self._recorder is None:
            return
        try:
            write(self._recorder)
        except Exception as exc:
            self._recording_failed(exc)

    def _recording_failed(self, exc: BaseException) -> None:
        """A recording that fails never ends the call: log loudly, tell listeners, go on without it."""
        recorder, self._recorder = self._recorder, None
        log.error(
            "recording to %s failed; the call goes on unrecorded", self.agent.recording_path, exc_info=exc
        )
        error = ev.AgentError(
            type="recording_error", message=f"recording failed: {type(exc).__name__}: {exc}"
        )
        self.agent.event_bus.dispatch_nowait(ev.AgentErrorEvent(error=error))
        if recorder is not None:
            with contextlib.suppress(Exception):
                recorder.close(self._call_ms)

    def _finish_recording(self) -> None:
        if self._recorder is not None and self._caller_via_upstream and self.core.session_ready:
            # Silent chunks held for a batch were never converted: convert them for the recording (the
            # append is not sent; the session is ending).
            try:
                self.core.flush_audio()
            except Exception:
                log.exception("converting the last microphone audio for the recording failed")
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            try:
                recorder.close(self._call_ms)
            except Exception:  # the file keeps what was written (its header stays valid)
                log.exception("closing the recording %s failed", self.agent.recording_path)

    # -- actions ----------------------------------------------------------------------------------------

    async def send(self, text: str) -> None:
        """Send one client event's JSON (dropped once the socket is gone; the reader ends the session)."""
        ws = self._ws
        if ws is not None:
            if not _send_now(ws, text):
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(text)
            return
        conn = self._conn
        if conn is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await conn.send_raw(text)

    async def request_response(self, instructions: str | None) -> None:
        """Ask the model to respond now (after the active response), optionally with extra instructions."""
        params = None
        if instructions:
            own = self.agent.instructions
            params = RealtimeResponseCreateParams(
                instructions=f"{own}\n\n{instructions}" if own else instructions
            )
        await self.execute(self.core.request_response(params))

    async def execute(self, actions: list[Action]) -> None:
        """Carry out the core's actions, in order."""
        for action in actions:
            if isinstance(action, SendJSON):
                await self.send(action.text)
            elif isinstance(action, SendEvent):
                await self.send(encode_client_event(action.event))
            elif isinstance(action, PlayAudio):
                await self._play(action.audio)
            elif isinstance(action, ClearPlayback):
                await self._clear()
            elif isinstance(action, ArmTimer):
                self._core_deadline = action.deadline
                self._poke()
            else:
                if isinstance(action, AssistantAudioDone) and self._speaker is not None:
                    await _call_device(self._speaker.end_of_audio, self, "speaker")
                self._track(action)
                event = agent_event(action, model=self.agent.model)
                if event is not None:
                    self.agent.event_bus.dispatch_nowait(event)
        expecting = self.core.response_active
        if expecting != self._expecting:
            self._expecting = expecting
            if expecting:  # a response was just requested: the server's silence counts from now
                self._heard_from_server = time.monotonic()
            self._poke()

    async def _play(self, audio: bytes) -> None:
        speaker = self._speaker
        assert speaker is not None, "audio before the speaker was attached"
        if not await _call_device(lambda: speaker.play_chunk(audio), self, "speaker"):
            return
        if self._recorder is not None:
            # Record the audio where the speaker will play it: now, plus what is queued before it.
            played = speaker.played_ms
            chunk_ms = len(audio) / speaker.format.bytes_per_ms
            before = self.core.playback_cursor_ms - chunk_ms
            ahead = max(0.0, before - played) if played is not None else 0.0
            self._record(lambda r: r.add_assistant(audio, self._call_ms + ahead))
        if not self._assistant_active:
            self._assistant_active = True
            self._poke()

    async def _clear(self) -> None:
        speaker = self._speaker
        assert speaker is not None
        if not await _call_device(speaker.clear_buffer, self, "speaker"):
            return
        self._record(lambda r: r.cut_assistant(self._call_ms))
        played = speaker.played_ms
        if played is not None:
            await self.execute(self.core.receive_playback_cleared(played))

    def _track(self, action: Action) -> None:
        """The session's own bookkeeping for a notification (the listener's event is dispatched after)."""
        if isinstance(action, SessionReady):
            self._arm_inactivity()
        elif isinstance(action, UserSpeechStarted | AssistantResponseStarted):
            if self._inactivity is not None:
                self._inactivity.pause()
            if isinstance(action, AssistantResponseStarted):
                self._assistant_active = True
                self._poke()
        elif isinstance(action, UserSpeechStopped):
            if not self._assistant_active:
                self._arm_inactivity()
        elif isinstance(action, PlaybackFinished):
            self._assistant_active = False
            self._arm_inactivity()
        elif isinstance(action, UserTranscript):
            model = self.agent.transcription_model
            if action.usage is not None and model is not None:
                self._count(self.usage.add_transcription(action.item_id, 0, model, action.usage))
        elif isinstance(action, ResponseFinished):
            if action.usage is not None and action.response_id is not None:
                self._count(self.usage.add_response(action.response_id, self.agent.model, action.usage))
        elif isinstance(action, ToolCall):
            self.agent.tool_calls.receive(action)
        elif isinstance(action, UpstreamErrorReceived):
            if action.fatal:
                self.request_stop("upstream_error", agent_error(action))
            else:
                log.warning("upstream error %s: %s", action.code, action.message)

    def _count(self, counted: bool) -> None:
        if counted:
            self.agent.event_bus.dispatch_nowait(ev.UsageUpdated(report=self.usage.report()))

    def finish_playback_events(self) -> None:
        """Every "started responding" gets its "stopped", even when the session ends mid-reply."""
        if self._assistant_active:
            self._assistant_active = False
            self.agent.event_bus.dispatch_nowait(ev.AssistantStoppedResponding(interrupted=True))


async def _call_device(call: Callable[[], Awaitable[None]], session: AgentSession, name: str) -> bool:
    """Run a device call; a failure ends the session as a device error. True when it worked."""
    try:
        await call()
    except Exception as exc:
        session._device_failed(name, exc)
        return False
    return True


def _wake_up(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)


def _socket_of(conn: Any) -> WebSocket | None:
    """The websockets connection under an SDK ``AsyncRealtimeConnection``, or None.

    The SDK's ``send_raw`` passes every frame through its send queue, which only matters while it
    reconnects (sessions never enable that: a call's state cannot move to a new socket), and asks anyio
    for the current task each time; ``recv_bytes`` only adds a debug log. Sending and receiving on the
    socket itself is the same traffic at half the cost per 20 ms append. Any other connection object
    (or one with reconnection on) is used through its public methods.
    """
    ws = getattr(conn, "_connection", None)
    if isinstance(ws, WebSocket) and getattr(conn, "_on_reconnecting", None) is None:
        return ws
    return None


async def _stop_device(stop: Callable[[], Awaitable[None]], name: str) -> None:
    try:
        await asyncio.wait_for(stop(), CLOSE_TIMEOUT_S)
    except Exception:  # a failing device must not keep the others (or the socket) open
        log.exception("stopping the %s failed", name)
