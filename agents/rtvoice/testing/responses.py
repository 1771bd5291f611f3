"""One simulated response: the GA server events it emits, in order, and how it ends when cancelled.

A response is planned when it starts (the brain decides its output items) and then streamed lazily, so
that a cancel can arrive between any two events. :meth:`SimulatedResponse.next_events` returns the next
burst (everything up to and including the next audio delta); :meth:`SimulatedResponse.cancel` closes
whatever is open, exactly as the API does: ``*.done`` events for the open parts, then ``response.done``
with ``status: "cancelled"``.

Event order of an audio response (``reference/openai-realtime-ga.md`` §4, "Typical VAD turn")::

    response.created → rate_limits.updated → response.output_item.added → conversation.item.added
    → response.content_part.added → (response.output_audio.delta, response.output_audio_transcript.delta)*
    → response.output_audio.done → response.output_audio_transcript.done → response.content_part.done
    → response.output_item.done → conversation.item.done → response.done
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from rtvoice.testing.brain import CallFunction, Say, Step

__all__ = ["AudioItem", "Burst", "FunctionCallItem", "SimulatedResponse", "Usage", "count_text_tokens"]

#: Simulated token rates (the API does not publish its audio tokenisation; these are round figures of
#: the right order: about 10 tokens per second of caller audio, 20 per second of generated audio).
AUDIO_INPUT_TOKENS_PER_SECOND = 10
AUDIO_OUTPUT_TOKENS_PER_SECOND = 20


def count_text_tokens(text: str) -> int:
    """About four characters per token, as OpenAI's rule of thumb."""
    return math.ceil(len(text) / 4) if text else 0


@dataclass
class AudioItem:
    """An assistant message as the server stores it: audio duration and transcript (or text).

    Attributes:
        said: the text streamed so far (transcript or text deltas), whatever truncation did.
        truncated: a ``conversation.item.truncate`` cut the item; audio generated afterwards is still sent
            but no longer added to it, and its transcript stays deleted.
        audio_source: gives the item's whole audio in the output format (it is re-synthesised, from a
            cache, when ``conversation.item.retrieve`` asks for it; the simulator keeps no audio bytes).
        bytes_per_ms: of the output format.
    """

    id: str
    modality: Literal["audio", "text"]
    transcript: str
    audio_ms: float = 0.0
    status: Literal["in_progress", "completed", "incomplete"] = "in_progress"
    said: str = ""
    truncated: bool = False
    audio_source: Callable[[], bytes] | None = field(default=None, repr=False)
    bytes_per_ms: int = 48

    def to_wire(self) -> dict[str, Any]:
        """The item without its audio, as ``conversation.item.*`` and ``response.output_item.*`` carry it."""
        content: list[dict[str, Any]] = []
        if self.status != "in_progress":
            if self.modality == "audio":
                content = [{"type": "output_audio", "transcript": self.transcript}]
            else:
                content = [{"type": "output_text", "text": self.transcript}]
        return self._wire(content)

    def retrieved_wire(self) -> dict[str, Any]:
        """The item as ``conversation.item.retrieved`` carries it: with its audio (base64, cut to
        :attr:`audio_ms`) and, while it is still streaming, the content generated so far."""
        if self.modality == "text":
            return self._wire([{"type": "output_text", "text": self.transcript or self.said}])
        audio = self.audio_source() if self.audio_source is not None else b""
        end = int(self.audio_ms * self.bytes_per_ms)
        if self.bytes_per_ms > 8:
            end -= end % 2  # PCM16: whole samples
        transcript = "" if self.truncated else (self.transcript or self.said)
        part = {
            "type": "output_audio",
            "audio": base64.b64encode(audio[:end]).decode("ascii"),
            "transcript": transcript,
        }
        return self._wire([part])

    def _wire(self, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "realtime.item",
            "type": "message",
            "status": self.status,
            "role": "assistant",
            "content": content,
        }


@dataclass
class FunctionCallItem:
    """A function call the model made."""

    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] = "in_progress"

    def to_wire(self) -> dict[str, Any]:
        """The item as the wire carries it."""
        return {
            "id": self.id,
            "object": "realtime.item",
            "type": "function_call",
            "status": self.status,
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments if self.status != "in_progress" else "",
        }


@dataclass
class Usage:
    """Token counts of one response, in the shape of ``response.done.response.usage``."""

    input_text: int = 0
    input_audio: int = 0
    cached_text: int = 0
    cached_audio: int = 0
    output_text: int = 0
    output_audio: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The ``usage`` object."""
        input_tokens = self.input_text + self.input_audio
        output_tokens = self.output_text + self.output_audio
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "image_tokens": 0,
                "cached_tokens": self.cached_text + self.cached_audio,
                "cached_tokens_details": {
                    "text_tokens": self.cached_text,
                    "audio_tokens": self.cached_audio,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": self.output_text, "audio_tokens": self.output_audio},
        }


Synthesize = Callable[[str], bytes]
NewId = Callable[[str], str]


@dataclass(frozen=True)
class Burst:
    """The next events of a response for the shell to send, and how much was generated (for pacing).

    Attributes:
        events: the server events, in order.
        audio_ms: audio carried by the burst's audio delta.
        text_tokens: text (or function-call argument) tokens carried by the burst.
    """

    events: list[dict[str, Any]]
    audio_ms: float = 0.0
    text_tokens: int = 0


class _Thinking:
    """Marks, in the event stream, where the model starts generating."""


_THINKING = _Thinking()


@dataclass
class SimulatedResponse:
    """One response, planned at start and streamed event by event.

    Args:
        id: the response id (``resp_...``).
        steps: what the brain decided, one output item per step.
        new_id: mints ids for a prefix (``item``, ``call``, ``event``).
        synthesize: text to audio bytes in the session's output format (unused for text responses).
        bytes_per_ms: of the output format (48 for PCM16 24 kHz, 8 for G.711).
        chunk_ms: audio per ``response.output_audio.delta``.
        modality: ``"audio"`` (audio plus transcript) or ``"text"``.
        conversation_id: ``None`` for an out-of-band response.
        previous_item_id: the item the first output item follows in the conversation.
        on_item_added: called with every output item when it enters the conversation.
        voice: the output voice, echoed in the response object.
        output_format: the output audio format, echoed in the response object.
        input_usage: the prompt's token counts (filled in by the session).
        metadata: the response's metadata, echoed back.
    """

    id: str
    steps: list[Step]
    new_id: NewId
    synthesize: Synthesize
    bytes_per_ms: int
    chunk_ms: int
    modality: Literal["audio", "text"]
    conversation_id: str | None
    previous_item_id: str | None
    on_item_added: Callable[[AudioItem | FunctionCallItem, str | None], None]
    voice: str = "alloy"
    output_format: dict[str, Any] = field(default_factory=lambda: {"type": "audio/pcm", "rate": 24000})
    input_usage: Usage = field(default_factory=Usage)
    metadata: dict[str, str] | None = None

    items: list[AudioItem | FunctionCallItem] = field(default_factory=list, init=False)
    status: Literal["in_progress", "completed", "cancelled"] = field(default="in_progress", init=False)
    _events: Iterator[dict[str, Any] | _Thinking] = field(init=False)
    _open: dict[str, Any] = field(default_factory=dict, init=False)
    _finished: bool = field(default=False, init=False)
    #: ``response.created`` went out and the model has not produced its first output yet: the shell
    #: waits the time to first output before pulling the next burst.
    thinking: bool = field(default=False, init=False)
    #: The first burst (``response.created``) has been taken.
    started: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._events = self._stream()

    # -- the wire -------------------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> dict[str, Any]:
        return {"type": type_, "event_id": self.new_id("event"), **fields}

    def _response_object(self, status: str, **extra: Any) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": [item.to_wire() for item in self.items] if status != "in_progress" else [],
            "conversation_id": self.conversation_id,
            "output_modalities": [self.modality],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": self.output_format, "voice": self.voice}},
            "usage": None,
            "metadata": self.metadata,
        }
        obj.update(extra)
        return obj

    @property
    def finished(self) -> bool:
        """Whether ``response.done`` has been emitted."""
        return self._finished

    @property
    def audio_items(self) -> list[AudioItem]:
        """The assistant message items of this response."""
        return [item for item in self.items if isinstance(item, AudioItem)]

    @property
    def speech_texts(self) -> list[str]:
        """What this response will speak (for the shell to synthesise ahead, off its event loop)."""
        if self.modality != "audio":
            return []
        return [step.text for step in self.steps if isinstance(step, Say)]

    @property
    def first_output(self) -> Literal["audio", "text"]:
        """Which time to first output applies: audio, unless the response is text or starts with a call."""
        if self.modality == "text" or (self.steps and isinstance(self.steps[0], CallFunction)):
            return "text"
        return "audio"

    def next_events(self) -> Burst:
        """The next burst of events: up to and including the next delta (audio, text or arguments).

        The first burst is ``response.created`` and ``rate_limits.updated``: there the model starts
        thinking (:attr:`thinking` is set until the next burst is taken).
        """
        self.thinking = False
        self.started = True
        burst: list[dict[str, Any]] = []
        for event in self._events:
            if isinstance(event, _Thinking):
                self.thinking = True
                return Burst(burst)
            burst.append(event)
            kind = event["type"]
            if kind == "response.output_audio.delta":
                return Burst(burst, audio_ms=self._open.get("last_chunk_ms", 0.0))
            if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
                return Burst(burst, text_tokens=count_text_tokens(event["delta"]))
        return Burst(burst)

    def cancel(self, reason: Literal["turn_detected", "client_cancelled"]) -> list[dict[str, Any]]:
        """End the response now: close the open parts and emit ``response.done`` (cancelled).

        Returns:
            The events that close the response; empty if it had already finished.
        """
        if self._finished:
            return []
        self._events = iter(())
        events: list[dict[str, Any]] = []
        item = self._open.get("item")
        if isinstance(item, AudioItem):
            item.status = "incomplete"
            if self._open.get("part_open"):
                events.extend(self._close_content(item, self._open.get("spoken", "")))
            events.extend(self._close_item(item))
        elif isinstance(item, FunctionCallItem):
            item.status = "incomplete"
            events.extend(self._close_item(item))
        self.status = "cancelled"
        events.append(self._done_event("cancelled", {"type": "cancelled", "reason": reason}))
        return events

    # -- streaming ------------------------------------------------------------------------------------

    def _done_event(self, status: str, details: dict[str, Any] | None) -> dict[str, Any]:
        self._finished = True
        usage = Usage(
            input_text=self.input_usage.input_text,
            input_audio=self.input_usage.input_audio,
            cached_text=self.input_usage.cached_text,
            cached_audio=self.input_usage.cached_audio,
        )
        for item in self.items:
            if isinstance(item, AudioItem):
                usage.output_text += count_text_tokens(item.transcript)
                usage.output_audio += math.ceil(item.audio_ms / 1000 * AUDIO_OUTPUT_TOKENS_PER_SECOND)
            else:
                usage.output_text += count_text_tokens(item.name + item.arguments)
        return self._event(
            "response.done",
            response=self._response_object(status, status_details=details, usage=usage.to_wire()),
        )

    def _close_content(self, item: AudioItem, text: str) -> list[dict[str, Any]]:
        self._open["part_open"] = False
        if not item.truncated:
            # A truncated item keeps its transcript deleted; the wire still carries what was generated.
            item.transcript = text
        where = {
            "response_id": self.id,
            "item_id": item.id,
            "output_index": len(self.items) - 1,
            "content_index": 0,
        }
        if item.modality == "audio":
            return [
                self._event("response.output_audio.done", **where),
                self._event("response.output_audio_transcript.done", **where, transcript=text),
                self._event(
                    "response.content_part.done", **where, part={"type": "audio", "transcript": text}
                ),
            ]
        return [
            self._event("response.output_text.done", **where, text=text),
            self._event("response.content_part.done", **where, part={"type": "text", "text": text}),
        ]

    def _close_item(self, item: AudioItem | FunctionCallItem) -> list[dict[str, Any]]:
        self._open.pop("item", None)
        wire = item.to_wire()
        events = [
            self._event(
                "response.output_item.done", response_id=self.id, output_index=len(self.items) - 1, item=wire
            )
        ]
        if self.conversation_id is not None:
            events.append(
                self._event("conversation.item.done", previous_item_id=self._open.get("previous"), item=wire)
            )
        return events

    def _add_item(self, item: AudioItem | FunctionCallItem) -> list[dict[str, Any]]:
        self.items.append(item)
        self._open["item"] = item
        wire = item.to_wire()
        events = [
            self._event(
                "response.output_item.added", response_id=self.id, output_index=len(self.items) - 1, item=wire
            )
        ]
        if self.conversation_id is not None:
            self._open["previous"] = self.previous_item_id
            events.append(
                self._event("conversation.item.added", previous_item_id=self.previous_item_id, item=wire)
            )
            self.on_item_added(item, self.previous_item_id)
            self.previous_item_id = item.id
        return events

    def _stream(self) -> Iterator[dict[str, Any] | _Thinking]:
        yield self._event("response.created", response=self._response_object("in_progress"))
        yield self._event(
            "rate_limits.updated",
            rate_limits=[
                {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                {"name": "tokens", "limit": 40000, "remaining": 35904, "reset_seconds": 6.144},
            ],
        )
        yield _THINKING
        for step in self.steps:
            if isinstance(step, Say):
                yield from self._stream_message(step.text)
            else:
                yield from self._stream_function_call(step)
        self.status = "completed"
        yield self._done_event("completed", None)

    def _stream_message(self, text: str) -> Iterator[dict[str, Any]]:
        item = AudioItem(
            id=self.new_id("item"),
            modality=self.modality,
            transcript="",
            audio_source=(lambda: self.synthesize(text)) if self.modality == "audio" else None,
            bytes_per_ms=self.bytes_per_ms,
        )
        yield from self._add_item(item)
        where = {
            "response_id": self.id,
            "item_id": item.id,
            "output_index": len(self.items) - 1,
            "content_index": 0,
        }
        self._open["part_open"] = True
        self._open["spoken"] = ""
        words = text.split(" ")
        if self.modality == "text":
            yield self._event("response.content_part.added", **where, part={"type": "text", "text": ""})
            for i, word in enumerate(words):
                delta = word if i == 0 else f" {word}"
                self._open["spoken"] += delta
                item.said += delta
                yield self._event("response.output_text.delta", **where, delta=delta)
        else:
            yield self._event(
                "response.content_part.added", **where, part={"type": "audio", "transcript": ""}
            )
            audio = self.synthesize(text)
            chunk_bytes = max(self.bytes_per_ms * self.chunk_ms, 2)
            chunks = [audio[i : i + chunk_bytes] for i in range(0, len(audio), chunk_bytes)] or [b""]
            # Spread the transcript over the audio so that the words arrive about when they are spoken.
            per_chunk = len(words) / len(chunks)
            said = 0
            for index, chunk in enumerate(chunks):
                upto = len(words) if index == len(chunks) - 1 else round((index + 1) * per_chunk)
                if upto > said:
                    delta = " ".join(words[said:upto])
                    delta = delta if said == 0 else f" {delta}"
                    said = upto
                    self._open["spoken"] += delta
                    item.said += delta
                    yield self._event("response.output_audio_transcript.delta", **where, delta=delta)
                chunk_ms = len(chunk) / self.bytes_per_ms
                if not item.truncated:
                    # After a truncate the item keeps the cut: later audio is sent, not stored.
                    item.audio_ms += chunk_ms
                self._open["last_chunk_ms"] = chunk_ms
                yield self._event(
                    "response.output_audio.delta", **where, delta=base64.b64encode(chunk).decode("ascii")
                )
        item.status = "completed"
        yield from self._close_content(item, text)
        yield from self._close_item(item)

    def _stream_function_call(self, step: CallFunction) -> Iterator[dict[str, Any]]:
        arguments = step.arguments_json
        item = FunctionCallItem(
            id=self.new_id("item"), call_id=self.new_id("call"), name=step.name, arguments=""
        )
        yield from self._add_item(item)
        where = {
            "response_id": self.id,
            "item_id": item.id,
            "output_index": len(self.items) - 1,
            "call_id": item.call_id,
        }
        for start in range(0, len(arguments), 16):
            yield self._event(
                "response.function_call_arguments.delta", **where, delta=arguments[start : start + 16]
            )
        item.arguments = arguments
        item.status = "completed"
        yield self._event(
            "response.function_call_arguments.done", **where, name=step.name, arguments=arguments
        )
        yield from self._close_item(item)
