"""``RealtimeAgent``: a spoken conversation on the OpenAI Realtime API (the asyncio shell).

Every decision lives in :class:`~rtvoice.realtime.RealtimeProtocol` (sans-I/O); this module only moves
bytes and time: the socket, the devices, the clock, the listener. One :func:`RealtimeAgent.run` is one
session, owned by one ``asyncio.TaskGroup``:

* the **reader** feeds every server frame to the core (reporting the speaker's playback position first,
  so a barge-in measures what was really heard);
* the **microphone** task starts only after ``session.updated`` (``SessionReady``) and streams chunks;
* the **clock** task sleeps until the next thing that needs time: a playback poll while assistant audio
  is playing, the core's wall-clock fallback timer, the inactivity countdown;
* the run itself waits for the stop signal.

Endings: ``stop()``, Ctrl+C (SIGINT), an inactivity timeout, an upstream close or fatal ``error``, or a
device failure all set one stop signal; the task group is cancelled, the devices are stopped, the socket
is closed (with a short close timeout, so a dead peer cannot hold us), and ``run()`` returns an
:class:`AgentResult` saying why. Nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

from openai.types.websocket_connection_options import WebSocketConnectionOptions
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from rtvoice import events as ev
from rtvoice.agent_events import agent_error, agent_event
from rtvoice.audio import AudioFormat, AudioInputDevice, AudioOutputDevice
from rtvoice.conversation import ConversationHistory, ConversationSeed
from rtvoice.event_bus import EventBus
from rtvoice.exceptions import ConfigurationError
from rtvoice.inactivity import Countdown, InactivityTimer, TimedOut
from rtvoice.listener import AgentListener, attach_listener
from rtvoice.options import (
    AssistantVoice,
    NoiseReduction,
    RealtimeModel,
    SemanticVAD,
    TranscriptionModel,
    TurnDetection,
    clip_speech_speed,
    validate_voice,
)
from rtvoice.providers import OpenAIProvider, RealtimeProvider
from rtvoice.realtime import (
    Action,
    ArmTimer,
    AssistantResponseStarted,
    ClearPlayback,
    PlayAudio,
    PlaybackFinished,
    RealtimeProtocol,
    ResponseFinished,
    SendEvent,
    SendJSON,
    SessionConfig,
    SessionReady,
    ToolCall,
    UpstreamErrorReceived,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
    encode_client_event,
)
from rtvoice.recording.session_recorder import SessionRecorder
from rtvoice.supervisor import Supervisor
from rtvoice.tool_calls import DEFAULT_TOOL_TIMEOUT_S, ToolCalls
from rtvoice.tools import ToolContext, Tools
from rtvoice.usage import PricingCatalog, UsageReport, UsageTracker
from rtvoice.views import AgentResult, StopReason

__all__ = ["RealtimeAgent"]

log = logging.getLogger("rtvoice.agent")

#: How often the speaker's position is read while assistant audio plays: at most every
#: ``PLAYBACK_POLL_MAX_S``, sooner as the queued audio runs out, never more often than
#: ``PLAYBACK_POLL_MIN_S``. The barge-in path reads the position fresh anyway; this poll only notices
#: the end of playback, so it can be lazy (every wake-up costs CPU: see ``scripts/bench agent``).
PLAYBACK_POLL_MIN_S = 0.02
PLAYBACK_POLL_MAX_S = 0.2
#: How long closing the socket and stopping a device may take before we give up on the peer.
CLOSE_TIMEOUT_S = 0.5


class _Stop(Exception):
    """Ends the session's task group."""


class RealtimeAgent:
    """A real-time voice agent: microphone in, model voice out, over one Realtime session.

    All arguments are keyword-only and follow the rtvoice 0.7.0 README.

    Args:
        instructions: the system prompt.
        model: the Realtime model (default ``gpt-realtime-mini``, as 0.7.0).
        voice: the assistant's voice (default marin). ``fable``, ``onyx`` and ``nova`` are not realtime
            voices and are refused here rather than producing noise.
        speech_speed: 0.25 to 1.5; clipped with a warning.
        transcription_model: input transcription model (default whisper-1), or None for none.
        output_modalities: ``["audio"]`` (audio plus transcript) or ``["text"]``.
        noise_reduction: input noise reduction (default far field), or None.
        turn_detection: ``SemanticVAD()`` (default), ``ServerVAD(...)``, or None for manual turns.
        tools: a :class:`~rtvoice.tools.Tools` registry. Tools run as tasks (sync ones in a thread), so
            audio and barge-in go on; every call gets an output, an error text when it fails.
        supervisor: a :class:`~rtvoice.supervisor.Supervisor`, offered to the model as the tool
            ``supervisor``.
        audio_input: the microphone; default the sound card (the ``audio`` extra).
        audio_output: the speaker; default the sound card.
        context: your object, injectable into tools.
        listener: an :class:`~rtvoice.listener.AgentListener`.
        conversation_seed: synthetic history sent before the microphone opens.
        recording_path: where to record the session: a WAV (24 kHz, mono mix) streamed to disk as the call
            runs, caller and assistant on one real timeline, pauses kept, audio cut at barge-in left out.
        inactivity_timeout_enabled: stop after ``inactivity_timeout_seconds`` of user silence.
        inactivity_timeout_seconds: the timeout.
        provider: ``OpenAIProvider()`` (default, honours ``OPENAI_API_KEY``/``OPENAI_BASE_URL``) or
            ``AzureOpenAIProvider(...)``.
        api_key: shorthand for ``OpenAIProvider(api_key=...)``; not together with ``provider``.
        recording_stereo: record caller left, assistant right instead of a mono mix.
        tool_timeout: seconds a tool may run before the model is told it timed out.
        pricing: prices for the cost estimate (default: the built-in, dated table).

    Raises:
        ConfigurationError: an invalid combination of arguments (checked here, before any I/O).
    """

    def __init__(
        self,
        *,
        instructions: str = "",
        model: RealtimeModel | str = RealtimeModel.GPT_REALTIME_MINI,
        voice: AssistantVoice | str = AssistantVoice.MARIN,
        speech_speed: float = 1.0,
        transcription_model: TranscriptionModel | str | None = TranscriptionModel.WHISPER_1,
        output_modalities: Sequence[Literal["audio", "text"]] = ("audio",),
        noise_reduction: NoiseReduction | None = NoiseReduction.FAR_FIELD,
        turn_detection: TurnDetection | None = None,
        tools: Tools | None = None,
        supervisor: Supervisor | None = None,
        audio_input: AudioInputDevice | None = None,
        audio_output: AudioOutputDevice | None = None,
        context: Any = None,
        listener: AgentListener | None = None,
        conversation_seed: ConversationSeed | None = None,
        recording_path: str | Path | None = None,
        inactivity_timeout_enabled: bool = False,
        inactivity_timeout_seconds: float | None = None,
        provider: RealtimeProvider | None = None,
        api_key: str | None = None,
        recording_stereo: bool = False,
        tool_timeout: float = DEFAULT_TOOL_TIMEOUT_S,
        pricing: PricingCatalog | None = None,
    ) -> None:
        if api_key is not None and provider is not None:
            raise ConfigurationError(
                "pass either api_key or provider, not both (the provider holds its own key)"
            )
        if inactivity_timeout_seconds is not None and not inactivity_timeout_enabled:
            raise ConfigurationError("inactivity_timeout_seconds needs inactivity_timeout_enabled=True")
        if inactivity_timeout_enabled and (
            inactivity_timeout_seconds is None or inactivity_timeout_seconds <= 0
        ):
            raise ConfigurationError("inactivity_timeout_enabled=True needs inactivity_timeout_seconds > 0")
        modalities = list(output_modalities)
        if modalities not in (["audio"], ["text"]):
            raise ConfigurationError(f"output_modalities must be ['audio'] or ['text'], not {modalities!r}")
        self.instructions = instructions
        self.model = str(model.value if isinstance(model, RealtimeModel) else model)
        self.voice = validate_voice(voice)
        self.speech_speed = clip_speech_speed(speech_speed)
        self.transcription_model = (
            None
            if transcription_model is None
            else str(
                transcription_model.value
                if isinstance(transcription_model, TranscriptionModel)
                else transcription_model
            )
        )
        self.output_modalities: Literal["audio", "text"] = modalities[0]
        self.noise_reduction = noise_reduction
        self.turn_detection: TurnDetection | None = (
            turn_detection if turn_detection is not None else SemanticVAD()
        )
        self.tools = tools
        self.supervisor = supervisor
        if supervisor is not None and self.transcription_model is None:
            # The supervisor reads the conversation; without user transcripts it would see only half of it.
            self.transcription_model = TranscriptionModel.WHISPER_1.value
        self.recording_stereo = recording_stereo
        self.pricing = pricing
        self.audio_input = audio_input
        self.audio_output = audio_output
        self.context = context
        self.listener = listener
        self.conversation_seed = conversation_seed
        self.recording_path = Path(recording_path) if recording_path is not None else None
        self.inactivity_timeout_seconds = inactivity_timeout_seconds if inactivity_timeout_enabled else None
        self._provider = provider
        self._api_key = api_key
        self.event_bus = EventBus()
        self.history = ConversationHistory()
        self._tool_calls = ToolCalls(
            tools=tools,
            supervisor=supervisor,
            instructions=instructions,
            bus=self.event_bus,
            usage=UsageTracker(pricing),
            tool_timeout=tool_timeout,
        )
        if listener is not None:
            attach_listener(self.event_bus, listener)
            if self.output_modalities == "audio" and type(listener).on_assistant_transcript_delta is not (
                AgentListener.on_assistant_transcript_delta
            ):
                log.info(
                    "on_assistant_transcript_delta fires with audio transcripts too (0.7.0 needed text output)"
                )
        # One run at a time; these exist while it runs.
        self._running = False
        self._stop_event: asyncio.Event | None = None
        self._stop_reason: StopReason = "stopped"
        self._error: ev.AgentError | None = None
        self._core: RealtimeProtocol | None = None
        self._conn: Any = None
        self._wake: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None
        self._core_deadline: float | None = None
        self._assistant_active = False
        self._inactivity: InactivityTimer | None = None
        self._usage = UsageTracker(pricing)
        self._recorder: SessionRecorder | None = None
        self._call_ms = 0.0  # the call's clock: milliseconds of microphone audio streamed
        self._queued_ms = 0.0  # milliseconds of assistant audio handed to the speaker (less what was cleared)

    # -- public API -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is in progress."""
        return self._running

    async def run(self) -> AgentResult:
        """Hold the session until it ends; never raises for an ending, returns why it ended.

        Returns:
            The conversation turns, the recording path (when a file was written), and why the session
            stopped (``stop_reason``, ``error``).

        Raises:
            RuntimeError: the agent is already running.
        """
        if self._running:
            raise RuntimeError("this RealtimeAgent is already running; create one agent per session")
        self._running = True
        if self.event_bus.closed:  # a second run: the first one closed its bus
            self.event_bus = EventBus()
            self._tool_calls.bus = self.event_bus
            if self.listener is not None:
                attach_listener(self.event_bus, self.listener)
        self._stop_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._stop_reason, self._error = "stopped", None
        self._core_deadline = None
        self._assistant_active = False
        self.history = ConversationHistory()
        self._usage = UsageTracker(self.pricing)
        self._tool_calls.usage = self._usage
        self._call_ms = 0.0
        self._queued_ms = 0.0
        self._inactivity = (
            InactivityTimer(self.inactivity_timeout_seconds)
            if self.inactivity_timeout_seconds is not None
            else None
        )
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        sigint = self._install_sigint(loop)
        await self.event_bus.dispatch(ev.AgentStarting())
        try:
            await self._session()
        finally:
            if sigint:
                loop.remove_signal_handler(signal.SIGINT)
            if self._assistant_active:
                # Every "started responding" gets its "stopped", even when the session ends mid-reply.
                self._assistant_active = False
                await self.event_bus.dispatch(ev.AssistantStoppedResponding(interrupted=True))
            await self.event_bus.dispatch(ev.AgentStopped(reason=self._stop_reason, error=self._error))
            await self.event_bus.aclose()
            self._running = False
        recording = (
            self.recording_path if self.recording_path is not None and self.recording_path.exists() else None
        )
        return AgentResult(
            turns=self.history.turns,
            recording_path=recording,
            usage=self._usage.report(),
            stop_reason=self._stop_reason,
            error=self._error,
            duration_seconds=time.monotonic() - started,
        )

    def usage_report(self) -> UsageReport:
        """Token usage and cost so far (cheap; safe to call while the agent runs)."""
        return self._usage.report()

    async def start(self) -> AgentResult:
        """The 0.7.0 name of :meth:`run`."""
        return await self.run()

    async def stop(self) -> None:
        """End the session; idempotent and safe from any task (``run()`` returns its result)."""
        self._request_stop("stopped")

    async def set_speech_speed(self, speed: float) -> None:
        """Change the speaking rate (0.25–1.5, clipped with a warning); applies from the next response."""
        self.speech_speed = clip_speech_speed(speed)
        if self._core is not None:
            await self._execute(self._core.set_speech_speed(self.speech_speed))

    async def send_image(self, data_url: str, text: str = "") -> None:
        """Send the user an image (a ``data:`` URL) with optional text, and ask for a response.

        Raises:
            RuntimeError: the agent is not running.
        """
        if self._core is None:
            raise RuntimeError("send_image() needs a running agent")
        await self._execute(self._core.send_user_message(text, image_url=data_url))
        await self._execute(self._core.request_response())

    # -- the session ----------------------------------------------------------------------------------

    def _install_sigint(self, loop: asyncio.AbstractEventLoop) -> bool:
        # Ctrl+C ends the session cleanly (run() returns) instead of raising KeyboardInterrupt mid-I/O.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, self._request_stop, "interrupted")
            return True
        return False

    def _request_stop(self, reason: StopReason, error: ev.AgentError | None = None) -> None:
        if self._stop_event is None or self._stop_event.is_set():
            return
        self._stop_reason = reason
        self._error = error
        self._stop_event.set()

    def _session_config(self, input_format: Any, output_format: Any) -> SessionConfig:
        return SessionConfig(
            instructions=self.instructions,
            voice=self.voice,
            speech_speed=self.speech_speed,
            output_modalities=self.output_modalities,
            input_format=input_format,
            output_format=output_format,
            transcription_model=self.transcription_model,
            noise_reduction=self.noise_reduction,
            turn_detection=self.turn_detection,
            tools=tuple(self._tool_calls.definitions()),
        )

    def _devices(self) -> tuple[AudioInputDevice, AudioOutputDevice]:
        if self.audio_input is None or self.audio_output is None:
            from rtvoice.audio import SoundDeviceMicrophone, SoundDeviceSpeaker

            if self.audio_input is None:
                self.audio_input = SoundDeviceMicrophone()
            if self.audio_output is None:
                self.audio_output = SoundDeviceSpeaker()
        return self.audio_input, self.audio_output

    async def _session(self) -> None:
        try:
            provider = self._provider or OpenAIProvider(api_key=self._api_key)
            mic, speaker = self._devices()
            core = RealtimeProtocol(
                self._session_config(mic.format, speaker.format),
                seed=self.conversation_seed,
                history=self.history,
            )
        except ConfigurationError as exc:
            self._request_stop("error", ev.AgentError(type="configuration_error", message=str(exc)))
            await self.event_bus.dispatch(ev.AgentErrorEvent(error=self._error))  # type: ignore[arg-type]
            return
        self._core = core
        client = provider.create_client()
        options = provider.connect_options(self.model)
        log.info("connecting to %s, model %s", provider.describe(), options.model)
        connected = False
        try:
            async with client.realtime.connect(
                model=options.model,
                extra_headers=options.extra_headers,
                extra_query=options.extra_query,
                websocket_connection_options=cast(
                    WebSocketConnectionOptions, {"close_timeout": CLOSE_TIMEOUT_S}
                ),
            ) as conn:
                self._conn = conn
                connected = True
                await speaker.start()
                self._start_recording(mic.format, speaker.format)
                context = ToolContext(
                    event_bus=self.event_bus, context=self.context, conversation_history=self.history
                )
                try:
                    async with asyncio.TaskGroup() as tasks:
                        self._tool_calls.bind(tasks, core, self._execute, context)
                        tasks.create_task(self._read(conn, core, speaker), name="rtvoice-reader")
                        tasks.create_task(self._microphone(core, mic), name="rtvoice-microphone")
                        tasks.create_task(self._clock(core, speaker), name="rtvoice-clock")
                        assert self._stop_event is not None
                        await self._stop_event.wait()
                        raise _Stop
                except* _Stop:
                    pass
                finally:
                    self._conn = None
                    self._tool_calls.unbind()
                    await self._stop_device(mic.stop, "microphone")
                    await self._stop_device(speaker.stop, "speaker")
                    self._finish_recording()
        except* (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as group:
            first = group.exceptions[0]
            if connected:
                log.error("session failed", exc_info=first)
            what = "session failed" if connected else "cannot connect"
            self._request_stop("error", ev.AgentError(type="connection_error", message=f"{what}: {first}"))
        except* Exception as group:
            # The top of the session: log with the traceback, end the run with the error.
            failure = group.exceptions[0]
            log.error("session failed", exc_info=failure)
            self._request_stop("error", ev.AgentError(type=type(failure).__name__, message=str(failure)))
        finally:
            self._core = None
            self._finish_recording()
            await self._tool_calls.aclose()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), CLOSE_TIMEOUT_S)

    # -- recording ------------------------------------------------------------------------------------

    def _start_recording(self, input_format: AudioFormat, output_format: AudioFormat) -> None:
        if self.recording_path is not None:
            self._recorder = SessionRecorder(
                self.recording_path,
                stereo=self.recording_stereo,
                input_format=input_format,
                output_format=output_format,
            )

    def _finish_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            try:
                recorder.close(self._call_ms)
            except Exception:  # keep ending the session; the file keeps what was written (valid header)
                log.exception("closing the recording failed")

    async def _stop_device(self, stop: Any, name: str) -> None:
        try:
            await asyncio.wait_for(stop(), CLOSE_TIMEOUT_S)
        except Exception:  # a failing device must not keep the others (or the socket) open
            log.exception("stopping the %s failed", name)

    async def _read(self, conn: Any, core: RealtimeProtocol, speaker: AudioOutputDevice) -> None:
        try:
            while True:
                frame = await conn.recv_bytes()
                now = time.monotonic()
                if self._assistant_active:
                    played = speaker.played_ms
                    if played is not None:
                        await self._execute(core.receive_playback(played, now))
                await self._execute(core.receive_json(frame, now))
        except ConnectionClosed as exc:
            close = exc.rcvd
            code = close.code if close is not None else None
            reason = close.reason if close is not None else ""
            if self._stop_event is not None and not self._stop_event.is_set():
                kind = "upstream_closed" if isinstance(exc, ConnectionClosedOK) else "connection_lost"
                message = (
                    f"the Realtime server closed the session (code {code}{': ' + reason if reason else ''})"
                )
                error = ev.AgentError(
                    type=kind, message=message, code=str(code) if code is not None else None
                )
                await self.event_bus.dispatch(ev.AgentErrorEvent(error=error))
                self._request_stop("upstream_closed", error)

    async def _microphone(self, core: RealtimeProtocol, mic: AudioInputDevice) -> None:
        assert self._ready is not None
        await self._ready.wait()
        try:
            await mic.start()
            bytes_per_ms = mic.format.bytes_per_ms
            async for chunk in mic.stream_chunks():
                if chunk:
                    start_ms = self._call_ms
                    self._call_ms += len(chunk) / bytes_per_ms
                    if self._recorder is not None:
                        self._recorder.add_caller(chunk, start_ms, self._call_ms)
                    await self._execute(core.send_audio(chunk))
        except Exception as exc:  # the microphone failed: end the session with a clear error
            log.exception("microphone failed")
            error = ev.AgentError(
                type="device_error", message=f"microphone failed: {type(exc).__name__}: {exc}"
            )
            await self.event_bus.dispatch(ev.AgentErrorEvent(error=error))
            self._request_stop("device_error", error)

    async def _clock(self, core: RealtimeProtocol, speaker: AudioOutputDevice) -> None:
        assert self._wake is not None
        while True:
            now = time.monotonic()
            deadlines = [d for d in (self._core_deadline, self._inactivity_deadline()) if d is not None]
            played = speaker.played_ms if self._assistant_active else None
            if played is not None:
                remaining_s = (self._queued_ms - played) / 1000
                deadlines.append(now + min(PLAYBACK_POLL_MAX_S, max(PLAYBACK_POLL_MIN_S, remaining_s)))
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            now = time.monotonic()
            if self._assistant_active:
                played = speaker.played_ms
                if played is not None:
                    await self._execute(core.receive_playback(played, now))
            if self._core_deadline is not None and now >= self._core_deadline:
                self._core_deadline = None
                await self._execute(core.on_timer(now))
            await self._poll_inactivity(now)

    def _inactivity_deadline(self) -> float | None:
        return self._inactivity.next_deadline() if self._inactivity is not None else None

    async def _poll_inactivity(self, now: float) -> None:
        if self._inactivity is None:
            return
        for due in self._inactivity.poll(now):
            if isinstance(due, Countdown):
                await self.event_bus.dispatch(
                    ev.UserInactivityCountdown(remaining_seconds=due.remaining_seconds)
                )
            elif isinstance(due, TimedOut):
                await self.event_bus.dispatch(ev.UserInactivityTimeout(timeout_seconds=due.timeout_seconds))
                self._request_stop("inactivity")

    def _arm_inactivity(self) -> None:
        if self._inactivity is not None:
            self._inactivity.arm(time.monotonic())
            self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- actions --------------------------------------------------------------------------------------

    async def _send(self, text: str) -> None:
        conn = self._conn
        if conn is None:
            return
        with contextlib.suppress(ConnectionClosed):  # the reader notices the close and ends the session
            await conn.send_raw(text)

    async def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendJSON):
                await self._send(action.text)
            elif isinstance(action, SendEvent):
                await self._send(encode_client_event(action.event))
            elif isinstance(action, PlayAudio):
                await self._play(action.audio)
            elif isinstance(action, ClearPlayback):
                await self._clear()
            elif isinstance(action, ArmTimer):
                self._core_deadline = action.deadline
                self._poke()
            else:
                self._track(action)
                event = agent_event(action, model=self.model)
                if event is not None:
                    self.event_bus.dispatch_nowait(event)

    async def _play(self, audio: bytes) -> None:
        assert self.audio_output is not None
        await self.audio_output.play_chunk(audio)
        if self._recorder is not None:
            # Record the audio where the speaker will play it: now, plus what is queued before it.
            played = self.audio_output.played_ms
            ahead = max(0.0, self._queued_ms - played) if played is not None else 0.0
            self._recorder.add_assistant(audio, self._call_ms + ahead)
        self._queued_ms += len(audio) / self.audio_output.format.bytes_per_ms
        if not self._assistant_active:
            self._assistant_active = True
            self._poke()

    async def _clear(self) -> None:
        assert self.audio_output is not None and self._core is not None
        await self.audio_output.clear_buffer()
        if self._recorder is not None:
            self._recorder.cut_assistant(self._call_ms)
        played = self.audio_output.played_ms
        if played is not None:
            self._queued_ms = played  # the unplayed rest is gone
            await self._execute(self._core.receive_playback_cleared(played))

    def _track(self, action: Action) -> None:
        """The session's own bookkeeping for a notification (the listener's event is dispatched after)."""
        if isinstance(action, SessionReady):
            assert self._ready is not None
            self._ready.set()
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
            if action.usage is not None and self.transcription_model is not None:
                self._count(
                    self._usage.add_transcription(action.item_id, 0, self.transcription_model, action.usage)
                )
        elif isinstance(action, ResponseFinished):
            if action.usage is not None and action.response_id is not None:
                self._count(self._usage.add_response(action.response_id, self.model, action.usage))
        elif isinstance(action, ToolCall):
            self._tool_calls.receive(action)
        elif isinstance(action, UpstreamErrorReceived):
            if action.fatal:
                self._request_stop("upstream_error", agent_error(action))
            else:
                log.warning("upstream error %s: %s", action.code, action.message)

    def _count(self, counted: bool) -> None:
        if counted:
            self.event_bus.dispatch_nowait(ev.UsageUpdated(report=self._usage.report()))
