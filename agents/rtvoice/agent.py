"""``RealtimeAgent``: a spoken conversation on the OpenAI Realtime API.

The agent is **configuration**: instructions, voice, tools, supervisor, devices, listener. Each
:meth:`RealtimeAgent.run` is one **session** (:class:`~rtvoice.agent_session.AgentSession`), created for the
run and thrown away after it, so an agent may run again, and the objects a server builds once and hands
to every call (``Tools``, a ``Supervisor``, a provider) hold no per-call state.

Every decision lives in :class:`~rtvoice.realtime.RealtimeProtocol` (sans-I/O); the session only moves
bytes and time. A server can open the upstream before the call's audio exists: ``await agent.connect()``
(pre-warm) while it answers the carrier's webhook, then set the devices and ``await agent.run()`` when the
media stream opens; ``await agent.request_response()`` makes the agent speak first.

Endings: ``stop()``, Ctrl+C (only in a program that has not taken SIGINT itself, see
:mod:`rtvoice.sigint`), an inactivity timeout, an upstream close or fatal ``error``, or a device failure
all end the session's task group; the devices are stopped, the socket is closed, and ``run()`` returns an
:class:`AgentResult` saying why. Configuration errors (no API key, bad arguments) raise
:class:`~rtvoice.ConfigurationError` before anything connects.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rtvoice import events as ev
from rtvoice.agent_session import AgentSession
from rtvoice.audio import AudioFormat, AudioInputDevice, AudioOutputDevice
from rtvoice.audio.convert import can_convert
from rtvoice.conversation import ConversationHistory, ConversationSeed
from rtvoice.event_bus import EventBus
from rtvoice.exceptions import ConfigurationError
from rtvoice.listener import AgentListener, attach_listener
from rtvoice.logcontext import log_context
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
from rtvoice.realtime import DEFAULT_INPUT_BATCH_MS, SessionConfig
from rtvoice.realtime.protocol import check_input_batch_ms
from rtvoice.sigint import SigintGuard
from rtvoice.supervisor import Supervisor
from rtvoice.tool_calls import DEFAULT_TOOL_TIMEOUT_S, ToolCalls
from rtvoice.tools import Tools
from rtvoice.usage import PricingCatalog, UsageReport, UsageTracker
from rtvoice.views import AgentResult

__all__ = ["DEFAULT_UPSTREAM_TIMEOUT_S", "RealtimeAgent"]

#: The upstream watchdog's default: how long the server may stay silent while a response is expected.
DEFAULT_UPSTREAM_TIMEOUT_S = 15.0

log = logging.getLogger("rtvoice.agent")


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
        input_batch_ms: while the caller is not speaking (by the server's VAD), silent microphone chunks
            (no sample beyond about -40 dBFS) are sent in appends of at least this many milliseconds
            (default 60: a third of the socket writes of 20 ms phone frames); a chunk with sound goes at
            once with what was held, and from the caller's speech start to its end every chunk goes at
            once, so the caller's sound never waits. 0: every chunk at once.
        pricing: prices for the cost estimate (default: the built-in, dated table).
        handle_sigint: Ctrl+C ends ``run()`` with its result. None (default): only when the program has
            not installed a SIGINT handler of its own (a server such as uvicorn has, and keeps it);
            True: always (main thread); False: never.
        upstream_timeout_seconds: the upstream watchdog: while a response is requested or in progress,
            the server may stay silent this long before the session ends with ``upstream_timeout`` (a
            stalled server never leaves a caller in silence). None: no watchdog.

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
        input_batch_ms: float = DEFAULT_INPUT_BATCH_MS,
        pricing: PricingCatalog | None = None,
        handle_sigint: bool | None = None,
        upstream_timeout_seconds: float | None = DEFAULT_UPSTREAM_TIMEOUT_S,
    ) -> None:
        if api_key is not None and provider is not None:
            raise ConfigurationError(
                "pass either api_key or provider, not both (the provider holds its own key)"
            )
        if upstream_timeout_seconds is not None and not upstream_timeout_seconds > 0:
            raise ConfigurationError(
                f"upstream_timeout_seconds must be positive or None, not {upstream_timeout_seconds!r}"
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
        self.input_batch_ms = check_input_batch_ms(input_batch_ms)
        self.pricing = pricing
        self.audio_input = audio_input
        self.audio_output = audio_output
        self.context = context
        self.listener = listener
        self.conversation_seed = conversation_seed
        self.recording_path = Path(recording_path) if recording_path is not None else None
        self.upstream_timeout_seconds = upstream_timeout_seconds
        self.inactivity_timeout_seconds = inactivity_timeout_seconds if inactivity_timeout_enabled else None
        self._provider = provider
        self._api_key = api_key
        self.event_bus = EventBus()
        self.history = ConversationHistory()
        self.tool_calls = ToolCalls(
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
        self.handle_sigint = handle_sigint
        self.injectables: dict[object, object] = {}
        """Further objects tools receive through ``Inject[T]``, keyed by type (the gateway adds the call)."""
        self._session: AgentSession | None = None  # the session being prepared or run
        self._last_session: AgentSession | None = None
        self._running = False

    # -- public API -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is in progress."""
        return self._running

    @property
    def provider(self) -> RealtimeProvider | None:
        """The provider given to the agent (None: a default ``OpenAIProvider`` is built per session).

        A host that runs many agents sets one shared provider on every agent built without one
        (``if agent.provider is None: agent.provider = shared``), so they share its client.

        Raises:
            ConfigurationError: on assignment, when the agent was built with ``api_key=`` (its own key).
        """
        return self._provider

    @provider.setter
    def provider(self, value: RealtimeProvider | None) -> None:
        if value is not None and self._api_key is not None:
            raise ConfigurationError("this agent was built with api_key=...; it keeps its own provider")
        self._provider = value

    @property
    def connected(self) -> bool:
        """Whether a session is open and configured (after :meth:`connect`, or while running)."""
        return self._session is not None and self._session.connected

    @property
    def session(self) -> AgentSession | None:
        """The session being prepared or run, else the last one (None before the first)."""
        return self._session or self._last_session

    async def connect(
        self, *, input_format: AudioFormat | None = None, output_format: AudioFormat | None = None
    ) -> None:
        """Open and configure the Realtime session now, before the devices exist (pre-warm).

        A server calls this while it answers a call's webhook; when the audio arrives it sets
        ``audio_input``/``audio_output`` and calls :meth:`run`, which takes the open session, so the
        caller hears the greeting without waiting for the connection. Without it, :meth:`run` connects.

        Args:
            input_format: the format the session receives the microphone's audio in, the microphone's
                ``session_format`` (default: ``audio_input``'s, else PCM16 24 kHz); :meth:`run` refuses
                a microphone with another one.
            output_format: likewise for the speaker.

        Raises:
            ConfigurationError: no API key, or already connected or running.
            UpstreamError: the session could not be opened (the agent stays unconnected).
        """
        if self._session is not None:
            raise ConfigurationError("this agent is already connected or running; create one agent per call")
        session = self._new_session(
            input_format or (self.audio_input.session_format if self.audio_input else AudioFormat.PCM16_24K),
            output_format or (self.audio_output.format if self.audio_output else AudioFormat.PCM16_24K),
        )
        self._session = session
        with log_context(session_id=session.session_id):
            await self.event_bus.dispatch(ev.AgentStarting())
            try:
                await session.connect()
            except BaseException:
                self._session = None
                self._last_session = session
                raise

    async def aclose(self) -> None:
        """Close a session opened by :meth:`connect` that will not run (a call that never arrived)."""
        session = self._session
        if session is None or self._running:
            return
        self._session = None
        self._last_session = session
        await session.close()
        await self.event_bus.dispatch(ev.AgentStopped(reason="stopped", error=None))
        await self.event_bus.aclose()

    async def run(self) -> AgentResult:
        """Hold the session until it ends; never raises for an ending, returns why it ended.

        Returns:
            The conversation turns, the recording path (when a file was written), usage and cost, and why
            the session stopped (``stop_reason``, ``error``).

        Raises:
            RuntimeError: the agent is already running.
            ConfigurationError: no API key, or devices whose format differs from what :meth:`connect`
                configured. Nothing was connected (or the pre-warmed session is left as it was).
        """
        if self._running:
            raise RuntimeError("this RealtimeAgent is already running; create one agent per session")
        mic, speaker = self._devices()
        if not can_convert(mic.format, mic.session_format):
            raise ConfigurationError(
                f"the microphone's audio ({mic.format.name}) cannot be converted to its session_format "
                f"({mic.session_format.name}): only G.711 to PCM16_24K is"
            )
        session = self._session
        if session is None:
            session = self._new_session(mic.session_format, speaker.format)
            self._session = session
            fresh = True
        else:
            fresh = False
            if (mic.session_format, speaker.format) != (session.input_format, session.output_format):
                raise ConfigurationError(
                    f"the devices' formats ({mic.session_format.name}, {speaker.format.name}) differ from "
                    f"those connect() configured ({session.input_format.name}, {session.output_format.name})"
                )
        self._running = True
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            with (
                log_context(session_id=session.session_id),
                SigintGuard(loop, lambda: session.request_stop("interrupted"), self.handle_sigint),
            ):
                if fresh:
                    await self.event_bus.dispatch(ev.AgentStarting())
                try:
                    await session.run(mic, speaker)
                finally:
                    await session.close()
                    session.finish_playback_events()
                    if session.error is not None:
                        log.error("session ended (%s): %s", session.stop_reason, session.error.message)
                    await self.event_bus.dispatch(
                        ev.AgentStopped(reason=session.stop_reason, error=session.error)
                    )
                    await self.event_bus.aclose()
        finally:
            self._session = None
            self._last_session = session
            self._running = False
        recording = (
            self.recording_path if self.recording_path is not None and self.recording_path.exists() else None
        )
        return AgentResult(
            turns=session.history.turns,
            recording_path=recording,
            usage=session.usage.report(),
            stop_reason=session.stop_reason,
            error=session.error,
            duration_seconds=time.monotonic() - started,
        )

    def usage_report(self) -> UsageReport:
        """Token usage and cost of the current (or last) session (cheap; safe while the agent runs)."""
        session = self.session
        return session.usage.report() if session is not None else UsageTracker(self.pricing).report()

    async def start(self) -> AgentResult:
        """The 0.7.0 name of :meth:`run`."""
        return await self.run()

    async def stop(self) -> None:
        """End the session; idempotent and safe from any task (``run()`` returns its result)."""
        if self._session is not None:
            self._session.request_stop("stopped")

    async def request_response(self, instructions: str | None = None) -> None:
        """Ask the model to speak now (after the response in progress, if any): for example to greet first.

        Works once :meth:`connect` returned or while running. ``instructions`` are added after the agent's
        own for this response only (``"Greet the caller and ask how you can help."``).

        Raises:
            RuntimeError: no session is connected.
        """
        session = self._session
        if session is None or not session.connected:
            raise RuntimeError("request_response() needs a connected agent (connect() or run() first)")
        await session.request_response(instructions)

    async def set_speech_speed(self, speed: float) -> None:
        """Change the speaking rate (0.25–1.5, clipped with a warning); applies from the next response."""
        self.speech_speed = clip_speech_speed(speed)
        session = self._session
        if session is not None and session.connected:
            await session.execute(session.core.set_speech_speed(self.speech_speed))

    async def send_image(self, data_url: str, text: str = "") -> None:
        """Send the user an image (a ``data:`` URL) with optional text, and ask for one response.

        Raises:
            RuntimeError: the agent is not running.
        """
        session = self._session
        if session is None or not self._running:
            raise RuntimeError("send_image() needs a running agent")
        await session.execute(session.core.send_user_message(text, image_url=data_url))

    # -- sessions -------------------------------------------------------------------------------------

    def session_config(self, input_format: AudioFormat, output_format: AudioFormat) -> SessionConfig:
        """What the session is configured with (``session.update``) for these device formats."""
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
            tools=tuple(self.tool_calls.definitions()),
        )

    def _new_session(self, input_format: AudioFormat, output_format: AudioFormat) -> AgentSession:
        if self._provider is not None:
            provider, owns = self._provider, False
        else:
            provider, owns = OpenAIProvider(api_key=self._api_key), True  # ConfigurationError: no key
        if self.event_bus.closed:  # a second run: the first one closed its bus
            self.event_bus = EventBus()
            if self.listener is not None:
                attach_listener(self.event_bus, self.listener)
        session = AgentSession(
            self,
            provider,
            owns_provider=owns,
            input_format=input_format,
            output_format=output_format,
            session_id=uuid.uuid4().hex[:12],
        )
        self.history = session.history
        self.tool_calls.bus = self.event_bus
        self.tool_calls.usage = session.usage
        return session

    def _devices(self) -> tuple[AudioInputDevice, AudioOutputDevice]:
        if self.audio_input is None or self.audio_output is None:
            from rtvoice.audio import SoundDeviceMicrophone, SoundDeviceSpeaker

            if self.audio_input is None:
                self.audio_input = SoundDeviceMicrophone()
            if self.audio_output is None:
                self.audio_output = SoundDeviceSpeaker()
        return self.audio_input, self.audio_output
