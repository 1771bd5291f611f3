"""The sans-I/O core of a Realtime session: :class:`RealtimeProtocol`.

Theory of operation
-------------------
The protocol owns every *decision* of a session with the GA Realtime API and none of its I/O. It never
awaits, never reads a clock, never mints random ids: server events and ``now`` (monotonic seconds) come in
through ``receive_*`` methods, the application's wishes through commands (``request_response``,
``send_function_output``, ``interrupt`` …), and every method returns a list of
:mod:`actions <rtvoice.realtime.actions>` for the shell to carry out in order.

**Session start.** ``session.created`` → send ``session.update`` (the complete config, see
:func:`~rtvoice.realtime.config.build_session_update`), then one ``conversation.item.create`` per seed
message, with no ``response.create``. The first ``session.updated`` → :class:`SessionReady` (exactly
once): the shell opens the microphone only now, so no audio reaches an unconfigured session and the
seeds are in place before the user can speak. Responses requested before that wait in the queue.

**One response at a time.** A response is *active* from our ``response.create`` (or a
``response.created`` the server's VAD made) until its ``response.done``; :meth:`request_response`
sends at once only when nothing is active, and otherwise queues. Every ``response.create`` goes through
the :class:`~rtvoice.realtime.responses.ResponseLedger`, which also recovers a request the server
refused because its VAD got in first.

**Audio and barge-in** (:mod:`rtvoice.realtime.speech`). Deltas of live responses become
:class:`PlayAudio`; on ``speech_started`` (or :meth:`RealtimeProtocol.interrupt`) audio still playing is
cleared and truncated at the milliseconds actually heard, never after playback finished, never at 0 ms.

**Input batching** (``input_batch_ms``, off by default in the core; the agent's default is
:data:`DEFAULT_INPUT_BATCH_MS`). Microphone chunks that are silent (no sample beyond
``SOUND_THRESHOLD``, about -40 dBFS) are joined into one ``input_audio_buffer.append`` of at least
``input_batch_ms`` while the caller is not speaking (by the server's VAD); a chunk with sound goes at
once, taking what was held along, and from ``speech_started`` to ``speech_stopped`` every chunk goes at
once (only the microphone's own calls send audio: appends never overtake one another, and nothing is
sent ahead of a barge-in's clear). A phone line's 20 ms frames then cost a third of the socket writes in
silence, while the caller's sound is never held: neither the start of speech (a barge-in) nor the end of
a turn reaches the server later.
:meth:`RealtimeProtocol.flush_audio` sends what is held (the microphone ended).
With :meth:`RealtimeProtocol.convert_input` the chunks come in the microphone's own format (G.711) and are
converted to the session's as they are sent: a batch of silent frames is one conversion, not three.

**Function calls** (:mod:`rtvoice.realtime.calls`) are reported as :class:`ToolCall` once the response
*completed*; calls of a cancelled, failed or incomplete response are answered "not executed" instead.
Their outputs are batched into one follow-up ``response.create``.

**Errors.** An ``error`` event becomes :class:`UpstreamErrorReceived`, ``fatal`` for the codes and
types in :data:`FATAL_ERROR_CODES`/:data:`FATAL_ERROR_TYPES` and for any error before the session is
ready (the configuration was refused). Harmless ones (``response_cancel_not_active`` …) are not fatal.

**History.** :attr:`RealtimeProtocol.history` is fed from item positions, transcripts and cut-off audio
(see :mod:`rtvoice.conversation.history`); seed items take a place but never become turns.

Failure contract: only :class:`~rtvoice.exceptions.LocalProtocolError` (the caller broke a rule) and
:class:`~rtvoice.exceptions.RemoteProtocolError` (the server sent something malformed) leave the public
methods; anything else is a bug.

Driving it (the shell's side)
-----------------------------
::

    core = RealtimeProtocol(config, seed=seed)
    on each text frame:      run(core.receive_json(frame, now=monotonic()))
    each mic chunk (after SessionReady):   run(core.send_audio(chunk))   # [] while a batch fills
    the microphone ended:    run(core.flush_audio())
    output device progress:  run(core.receive_playback(device.played_ms, now))   # if it can tell
    after ClearPlayback:     run(core.receive_playback_cleared(device.played_ms))  # if it can tell
    ArmTimer(deadline):      at deadline, run(core.on_timer(now))
    ToolCall:                run the tool as a task, then run(core.send_function_output(call_id, out))

where ``run`` executes the actions in order: ``SendEvent`` → ``encode_client_event(a.event)`` on the
socket, ``SendJSON`` → ``a.text`` on the socket, ``PlayAudio`` → queue on the device, ``ClearPlayback``
→ drop the device's queue, notifications → listener/event bus. Report the device position right before
feeding each server event when it is cheap to read, so a barge-in measures with the freshest value.
Use the SDK connection's ``recv_bytes()`` with :meth:`RealtimeProtocol.receive_json`, not ``recv()``:
``recv()`` builds models without validating them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemCreatedEvent,
    ConversationItemDeletedEvent,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeConversationItemFunctionCall,
    RealtimeErrorEvent,
    RealtimeFunctionTool,
    RealtimeResponseCreateParams,
    RealtimeServerEvent,
    RealtimeToolChoiceConfig,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)

from rtvoice.audio.format import AudioFormat
from rtvoice.conversation import ConversationHistory, ConversationSeed
from rtvoice.exceptions import ConfigurationError, LocalProtocolError, RemoteProtocolError
from rtvoice.realtime.actions import (
    Action,
    AssistantAudioDone,
    AssistantResponseStarted,
    AssistantTranscript,
    AssistantTranscriptDelta,
    ResponseFinished,
    SendEvent,
    SendJSON,
    SessionReady,
    ToolCall,
    UpstreamErrorReceived,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from rtvoice.realtime.calls import Call, CallBook
from rtvoice.realtime.client_events import (
    cancel_response,
    function_output,
    seed_item,
    user_message_item,
)
from rtvoice.realtime.config import SessionConfig, build_session_update, speed_update, tools_update
from rtvoice.realtime.playback import PlaybackTracker
from rtvoice.realtime.responses import ResponseLedger, counter_ids
from rtvoice.realtime.speech import AssistantSpeech
from rtvoice.realtime.wire import (
    MalformedServerEvent,
    UnknownEvent,
    append_audio_json,
    parse_server_event,
)
from rtvoice_codecs import alaw_to_pcm16, peak_pcm16, ulaw_to_pcm16

__all__ = [
    "DEFAULT_INPUT_BATCH_MS",
    "FATAL_ERROR_CODES",
    "FATAL_ERROR_TYPES",
    "HANDLED_EVENT_TYPES",
    "MAX_APPEND_BYTES",
    "NOT_EXECUTED_OUTPUT",
    "SOUND_THRESHOLD",
    "RealtimeProtocol",
    "check_input_batch_ms",
    "has_sound",
]

FATAL_ERROR_CODES: frozenset[str] = frozenset({"session_expired", "invalid_api_key", "insufficient_quota"})
"""Error codes after which the session cannot go on (expired, or not allowed to run at all)."""

FATAL_ERROR_TYPES: frozenset[str] = frozenset({"server_error", "authentication_error"})
"""Error types after which the session cannot go on."""

MAX_APPEND_BYTES = 15 * 1024 * 1024 * 3 // 4 - 64
"""Largest audio chunk per ``input_audio_buffer.append``: the API's 15 MiB per event, after base64."""

DEFAULT_INPUT_BATCH_MS = 60.0
"""The agent's default ``input_batch_ms``: three 20 ms phone frames per append while the caller is silent."""

SOUND_THRESHOLD = 328
"""A chunk with a sample beyond this (PCM16; about -40 dBFS) carries sound and is never held for a batch."""

MAX_INPUT_BATCH_MS = 200.0
"""The largest ``input_batch_ms`` accepted (the server's VAD would see the caller's speech too late)."""

NOT_EXECUTED_OUTPUT = "Not executed: the response that made this call was {status} before the call could run."
"""The output sent for a call of a response that did not complete."""

HANDLED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "session.created",
        "session.updated",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.done",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "response.created",
        "response.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.function_call_arguments.done",
        "error",
    }
)
"""Server event types the protocol acts on; a malformed event of another type is ignored, not fatal."""

_REFUSED_CODE = "conversation_already_has_active_response"


def has_sound(audio: bytes, audio_format: AudioFormat) -> bool:
    """A sample of ``audio`` (in ``audio_format``; G.711 is decoded first) is beyond :data:`SOUND_THRESHOLD`:
    the test input batching applies before it holds a chunk."""
    if audio_format is AudioFormat.PCMU_8K:
        audio = ulaw_to_pcm16(audio)
    elif audio_format is AudioFormat.PCMA_8K:
        audio = alaw_to_pcm16(audio)
    return peak_pcm16(audio) > SOUND_THRESHOLD


def check_input_batch_ms(value: float) -> float:
    """``value`` as a float if it is a valid ``input_batch_ms``.

    Raises:
        ConfigurationError: not a number from 0 to :data:`MAX_INPUT_BATCH_MS`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_INPUT_BATCH_MS:
        raise ConfigurationError(
            f"input_batch_ms must be a number from 0 to {MAX_INPUT_BATCH_MS:g}, not {value!r}"
        )
    return float(value)


class RealtimeProtocol:
    """The state of one Realtime session, driven by events in and actions out (see the module docstring).

    Args:
        config: what to configure at session start; also gives the output format's bytes per ms and
            whether the server interrupts responses itself.
        seed: messages to place in the conversation before the microphone opens.
        id_factory: returns a fresh ``event_id`` for each ``response.create``; default ``rtvoice_1``,
            ``rtvoice_2``, …
        history: the history to feed; a new one by default.
        input_batch_ms: join microphone chunks into appends of at least this many milliseconds while the
            caller is not speaking (0, the default: every chunk is its own append). See the module
            docstring.

    Raises:
        ConfigurationError: ``input_batch_ms`` is negative, over :data:`MAX_INPUT_BATCH_MS`, or not a number.
    """

    def __init__(
        self,
        config: SessionConfig,
        *,
        seed: ConversationSeed | None = None,
        id_factory: Callable[[], str] | None = None,
        history: ConversationHistory | None = None,
        input_batch_ms: float = 0.0,
    ) -> None:
        input_batch_ms = check_input_batch_ms(input_batch_ms)
        self.config = config
        self.history = history if history is not None else ConversationHistory()
        self.unknown_events: Counter[str] = Counter()
        """Events of types the SDK does not know, by type (ignored)."""
        self.ignored_malformed_events: Counter[str] = Counter()
        """Malformed events of types the protocol does not act on, by type (ignored)."""
        self._seed = seed
        self._chunk_format = config.input_format  # what send_audio() takes (see convert_input)
        self._convert: Callable[[bytes], bytes] | None = None
        self._max_chunk_bytes = MAX_APPEND_BYTES
        self._check_pcm16 = config.input_format is AudioFormat.PCM16_24K
        self._session_created = False
        self._ready = False
        self._responses = ResponseLedger(id_factory if id_factory is not None else counter_ids())
        self._playback = PlaybackTracker(config.output_format.bytes_per_ms)
        self._calls = CallBook()
        self._speech = AssistantSpeech(
            self._playback, self._responses, self.history, server_interrupts=config.interrupt_response
        )
        self._batch_ms = input_batch_ms
        self._batch_bytes = round(input_batch_ms * config.input_format.bytes_per_ms)
        self._held: list[bytes] = []  # microphone chunks waiting for their batch to fill
        self._held_bytes = 0
        self._user_speaking = False  # between speech_started and speech_stopped: nothing is held

    # -- state ------------------------------------------------------------------------------------------

    @property
    def session_ready(self) -> bool:
        """True once :class:`SessionReady` was emitted."""
        return self._ready

    @property
    def response_active(self) -> bool:
        """True while a response is pending or in progress (a ``response.create`` would be queued)."""
        return self._responses.active

    @property
    def queued_responses(self) -> int:
        """Requested responses waiting for the active one to finish."""
        return self._responses.queued

    @property
    def outstanding_calls(self) -> frozenset[str]:
        """Call ids reported as :class:`ToolCall` and not answered yet."""
        return self._calls.outstanding

    @property
    def playback_cursor_ms(self) -> float:
        """Milliseconds of assistant audio queued on the playback stream so far (less what was cleared)."""
        return self._playback.cursor

    @property
    def held_audio_ms(self) -> float:
        """Microphone audio held for the current batch, not sent yet (see ``input_batch_ms``)."""
        return self._held_bytes / self._chunk_format.bytes_per_ms

    def assistant_playing(self, now: float) -> bool:
        """True while assistant audio is queued and not yet played."""
        return self._playback.is_playing(now)

    # -- input from the server and the devices -----------------------------------------------------------

    def receive_json(self, data: str | bytes, now: float) -> list[Action]:
        """Feed one text frame from the Realtime server.

        Args:
            data: the frame as received.
            now: monotonic time in seconds.

        Returns:
            The actions to carry out, in order.

        Raises:
            RemoteProtocolError: the frame is not a valid server event (not JSON, no ``type``, or an
                event this protocol acts on whose payload does not fit the SDK model). Unknown types and
                malformed events of ignored types are counted, not raised.
        """
        try:
            event = parse_server_event(data)
        except MalformedServerEvent as exc:
            if exc.event_type is None or exc.event_type in HANDLED_EVENT_TYPES:
                raise
            self.ignored_malformed_events[exc.event_type] += 1
            return []
        if isinstance(event, UnknownEvent):
            self.unknown_events[event.type] += 1
            return []
        return self.receive_event(event, now)

    def receive_event(self, event: RealtimeServerEvent, now: float) -> list[Action]:
        """Feed one parsed (validated) server event.

        Args:
            event: an SDK server event model, validated (e.g. by :func:`~rtvoice.realtime.parse_server_event`).
            now: monotonic time in seconds.

        Returns:
            The actions to carry out, in order. Events the protocol does not act on return ``[]``.

        Raises:
            RemoteProtocolError: an event contradicts the protocol (a response without an id, an audio
                delta that is not base64).
        """
        # Ordered by frequency: the audio and transcript deltas are nearly all the traffic.
        match event:
            case ResponseAudioDeltaEvent():
                return self._speech.audio_delta(event, now)
            case ResponseAudioTranscriptDeltaEvent() | ResponseTextDeltaEvent():
                return self._on_text_delta(event.response_id, event.item_id, event.delta)
            case InputAudioBufferSpeechStartedEvent():
                self._user_speaking = True  # the next chunk goes at once, with what is held before it
                actions = self._speech.barge_in(now, local=False)
                actions.append(UserSpeechStarted(event.item_id, event.audio_start_ms))
                return actions
            case InputAudioBufferSpeechStoppedEvent():
                self._user_speaking = False
                return [UserSpeechStopped(event.item_id, event.audio_end_ms)]
            case InputAudioBufferCommittedEvent():
                self.history.place_item(event.item_id, event.previous_item_id)
                return []
            case ConversationItemAdded() | ConversationItemDone() | ConversationItemCreatedEvent():
                if event.item.id is not None:
                    self.history.place_item(event.item.id, event.previous_item_id)
                return []
            case ConversationItemDeletedEvent():
                self.history.remove_item(event.item_id)
                return []
            case ConversationItemInputAudioTranscriptionCompletedEvent():
                self.history.set_transcript(event.item_id, "user", event.transcript)
                return [UserTranscript(event.item_id, event.transcript, event.usage)]
            case ConversationItemInputAudioTranscriptionFailedEvent():
                error = event.error
                return [
                    UpstreamErrorReceived(
                        error.type or "transcription_failed",
                        error.code,
                        error.message or "",
                        error.param,
                        event.event_id,
                        fatal=False,
                    )
                ]
            case ResponseCreatedEvent():
                return self._on_response_created(event)
            case ResponseAudioDoneEvent():
                if self._responses.is_live(event.response_id):
                    return [AssistantAudioDone(event.response_id, event.item_id)]
                return []
            case ResponseAudioTranscriptDoneEvent():
                return self._speech.transcript_done(event)
            case ResponseTextDoneEvent():
                self.history.set_transcript(event.item_id, "assistant", event.text)
                return [AssistantTranscript(event.item_id, event.text, interrupted=False)]
            case ResponseFunctionCallArgumentsDoneEvent():
                call = Call(event.call_id, event.name, event.arguments, event.item_id)
                self._calls.record(event.response_id, call)
                return []
            case ResponseDoneEvent():
                return self._on_response_done(event, now)
            case RealtimeErrorEvent():
                return self._on_error(event)
            case SessionCreatedEvent():
                return self._on_session_created()
            case SessionUpdatedEvent():
                return self._on_session_updated()
            case _:
                return []

    def receive_playback(self, played_ms_total: float, now: float) -> list[Action]:
        """Report the output device's position: ms of assistant audio heard since the session started.

        The count covers only audio this protocol queued (:class:`PlayAudio`) that reached the listener:
        not silence the device inserts while idle, not audio dropped by :class:`ClearPlayback`. Once
        called, the protocol relies on these reports instead of its wall-clock estimate.

        Args:
            played_ms_total: the device's cumulative played milliseconds (monotonic).
            now: monotonic time in seconds.

        Returns:
            :class:`PlaybackFinished` when this report shows the last queued audio played out.

        Raises:
            LocalProtocolError: a negative, non-finite or decreasing value.
        """
        self._playback.report(played_ms_total)
        return self._speech.check_drained(now)

    def receive_playback_cleared(self, played_ms_total: float) -> list[Action]:
        """Report the device's exact position at the moment it executed :class:`ClearPlayback`.

        Optional but recommended: the clear moved the playback cursor back to the last reported
        position, and the device may have played a little beyond it; this realigns the audio queued
        since, so later truncations stay exact.

        Raises:
            LocalProtocolError: no clear to report, or an invalid or decreasing value.
        """
        self._playback.report_cleared(played_ms_total)
        return []

    def on_timer(self, now: float) -> list[Action]:
        """The :class:`ArmTimer` deadline passed (wall-clock mode only).

        Returns:
            :class:`PlaybackFinished` when the estimated playback is over, or a new :class:`ArmTimer`.
        """
        return self._speech.check_drained(now)

    # -- commands ---------------------------------------------------------------------------------------

    def convert_input(self, chunk_format: AudioFormat, convert: Callable[[bytes], bytes]) -> None:
        """Take microphone chunks in ``chunk_format`` from now on; ``convert`` turns audio of that format into
        the session's input format (stateful: it gets every chunk, in order, joined into the appends).

        Call it before the first :meth:`send_audio`. Batching, the sound check and :attr:`held_audio_ms`
        then work on the chunks as they come; only what is sent is converted, a batch at a time.
        """
        wire_bytes_per_ms = self.config.input_format.bytes_per_ms
        self._chunk_format = chunk_format
        self._convert = convert
        self._check_pcm16 = chunk_format is AudioFormat.PCM16_24K
        self._batch_bytes = round(self._batch_ms * chunk_format.bytes_per_ms)
        self._max_chunk_bytes = MAX_APPEND_BYTES * chunk_format.bytes_per_ms // wire_bytes_per_ms

    def send_audio(self, pcm: bytes) -> list[Action]:
        """Send a chunk of microphone audio (in the session's input format, or the one given to
        :meth:`convert_input`).

        With ``input_batch_ms``, while the caller is not speaking the chunk is held until the chunks held
        add up to a batch, which then goes as one append.

        Returns:
            One :class:`SendJSON` with the ``input_audio_buffer.append`` frame (this chunk, after the
            chunks held before it); nothing for an empty chunk or while a batch fills.

        Raises:
            LocalProtocolError: before :class:`SessionReady`, a PCM16 chunk of odd length, or a chunk over
                :data:`MAX_APPEND_BYTES`.
        """
        if not self._ready:
            raise LocalProtocolError("send_audio() before SessionReady: the session is not configured yet")
        if not pcm:
            return []
        if self._check_pcm16 and len(pcm) % 2:
            raise LocalProtocolError(f"PCM16 audio must have an even length, got {len(pcm)} bytes")
        if len(pcm) > self._max_chunk_bytes:
            raise LocalProtocolError(f"audio chunk of {len(pcm)} bytes exceeds {self._max_chunk_bytes}")
        if not self._held and (self._user_speaking or len(pcm) >= self._batch_bytes):
            return [self._append(pcm)]  # the hot path while the caller speaks
        actions: list[Action] = []
        if self._held_bytes + len(pcm) > self._max_chunk_bytes:
            actions += self.flush_audio()
        self._held.append(pcm)
        self._held_bytes += len(pcm)
        if self._user_speaking or self._held_bytes >= self._batch_bytes or has_sound(pcm, self._chunk_format):
            actions += self.flush_audio()
        return actions

    def flush_audio(self) -> list[Action]:
        """Send the microphone audio held for a batch now (e.g. the microphone ended).

        Returns:
            One :class:`SendJSON` with the held chunks as one append, or nothing when none is held.
        """
        if not self._held:
            return []
        held = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        return [self._append(held)]

    def _append(self, audio: bytes) -> SendJSON:
        return SendJSON(append_audio_json(audio if self._convert is None else self._convert(audio)))

    def request_response(self, params: RealtimeResponseCreateParams | None = None) -> list[Action]:
        """Ask the model to respond, now if nothing is active, else after the active response is done.

        Args:
            params: per-response overrides (instructions, tool_choice, …), or None for a plain response.

        Returns:
            The ``response.create`` to send, or nothing when the request was queued (or equals one already
            queued).

        Raises:
            LocalProtocolError: :data:`~rtvoice.realtime.responses.MAX_QUEUED_RESPONSES` requests are already
                waiting.
        """
        event = self._responses.request(params, ready=self._ready)
        return [] if event is None else [SendEvent(event)]

    def send_function_output(
        self,
        call_id: str,
        output: str,
        *,
        respond: bool = True,
        follow_up: RealtimeResponseCreateParams | None = None,
    ) -> list[Action]:
        """Answer a :class:`ToolCall`.

        The output item is sent at once. When it was the last outstanding call of its response, the
        follow-up response is requested (through :meth:`request_response`) if any output of the batch
        asked for one.

        Args:
            call_id: the call answered.
            output: the result, as the model should read it (an error message for a failed tool).
            respond: whether this result needs a spoken follow-up (False for silent tools).
            follow_up: overrides for the follow-up response; the first given in a batch wins.

        Raises:
            LocalProtocolError: ``call_id`` is not an outstanding call, or the queue is full.
        """
        batch = self._calls.answer(call_id, respond=respond, follow_up=follow_up)
        actions: list[Action] = [SendEvent(function_output(call_id, output))]
        if batch is not None and batch.respond:
            actions += self.request_response(batch.follow_up)
        return actions

    def send_user_message(
        self, text: str, *, image_url: str | None = None, respond: bool = True
    ) -> list[Action]:
        """Add a typed user message (optionally with an image as a data URL) and, by default, respond.

        Raises:
            LocalProtocolError: the response queue is full.
        """
        actions: list[Action] = [SendEvent(user_message_item(text, image_url=image_url))]
        if respond:
            actions += self.request_response()
        return actions

    def interrupt(self, now: float) -> list[Action]:
        """Stop the assistant now, as if the user had barged in.

        Clears and truncates playing audio exactly like ``speech_started`` does, and cancels the active
        response (the server does not know about a local interrupt, so it never cancels by itself).
        """
        return self._speech.barge_in(now, local=True)

    def set_speech_speed(self, speed: float) -> list[Action]:
        """Send a speed-only ``session.update`` (applies from the next response).

        Raises:
            LocalProtocolError: ``speed`` outside 0.25..1.5.
        """
        try:
            return [SendEvent(speed_update(speed))]
        except ConfigurationError as exc:
            raise LocalProtocolError(str(exc)) from exc

    def set_tools(
        self, tools: Sequence[RealtimeFunctionTool], tool_choice: RealtimeToolChoiceConfig = "auto"
    ) -> list[Action]:
        """Send a tools-only ``session.update`` replacing the tool list (e.g. supervisor control tools)."""
        return [SendEvent(tools_update(tools, tool_choice))]

    # -- session ----------------------------------------------------------------------------------------

    def _on_session_created(self) -> list[Action]:
        if self._session_created:
            return []
        self._session_created = True
        actions: list[Action] = [SendEvent(build_session_update(self.config))]
        if self._seed is not None:
            actions += [SendEvent(seed_item(message.role, message.text)) for message in self._seed.messages]
        return actions

    def _on_session_updated(self) -> list[Action]:
        if self._ready:
            return []
        self._ready = True
        return [SessionReady(), *self._flush_queue()]

    # -- responses --------------------------------------------------------------------------------------

    def _flush_queue(self) -> list[Action]:
        event = self._responses.flush(ready=self._ready)
        return [] if event is None else [SendEvent(event)]

    def _on_response_created(self, event: ResponseCreatedEvent) -> list[Action]:
        response_id = event.response.id
        if response_id is None:
            raise RemoteProtocolError("response.created without a response id")
        response = self._responses.created(response_id)
        actions: list[Action] = [AssistantResponseStarted(response_id)]
        if response.interrupted:  # cancelled while its response.create was still pending
            actions.append(SendEvent(cancel_response(response_id)))
        return actions

    def _on_text_delta(self, response_id: str, item_id: str, delta: str) -> list[Action]:
        if self._responses.is_live(response_id):
            return [AssistantTranscriptDelta(item_id, delta)]
        return []

    def _on_response_done(self, event: ResponseDoneEvent, now: float) -> list[Action]:
        result = event.response
        response_id, status = result.id, result.status
        actions: list[Action] = []
        if response_id is not None:
            self._responses.done(response_id)
            for output in result.output or ():
                if isinstance(output, RealtimeConversationItemFunctionCall) and output.call_id is not None:
                    call = Call(output.call_id, output.name, output.arguments, output.id or "")
                    self._calls.record(response_id, call)
            actions += self._dispatch_calls(response_id, status)
            self._speech.response_done(response_id)
        reason = result.status_details.reason if result.status_details is not None else None
        actions.append(ResponseFinished(response_id, status, result.usage, reason))
        actions += self._flush_queue()
        actions += self._speech.check_drained(now)
        return actions

    def _dispatch_calls(self, response_id: str, status: str | None) -> list[Action]:
        calls = self._calls.take(response_id)
        if not calls:
            return []
        if status == "completed":
            self._calls.open_batch(response_id, calls)
            return [ToolCall(call.call_id, call.name, call.arguments, response_id) for call in calls]
        output = NOT_EXECUTED_OUTPUT.format(status=status)
        return [
            SendEvent(function_output(call.call_id, output, after=call.item_id or None)) for call in calls
        ]

    # -- errors -----------------------------------------------------------------------------------------

    def _on_error(self, event: RealtimeErrorEvent) -> list[Action]:
        error = event.error
        fatal = error.code in FATAL_ERROR_CODES or error.type in FATAL_ERROR_TYPES or not self._ready
        actions: list[Action] = [
            UpstreamErrorReceived(error.type, error.code, error.message, error.param, error.event_id, fatal)
        ]
        if error.event_id is not None and self._responses.failed(
            error.event_id, refused=error.code == _REFUSED_CODE
        ):
            actions += self._flush_queue()
        return actions
