"""Function calls: collecting them per response, and batching their outputs into one follow-up.

Calls are reported (:class:`~rtvoice.realtime.ToolCall`) at their response's ``response.done``, once per
``call_id``, and only when the response *completed*. Why not as soon as the arguments are done: a call
only stands once its response completed, and a response cancelled by the user's barge-in ("no, wait")
must not book, hang up or transfer anything. Calls of a response that was cancelled, failed or ended
incomplete are not run; each gets a ``function_call_output`` saying so (placed right after the call
item), so that the conversation never holds a call without an output (the model would otherwise wait
~30 s for one), and no ``response.create`` follows (the user's new turn brings its own response).

A call is seen twice: as ``response.function_call_arguments.done`` while the response streams, and as
a ``function_call`` item in ``response.done``'s output. :class:`CallBook` keeps one record per
``call_id`` (whichever comes first), so each call is reported once.

The calls of one response form a **batch**. Each output is sent as soon as it is given
(``conversation.item.create`` may go out while another response is active), but the follow-up
``response.create`` waits until the batch is complete: one model turn for all the results, instead of
one racing ``response.create`` per tool (rtvoice 0.7's behaviour). It goes through the same queue as
every other response.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openai.types.realtime import RealtimeResponseCreateParams

from rtvoice.exceptions import LocalProtocolError

__all__ = ["Batch", "Call", "CallBook"]


@dataclass(frozen=True, slots=True)
class Call:
    """One function call the model made."""

    call_id: str
    name: str
    arguments: str
    item_id: str


@dataclass(slots=True)
class Batch:
    """The outstanding calls of one response and what their follow-up should be."""

    response_id: str
    pending: set[str]
    respond: bool = False
    follow_up: RealtimeResponseCreateParams | None = field(default=None)


class CallBook:
    """Calls per response while it streams, then batches of outstanding calls."""

    def __init__(self) -> None:
        self._streaming: dict[str, dict[str, Call]] = {}
        self._outstanding: dict[str, Batch] = {}

    def record(self, response_id: str, call: Call) -> None:
        """Note a call seen in ``response_id``; a second sighting of the same ``call_id`` is ignored."""
        calls = self._streaming.setdefault(response_id, {})
        calls.setdefault(call.call_id, call)

    def take(self, response_id: str) -> list[Call]:
        """Return (and forget) the calls seen in a finished response, in the order first seen."""
        return list(self._streaming.pop(response_id, {}).values())

    def open_batch(self, response_id: str, calls: list[Call]) -> None:
        """Start waiting for the outputs of ``calls`` (non-empty)."""
        batch = Batch(response_id, {call.call_id for call in calls})
        for call in calls:
            self._outstanding[call.call_id] = batch

    def answer(
        self, call_id: str, *, respond: bool, follow_up: RealtimeResponseCreateParams | None
    ) -> Batch | None:
        """Record the output of ``call_id``.

        Returns:
            The batch when this was its last outstanding call, else None.

        Raises:
            LocalProtocolError: ``call_id`` is not an outstanding call (unknown, or answered already).
        """
        batch = self._outstanding.pop(call_id, None)
        if batch is None:
            raise LocalProtocolError(f"no outstanding function call {call_id!r}")
        batch.pending.discard(call_id)
        batch.respond = batch.respond or respond
        if batch.follow_up is None:
            batch.follow_up = follow_up
        return None if batch.pending else batch

    @property
    def outstanding(self) -> frozenset[str]:
        """The call ids still waiting for an output."""
        return frozenset(self._outstanding)
