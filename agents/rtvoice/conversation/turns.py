"""One turn of the conversation, and the estimate of how much of an interrupted reply was heard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["ConversationTurn", "Role", "heard_prefix"]

Role: TypeAlias = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """What one side said, as text.

    Args:
        role: ``"user"`` or ``"assistant"``.
        transcript: the user's transcript, or the assistant's text. For an interrupted assistant turn this
            is only the part estimated to have been heard (see :func:`heard_prefix`).
        item_id: the Realtime conversation item the turn comes from, when known.
        interrupted: the user cut the assistant off while this turn was playing.
    """

    role: Role
    transcript: str
    item_id: str | None = None
    interrupted: bool = False

    def format(self) -> str:
        """Return the turn as one line: ``[USER]: …``, ``[ASSISTANT]: …`` or ``[ASSISTANT, INTERRUPTED]: …``."""
        label = self.role.upper()
        if self.interrupted:
            label += ", INTERRUPTED"
        return f"[{label}]: {self.transcript}"


def heard_prefix(text: str, fraction: float) -> str:
    """Estimate the part of ``text`` a listener heard when playback stopped ``fraction`` of the way in.

    The Realtime API deletes the server transcript on ``conversation.item.truncate``, and there is no
    word-level timing for assistant audio, so the heard text is estimated: speech runs at a roughly even
    pace, so the heard share of the characters is the played share of the audio. The cut then moves back
    to the start of the word it falls in, because a half-heard word was not understood.

    Args:
        text: the full transcript of the item.
        fraction: played milliseconds / generated milliseconds of the item's audio.

    Returns:
        A prefix of ``text`` ending at a word boundary, without trailing whitespace; ``""`` when nothing
        was heard and all of ``text`` (less trailing whitespace) when all of it was.
    """
    if fraction >= 1.0:
        return text.rstrip()
    if fraction <= 0.0:
        return ""
    cut = round(len(text) * fraction)
    # Back off while the cut splits a word (both neighbours are non-space).
    while 0 < cut < len(text) and not text[cut].isspace() and not text[cut - 1].isspace():
        cut -= 1
    return text[:cut].rstrip()
