"""The simulated Realtime session: what the server does with each client event (no I/O here).

Theory of operation
-------------------
One :class:`SimulatedSession` per WebSocket. The shell (``simulator.py``) feeds it every client message
with :meth:`receive_message` and sends back the server events it returns, in order; while a response is
active the shell pulls it with :meth:`next_response_events` and paces the audio faster than real time.
All timing inside the session is on the *input audio timeline* (milliseconds of audio appended), never on
the wall clock, so tests are deterministic however slow the machine is.

State:

* ``config``: the effective session object (what ``session.updated`` echoes), changed only by valid
  ``session.update`` events, merged field by field (``null`` clears). Its defaults and the update rules
  live in ``session_config.py``.
* ``items``: the conversation, in order. Assistant audio items keep their duration (for truncation) and
  transcript; audio bytes are not kept, so memory stays flat over long sessions. The item kinds and the
  item events (create, truncate, delete, retrieve) live in ``items.py``.
* ``response``: the one active response writing to the default conversation, or ``None``. A second
  ``response.create`` while one is active is refused (``conversation_already_has_active_response``).
* the input audio buffer (``input_audio.py``): the uncommitted length and the VAD (``vad.py``) on it.

Every error is an ``error`` event and the session stays open, as on the real API.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    OutputAudioBufferClearEvent,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)

from rtvoice.testing import speech
from rtvoice.testing.brain import Brain, BrainContext, CallFunction, EchoBrain, Say, Step
from rtvoice.testing.input_audio import InputAudioBuffer
from rtvoice.testing.items import (
    Item,
    UserItem,
    conversation_usage,
    create_item,
    input_audio_item,
    insert_item,
    require_item,
    transcription_usage,
    truncate_item,
)
from rtvoice.testing.responses import (
    AudioItem,
    Burst,
    FunctionCallItem,
    SimulatedResponse,
    Usage,
)
from rtvoice.testing.session_config import (
    DEFAULT_INSTRUCTIONS,
    audio_format,
    check_output_modalities,
    check_session_update,
    deep_merge,
    default_config,
    normalize_turn_detection,
)
from rtvoice.testing.vad import SpeechStarted, SpeechStopped
from rtvoice.testing.validation import ApiError, ClientEvent, parse_client_event_and_audio
from rtvoice_codecs import pcm16_to_alaw, pcm16_to_ulaw

T = TypeVar("T")
_APPEND = InputAudioBufferAppendEvent(type="input_audio_buffer.append", audio="")

__all__ = ["DEFAULT_INSTRUCTIONS", "IdFactory", "SimulatedSession", "UserItem", "append_bounded"]


def append_bounded(items: list[T], item: T, limit: int) -> None:
    """Append ``item`` and keep about the newest ``limit`` (the oldest go in batches of ``limit // 8``,
    so the cost per append stays constant; the list never exceeds ``limit + limit // 8 + 1``)."""
    items.append(item)
    if len(items) > limit + limit // 8:
        del items[: len(items) - limit]


class IdFactory:
    """Mints API-looking ids (``event_…``, ``item_…``, ``resp_…``, ``call_…``, ``sess_…``).

    Args:
        seed: the same seed gives the same ids, so a test run can be replayed.
    """

    _ALPHABET = string.ascii_letters + string.digits

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def __call__(self, prefix: str) -> str:
        """A new id for ``prefix``."""
        return f"{prefix}_" + "".join(self._random.choices(self._ALPHABET, k=21))


@dataclass
class SimulatedSession:
    """The state of one simulated Realtime session.

    Args:
        model: the model named in the connection URL.
        now: wall-clock time at creation (seconds since the epoch), for ``expires_at``.
        max_session_seconds: the session length cap announced in ``expires_at``.
        brain: decides every response.
        user_transcripts: the k-th caller utterance (VAD or manual commit) gets the k-th text.
        new_id: mints ids.
        chunk_ms: audio per ``response.output_audio.delta``.
        late_transcripts: send input transcriptions after the response they triggered (the real API
            sends them whenever the ASR model finishes, before or after).
        synthesize: text → PCM16 at a sample rate (defaults to espeak-ng speech, or tones without it).
        history: how many client events :attr:`received` and errors :attr:`errors_sent` keep (the newest);
            appended audio is kept as the event without its audio, so a long call stays small.
        created_at_once: a new response's ``response.created`` is returned with the event that started
            it, as the real API sends it (the output follows after the thinking time). False leaves it
            for :meth:`next_response_events`, in one burst with the first output (the simulator does
            that when its timing has no thinking time, as it always did).
    """

    model: str
    now: float
    max_session_seconds: float = 3600.0
    brain: Brain = field(default_factory=EchoBrain)
    user_transcripts: Sequence[str] = ()
    new_id: Callable[[str], str] = field(default_factory=IdFactory)
    chunk_ms: int = 100
    late_transcripts: bool = False
    synthesize: Callable[[str, int, float], bytes] = field(
        default=lambda text, rate, speed: speech.synthesize(text, sample_rate=rate, speed=speed)
    )

    history: int = 10_000
    created_at_once: bool = True

    config: dict[str, Any] = field(init=False)
    items: list[Item] = field(default_factory=list, init=False)
    response: SimulatedResponse | None = field(default=None, init=False)
    responses_started: int = field(default=0, init=False)
    utterances: int = field(default=0, init=False)
    received: list[ClientEvent] = field(default_factory=list, init=False)
    errors_sent: list[ApiError] = field(default_factory=list, init=False)
    #: ``(text, sample_rate, speed)`` of what the active response will speak (the shell synthesises them
    #: off its event loop before streaming).
    speech_requests: list[tuple[str, int, float]] = field(default_factory=list, init=False)

    _audio: InputAudioBuffer = field(default_factory=InputAudioBuffer, init=False)
    _pending_user_item: str | None = field(default=None, init=False)
    _deferred: list[dict[str, Any]] = field(default_factory=list, init=False)
    _function_outputs: list[tuple[str, str]] = field(default_factory=list, init=False)
    _assistant_audio_sent: bool = field(default=False, init=False)
    _last_input_usage: int = field(default=0, init=False)
    _conversation_id: str = field(default="", init=False)
    _last_trigger: Literal["audio", "client", "idle"] = field(default="client", init=False)
    _last_user_text: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._conversation_id = self.new_id("conv")
        self.config = default_config(
            session_id=self.new_id("sess"),
            model=self.model,
            expires_at=int(self.now + self.max_session_seconds),
        )
        self._audio.configure(self.config["audio"]["input"])

    # -- helpers --------------------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> dict[str, Any]:
        return {"type": type_, "event_id": self.new_id("event"), **fields}

    def _error(self, error: ApiError) -> dict[str, Any]:
        append_bounded(self.errors_sent, error, self.history)
        return self._event("error", error=error.to_wire())

    @property
    def _turn_detection(self) -> dict[str, Any] | None:
        value = self.config["audio"]["input"].get("turn_detection")
        return value if isinstance(value, dict) else None

    @property
    def last_item_id(self) -> str | None:
        """The id of the newest conversation item."""
        return self.items[-1].id if self.items else None

    # -- the session lifecycle --------------------------------------------------------------------------

    def created_events(self) -> list[dict[str, Any]]:
        """The events a new connection receives first: ``session.created``."""
        return [self._event("session.created", session=dict(self.config))]

    def receive_message(self, text: str | bytes) -> list[dict[str, Any]]:
        """Handle one client message.

        Returns:
            The server events to send now, in order (an ``error`` event for a refused client event).
        """
        try:
            event, audio = parse_client_event_and_audio(text)
        except ApiError as exc:
            return [self._error(exc)]
        if isinstance(event, InputAudioBufferAppendEvent):
            # Keep the event, not its audio: 50 appends a second would otherwise pile up megabytes.
            kept = _APPEND if event.event_id is None else event.model_copy(update={"audio": ""})
            append_bounded(self.received, kept, self.history)
        else:
            append_bounded(self.received, event, self.history)
        try:
            return self._dispatch(event, audio)
        except ApiError as exc:
            return [self._error(ApiError(exc.code, exc.message, exc.param, exc.type, event.event_id))]

    def _dispatch(self, event: ClientEvent, audio: bytes | None) -> list[dict[str, Any]]:
        if audio is not None:  # an append's audio, decoded once by the validation
            return self._append(audio)
        if isinstance(event, SessionUpdateEvent):
            return self._session_update(event)
        if isinstance(event, ResponseCreateEvent):
            return self._response_create(event)
        if isinstance(event, ResponseCancelEvent):
            return self._response_cancel(event)
        if isinstance(event, ConversationItemCreateEvent):
            return self._item_create(event)
        if isinstance(event, ConversationItemTruncateEvent):
            return self._item_truncate(event)
        if isinstance(event, ConversationItemDeleteEvent):
            return self._item_delete(event)
        if isinstance(event, ConversationItemRetrieveEvent):
            item = require_item(self.items, event.item_id, "item_id")
            wire = item.retrieved_wire() if isinstance(item, AudioItem) else item.to_wire()
            return [self._event("conversation.item.retrieved", item=wire)]
        if isinstance(event, InputAudioBufferCommitEvent):
            return self._commit(manual=True)
        if isinstance(event, InputAudioBufferClearEvent):
            self._audio.clear()
            return [self._event("input_audio_buffer.cleared")]
        assert isinstance(event, OutputAudioBufferClearEvent)
        raise ApiError(
            "invalid_value",
            "output_audio_buffer.clear is only supported for WebRTC and SIP sessions. Over WebSocket the "
            "client owns playback: stop it locally and send conversation.item.truncate.",
            "type",
        )

    # -- session.update -------------------------------------------------------------------------------

    def _session_update(self, event: SessionUpdateEvent) -> list[dict[str, Any]]:
        update = event.session.model_dump(mode="json", exclude_unset=True)
        check_session_update(
            self.config, update, model=self.model, assistant_audio_sent=self._assistant_audio_sent
        )
        # The real API accepts a model in session.update and ignores it: the URL's model stays (pipecat
        # #2801 and #3000; the agents SDK sends its model in every update). session.updated shows it.
        update.pop("model", None)
        old_input = self.config["audio"]["input"]
        merged = deep_merge(self.config, update)
        td = normalize_turn_detection(merged["audio"]["input"].get("turn_detection"))
        self.config = deep_merge(merged, {"audio": {"input": {"turn_detection": td}}})
        new_input = self.config["audio"]["input"]
        if new_input.get("turn_detection") != old_input.get("turn_detection") or new_input.get(
            "format"
        ) != old_input.get("format"):
            self._audio.configure(new_input)
        # session.updated does not echo the client's event_id (reference §2).
        return [self._event("session.updated", session=dict(self.config))]

    # -- input audio ----------------------------------------------------------------------------------

    def _append(self, audio: bytes) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for vad_event in self._audio.append(audio, self.config["audio"]["input"].get("format")):
            if isinstance(vad_event, SpeechStarted):
                events.extend(self._speech_started(vad_event.audio_start_ms))
            else:
                events.extend(self._speech_stopped(vad_event))
        return events

    def _speech_started(self, audio_start_ms: int) -> list[dict[str, Any]]:
        self._pending_user_item = self.new_id("item")
        events = [
            self._event(
                "input_audio_buffer.speech_started",
                audio_start_ms=audio_start_ms,
                item_id=self._pending_user_item,
            )
        ]
        td = self._turn_detection or {}
        interrupt = td.get("interrupt_response")
        if (interrupt is None or interrupt) and self.response is not None and self.response.conversation_id:
            events.extend(self._finish_response(self.response.cancel("turn_detected")))
        return events

    def _speech_stopped(self, stopped: SpeechStopped) -> list[dict[str, Any]]:
        item_id = self._pending_user_item or self.new_id("item")
        events = [
            self._event(
                "input_audio_buffer.speech_stopped", audio_end_ms=stopped.audio_end_ms, item_id=item_id
            )
        ]
        events.extend(self._commit(manual=False, item_id=item_id))
        return events

    def _commit(self, *, manual: bool, item_id: str | None = None) -> list[dict[str, Any]]:
        audio_ms = self._audio.take(manual=manual)
        item_id = item_id or self._pending_user_item or self.new_id("item")
        self._pending_user_item = None
        transcript = (
            self.user_transcripts[self.utterances] if self.utterances < len(self.user_transcripts) else ""
        )
        self.utterances += 1
        previous = self.last_item_id
        user_item = input_audio_item(item_id, transcript, audio_ms)
        wire = user_item.wire
        self.items.append(user_item)
        self._last_user_text = transcript
        events = [
            self._event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id),
            self._event("conversation.item.added", previous_item_id=previous, item=wire),
            self._event("conversation.item.done", previous_item_id=previous, item=wire),
        ]
        transcription = self.config["audio"]["input"].get("transcription")
        if isinstance(transcription, dict):
            model = str(transcription.get("model") or "whisper-1")
            usage = transcription_usage(model, audio_ms, transcript)
            transcript_events = [
                self._event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item_id,
                    content_index=0,
                    delta=transcript,
                ),
                self._event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=transcript,
                    usage=usage,
                ),
            ]
            if self.late_transcripts:
                self._deferred.extend(transcript_events)
            else:
                events.extend(transcript_events)
        td = self._turn_detection
        if (
            not manual
            and td is not None
            and td.get("create_response", True) is not False
            and self.response is None
        ):
            events.extend(self._start_response(trigger="audio", params={}))
        return events

    # -- conversation items ---------------------------------------------------------------------------

    def _item_create(self, event: ConversationItemCreateEvent) -> list[dict[str, Any]]:
        created = create_item(self.items, event, self.new_id)
        if created.user_text is not None:
            self._last_user_text = created.user_text
        if created.function_output is not None:
            self._function_outputs.append(created.function_output)
        prev_id, wire = created.previous_item_id, created.wire
        return [
            self._event("conversation.item.added", previous_item_id=prev_id, item=wire),
            self._event("conversation.item.done", previous_item_id=prev_id, item=wire),
        ]

    def _item_truncate(self, event: ConversationItemTruncateEvent) -> list[dict[str, Any]]:
        item = truncate_item(self.items, event)
        return [
            self._event(
                "conversation.item.truncated",
                item_id=item.id,
                content_index=0,
                audio_end_ms=event.audio_end_ms,
            )
        ]

    def _item_delete(self, event: ConversationItemDeleteEvent) -> list[dict[str, Any]]:
        item = require_item(self.items, event.item_id, "item_id")
        self.items.remove(item)
        return [self._event("conversation.item.deleted", item_id=item.id)]

    # -- responses ------------------------------------------------------------------------------------

    def _response_create(self, event: ResponseCreateEvent) -> list[dict[str, Any]]:
        params = event.response.model_dump(mode="json", exclude_unset=True) if event.response else {}
        out_of_band = params.get("conversation") == "none"
        if self.response is not None and not out_of_band:
            raise ApiError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.response.id}. Wait until "
                "the response is finished before creating a new one.",
            )
        if self.response is not None:
            raise ApiError(
                "conversation_already_has_active_response",
                "The simulator streams one response at a time, out-of-band ones included.",
            )
        check_output_modalities(params.get("output_modalities"), "response.output_modalities")
        return self._start_response(trigger="client", params=params)

    def _response_cancel(self, event: ResponseCancelEvent) -> list[dict[str, Any]]:
        if self.response is None or (event.response_id and event.response_id != self.response.id):
            raise ApiError("response_cancel_not_active", "Cancellation failed: no active response found")
        return self._finish_response(self.response.cancel("client_cancelled"))

    def _input_usage(self, instructions: str) -> Usage:
        usage = conversation_usage(self.items, instructions)
        # Prompt caching: the prefix seen by the previous response is cached, in 64-token blocks.
        cached = min(self._last_input_usage, usage.input_text + usage.input_audio) // 64 * 64
        total = max(usage.input_text + usage.input_audio, 1)
        usage.cached_audio = cached * usage.input_audio // total
        usage.cached_text = cached - usage.cached_audio
        self._last_input_usage = usage.input_text + usage.input_audio
        return usage

    def _start_response(
        self, *, trigger: Literal["audio", "client", "idle"], params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        instructions = str(params.get("instructions", self.config.get("instructions") or ""))
        tools = params.get("tools", self.config.get("tools") or [])
        tool_choice = params.get("tool_choice", self.config.get("tool_choice", "auto"))
        tool_names = tuple(
            str(t.get("name")) for t in tools if isinstance(t, dict) and t.get("type") == "function"
        )
        last = self.items[-1] if self.items else None
        ctx = BrainContext(
            trigger=trigger,
            last_user_text=self._last_user_text,
            last_item_type=last.wire.get("type")
            if isinstance(last, UserItem)
            else ("function_call" if isinstance(last, FunctionCallItem) else ("message" if last else None)),
            function_outputs=tuple(self._function_outputs),
            instructions=instructions,
            tools=tool_names if tool_choice != "none" else (),
            response_index=self.responses_started,
            metadata=params.get("metadata"),
        )
        self._function_outputs = []
        steps: list[Step] = []
        for step in self.brain(ctx):
            if isinstance(step, CallFunction) and step.name not in ctx.tools:
                # The model cannot call a tool it was not given; it talks instead.
                steps.append(Say(f"I would use {step.name}, but I can't right now."))
            else:
                steps.append(step)
        modalities = params.get("output_modalities") or self.config.get("output_modalities") or ["audio"]
        output = deep_merge(self.config["audio"]["output"], (params.get("audio") or {}).get("output") or {})
        codec, rate, bytes_per_ms = audio_format(output.get("format"))
        speed = float(output.get("speed") or 1.0)

        def synthesize(text: str) -> bytes:
            pcm = self.synthesize(text, rate, speed)
            if codec == "pcmu":
                return pcm16_to_ulaw(pcm)
            if codec == "pcma":
                return pcm16_to_alaw(pcm)
            return pcm

        out_of_band = params.get("conversation") == "none"
        response = SimulatedResponse(
            id=self.new_id("resp"),
            steps=steps,
            new_id=self.new_id,
            synthesize=synthesize,
            bytes_per_ms=bytes_per_ms,
            chunk_ms=self.chunk_ms,
            modality="text" if modalities == ["text"] else "audio",
            conversation_id=None if out_of_band else self._conversation_id,
            previous_item_id=self.last_item_id,
            on_item_added=lambda item, previous: insert_item(self.items, item, previous),
            voice=str(output.get("voice") or "alloy"),
            output_format=dict(output.get("format") or {"type": "audio/pcm", "rate": 24000}),
            input_usage=self._input_usage(instructions),
            metadata=params.get("metadata"),
        )
        self.response = response
        self.speech_requests = [(text, rate, speed) for text in response.speech_texts]
        self.responses_started += 1
        self._last_trigger = trigger
        if not self.created_at_once:
            return []
        # response.created answers at once; the output follows after the model's thinking time.
        return response.next_events().events

    def _finish_response(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.response is not None and self.response.finished:
            if any(item.audio_ms > 0 for item in self.response.audio_items):
                self._assistant_audio_sent = True
            self.response = None
            events.extend(self._deferred)
            self._deferred = []
        return events

    def next_response_events(self) -> Burst:
        """The next burst of the active response, for the shell to send and pace.

        Returns:
            An empty burst when no response is active.
        """
        if self.response is None:
            return Burst([])
        burst = self.response.next_events()
        return Burst(
            self._finish_response(burst.events), audio_ms=burst.audio_ms, text_tokens=burst.text_tokens
        )

    @property
    def input_ms(self) -> float:
        """Milliseconds of input audio appended this session."""
        return self._audio.input_ms
