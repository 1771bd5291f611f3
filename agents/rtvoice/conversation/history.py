"""The conversation so far, in the order the server's conversation holds it.

Theory of operation
-------------------
The Realtime server keeps the conversation as a linked list of items: every ``conversation.item.added``
(and ``input_audio_buffer.committed``) names the item it follows (``previous_item_id``). Transcripts, on
the other hand, arrive whenever they are ready: the user's transcript comes from a separate ASR model and
often lands *after* the assistant has already replied to it. Ordering turns by transcript arrival (what
rtvoice 0.7 did) therefore misorders them.

This history keeps two things apart:

* the **order**: a list of item ids, each inserted right after its ``previous_item_id`` (at the front
  when that is None, at the end when it is unknown). Items that never get a transcript (seed messages,
  function calls) take a place too, so that what follows them lands right; they never show as turns.
* the **content**: per item, its role, transcript and, for an interrupted assistant item, the fraction
  of its audio that was played.

:attr:`ConversationHistory.turns` walks the order and returns one :class:`ConversationTurn` per item
that has text. An interrupted item shows only its estimated heard part (:func:`heard_prefix`); one of
which nothing was heard is left out.

The history is fed by :class:`rtvoice.realtime.RealtimeProtocol`; its mutating methods are public so
that a shell or a test can feed it too, but an application normally only reads it.
"""

from __future__ import annotations

from rtvoice.conversation.turns import ConversationTurn, Role, heard_prefix

__all__ = ["ConversationHistory"]

_EMPTY = "(no conversation yet)"


class _Entry:
    __slots__ = ("heard_fraction", "placed", "role", "transcript")

    def __init__(self) -> None:
        # False while the item only sits at the end provisionally (text arrived before its position).
        self.placed = False
        self.role: Role | None = None
        self.transcript: str = ""
        self.heard_fraction: float | None = None


class ConversationHistory:
    """Turns of the conversation in conversation order (by item), not in transcript-arrival order."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._entries: dict[str, _Entry] = {}

    def place_item(self, item_id: str, previous_item_id: str | None) -> None:
        """Record where an item sits in the conversation.

        Only the first placement of an item counts (the server announces the same position in
        ``input_audio_buffer.committed``, ``conversation.item.added`` and ``conversation.item.done``).
        An item that got its text before its position moves from the end to its place.

        Args:
            item_id: the item.
            previous_item_id: the item it follows; None for the first item of the conversation. An id
                this history has not seen puts the item at the end.
        """
        entry = self._entries.get(item_id)
        if entry is None:
            entry = self._entries[item_id] = _Entry()
        elif entry.placed:
            return
        else:
            self._order.remove(item_id)
        entry.placed = True
        if previous_item_id is None:
            self._order.insert(0, item_id)
        elif previous_item_id in self._entries:
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)
        else:
            self._order.append(item_id)

    def set_transcript(self, item_id: str, role: Role, transcript: str) -> None:
        """Set the text of an item; an item not placed yet goes to the end.

        An empty transcript never replaces a non-empty one: the server clears an item's transcript when
        its audio is truncated, but the history keeps the text and cuts it itself.

        Args:
            item_id: the item.
            role: who spoke it.
            transcript: the user transcript or the assistant text.
        """
        entry = self._entry(item_id)
        entry.role = role
        if transcript or not entry.transcript:
            entry.transcript = transcript

    def mark_interrupted(self, item_id: str, heard_fraction: float) -> None:
        """Mark an assistant item as cut off, with the share of its audio that was played.

        Args:
            item_id: the assistant item.
            heard_fraction: played ms / generated ms of the item's audio (0 to 1).
        """
        entry = self._entry(item_id)
        entry.role = "assistant"
        entry.heard_fraction = heard_fraction

    def remove_item(self, item_id: str) -> None:
        """Forget an item (``conversation.item.deleted``). Unknown ids are ignored."""
        if self._entries.pop(item_id, None) is not None:
            self._order.remove(item_id)

    @property
    def turns(self) -> list[ConversationTurn]:
        """The turns so far, in conversation order; a new list on every access."""
        turns: list[ConversationTurn] = []
        for item_id in self._order:
            entry = self._entries[item_id]
            if entry.role is None:
                continue
            text = entry.transcript
            interrupted = entry.heard_fraction is not None
            if entry.heard_fraction is not None:
                text = heard_prefix(text, entry.heard_fraction)
            if text:
                turns.append(ConversationTurn(entry.role, text, item_id, interrupted))
        return turns

    def format(self) -> str:
        """Return the conversation as text, one ``[USER]: …`` / ``[ASSISTANT]: …`` line per turn.

        Interrupted assistant turns read ``[ASSISTANT, INTERRUPTED]: <the part heard>``. An empty
        conversation reads ``(no conversation yet)``.
        """
        turns = self.turns
        if not turns:
            return _EMPTY
        return "\n".join(turn.format() for turn in turns)

    def __len__(self) -> int:
        """The number of turns (items with text)."""
        return len(self.turns)

    def _entry(self, item_id: str) -> _Entry:
        entry = self._entries.get(item_id)
        if entry is None:
            entry = self._entries[item_id] = _Entry()
            self._order.append(item_id)
        return entry
