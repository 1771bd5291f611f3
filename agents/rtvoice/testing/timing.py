"""How fast a simulated response comes out: time to first output, generation rates, and a scale (pure).

The real API does not answer the instant a response is created: ``response.created`` comes at once, then
the model "thinks" for a few hundred milliseconds before its first audio or text, and then streams at a
finite rate (audio faster than real time, text at a token rate). While it streams the response is active,
so a second ``response.create`` gets ``conversation_already_has_active_response``.

:class:`Timing` holds those figures. :meth:`Timing.realistic` gives the defaults documented in
``docs/simulator.md``; :meth:`Timing.fast` is the simulator's historical behaviour (no thinking time,
audio four times faster than real time, text at once), kept as the constructor default so that the test
suite stays fast. ``scale`` multiplies every wait, so ``Timing.realistic(scale=0.1)`` keeps the realistic
shape (order, overlap, refusals) ten times faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from rtvoice.exceptions import ConfigurationError

__all__ = [
    "REALISTIC_AUDIO_SPEED",
    "REALISTIC_FIRST_AUDIO_MS",
    "REALISTIC_FIRST_TEXT_MS",
    "REALISTIC_TEXT_TOKENS_PER_SECOND",
    "Timing",
]

#: From ``response.create`` (or the end of the caller's turn) to the first audio delta. Public
#: voice-to-voice figures for gpt-realtime are 500-800 ms including the VAD's silence; what remains for the
#: model is a few hundred milliseconds. Ours: 450 ms.
REALISTIC_FIRST_AUDIO_MS = 450.0
#: To the first text or function-call argument delta (no audio decoder to prime): 300 ms.
REALISTIC_FIRST_TEXT_MS = 300.0
#: The API sends audio faster than real time (in bursts); 3x is the order seen on the wire.
REALISTIC_AUDIO_SPEED = 3.0
#: Text and function-call arguments: about 50 tokens per second.
REALISTIC_TEXT_TOKENS_PER_SECOND = 50.0


@dataclass(frozen=True)
class Timing:
    """The pace of simulated responses.

    Attributes:
        first_audio_ms: from the start of an audio response to its first output (item, content part and
            first audio delta); ``response.created`` is sent at once.
        first_text_ms: the same for a text response or a response that starts with a function call.
        audio_speed: how many times faster than real time audio is generated (the pause after a delta of
            ``d`` ms is ``d / audio_speed``).
        text_tokens_per_second: generation rate of text deltas and function-call arguments (4 characters
            a token); ``math.inf`` sends them at once.
        scale: multiplies every wait above; 0 removes them all (events still come in the same bursts).
    """

    first_audio_ms: float = 0.0
    first_text_ms: float = 0.0
    audio_speed: float = 4.0
    text_tokens_per_second: float = math.inf
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.first_audio_ms >= 0 and self.first_text_ms >= 0):
            raise ConfigurationError("first_audio_ms and first_text_ms must be >= 0")
        if not self.audio_speed > 0:
            raise ConfigurationError(f"audio_speed must be > 0, got {self.audio_speed}")
        if not self.text_tokens_per_second > 0:
            raise ConfigurationError(f"text_tokens_per_second must be > 0, got {self.text_tokens_per_second}")
        if not (self.scale >= 0 and math.isfinite(self.scale)):
            raise ConfigurationError(f"scale must be a finite number >= 0, got {self.scale}")

    @classmethod
    def fast(cls, *, audio_speed: float = 4.0) -> Timing:
        """The simulator's historical pace: no thinking time, audio 4x real time, text at once."""
        return cls(audio_speed=audio_speed)

    @classmethod
    def realistic(cls, *, scale: float = 1.0) -> Timing:
        """The real API's pace (see the module constants), optionally scaled (0.1 is ten times faster)."""
        return cls(
            first_audio_ms=REALISTIC_FIRST_AUDIO_MS,
            first_text_ms=REALISTIC_FIRST_TEXT_MS,
            audio_speed=REALISTIC_AUDIO_SPEED,
            text_tokens_per_second=REALISTIC_TEXT_TOKENS_PER_SECOND,
            scale=scale,
        )

    @property
    def thinks(self) -> bool:
        """Whether responses wait before their first output (then ``response.created`` goes out at once)."""
        return self.scale > 0 and (self.first_audio_ms > 0 or self.first_text_ms > 0)

    def scaled(self, scale: float) -> Timing:
        """This timing with ``scale`` (replacing the current one)."""
        return replace(self, scale=scale)

    def first_output_seconds(self, modality: Literal["audio", "text"]) -> float:
        """The thinking time before the first output of a response."""
        ms = self.first_audio_ms if modality == "audio" else self.first_text_ms
        return ms / 1000 * self.scale

    def audio_seconds(self, audio_ms: float) -> float:
        """The pause after sending ``audio_ms`` of audio."""
        return audio_ms / 1000 / self.audio_speed * self.scale

    def text_seconds(self, tokens: int) -> float:
        """The pause after sending ``tokens`` text tokens."""
        if math.isinf(self.text_tokens_per_second):
            return 0.0
        return tokens / self.text_tokens_per_second * self.scale
