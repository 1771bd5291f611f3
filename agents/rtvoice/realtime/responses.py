"""One response at a time: the ledger of active, pending and queued responses.

Theory of operation
-------------------
The server runs one response per conversation; a ``response.create`` sent while one is active is
refused with ``conversation_already_has_active_response`` (rtvoice 0.7 raced into this after every tool
call). The ledger therefore lets a ``response.create`` out only when nothing is active:

* **pending**: we sent ``response.create`` and its ``response.created`` has not arrived;
* **open**: a ``response.created`` arrived (ours, or one the server's VAD started on its own) and its
  ``response.done`` has not;
* **queued**: requests that wait; the next goes out when the last open response is done. Equal requests
  coalesce, and the queue is bounded (:data:`MAX_QUEUED_RESPONSES`).

Every ``response.create`` carries an ``event_id``. The next ``response.created`` is taken to answer the
pending one, but it may really have been the VAD's, in which case the server refuses ours with an error
naming that ``event_id``: the request is then *unconfirmed* until its response is done, so that such a
refusal puts it back at the front of the queue rather than losing it.

An open response is **interrupted** once the user barged in on it (the server or we cancel it): its
remaining output is dropped. A pending one that should be cancelled gets ``response.cancel`` as soon as
its id is known.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable

from openai.types.realtime import RealtimeResponseCreateParams, ResponseCreateEvent

from rtvoice.exceptions import LocalProtocolError

__all__ = ["MAX_QUEUED_RESPONSES", "OpenResponse", "ResponseLedger", "counter_ids"]

MAX_QUEUED_RESPONSES = 8
"""Requests waiting for the active response to finish; more means a caller is looping."""


def counter_ids(prefix: str = "rtvoice_") -> Callable[[], str]:
    """Return a factory of ids ``<prefix>1``, ``<prefix>2``, … (unique within a session)."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


class OpenResponse:
    """A response between ``response.created`` and ``response.done``."""

    __slots__ = ("create_event_id", "interrupted", "response_id")

    def __init__(self, response_id: str, create_event_id: str | None) -> None:
        self.response_id = response_id
        self.create_event_id = create_event_id  # our response.create it is taken to answer
        self.interrupted = False


class _Pending:
    __slots__ = ("cancel_requested", "event_id")

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        self.cancel_requested = False


class ResponseLedger:
    """Active, pending and queued responses of one session (see the module docstring).

    Args:
        new_id: returns a fresh ``event_id`` for each ``response.create``.
    """

    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self._open: dict[str, OpenResponse] = {}
        self._pending: _Pending | None = None
        self._unconfirmed: dict[str, RealtimeResponseCreateParams | None] = {}
        self._queue: deque[RealtimeResponseCreateParams | None] = deque()

    @property
    def active(self) -> bool:
        """True while a response is pending or open."""
        return bool(self._open) or self._pending is not None

    @property
    def any_live(self) -> bool:
        """True while an open response is not interrupted (it may still produce audio)."""
        return any(not response.interrupted for response in self._open.values())

    @property
    def queued(self) -> int:
        """Requests waiting."""
        return len(self._queue)

    def get(self, response_id: str) -> OpenResponse | None:
        """The open response ``response_id``, if it is open."""
        return self._open.get(response_id)

    def is_live(self, response_id: str) -> bool:
        """True when ``response_id`` is open and not interrupted."""
        response = self._open.get(response_id)
        return response is not None and not response.interrupted

    def request(
        self, params: RealtimeResponseCreateParams | None, *, ready: bool
    ) -> ResponseCreateEvent | None:
        """Return the ``response.create`` to send now, or queue the request (None).

        Raises:
            LocalProtocolError: the queue is full.
        """
        if ready and not self.active:
            return self._create(params)
        if params not in self._queue:
            if len(self._queue) >= MAX_QUEUED_RESPONSES:
                raise LocalProtocolError(f"{MAX_QUEUED_RESPONSES} responses already queued")
            self._queue.append(params)
        return None

    def flush(self, *, ready: bool) -> ResponseCreateEvent | None:
        """Return the next queued ``response.create`` when it may go out now."""
        if self._queue and ready and not self.active:
            return self._create(self._queue.popleft())
        return None

    def _create(self, params: RealtimeResponseCreateParams | None) -> ResponseCreateEvent:
        event_id = self._new_id()
        self._pending = _Pending(event_id)
        self._unconfirmed[event_id] = params
        if params is None:
            return ResponseCreateEvent(type="response.create", event_id=event_id)
        return ResponseCreateEvent(type="response.create", event_id=event_id, response=params)

    def created(self, response_id: str) -> OpenResponse:
        """Open ``response_id``; it answers the pending request, if any.

        Returns:
            The open response, already ``interrupted`` when its request was cancelled while pending
            (the caller then sends ``response.cancel`` for it).
        """
        pending, self._pending = self._pending, None
        response = OpenResponse(response_id, pending.event_id if pending is not None else None)
        response.interrupted = pending is not None and pending.cancel_requested
        self._open[response_id] = response
        return response

    def done(self, response_id: str) -> None:
        """Close ``response_id`` (``response.done``); unknown ids are ignored."""
        response = self._open.pop(response_id, None)
        if response is not None and response.create_event_id is not None:
            self._unconfirmed.pop(response.create_event_id, None)

    def server_interrupted(self) -> None:
        """Mark every open response interrupted: the server cancels them itself (``interrupt_response``).

        A pending request is left alone: the server has not started it, so its VAD does not cancel it.
        """
        for response in self._open.values():
            response.interrupted = True

    def interrupt_all(self) -> list[str]:
        """Mark every open response interrupted and a pending one for cancellation.

        Returns:
            The ids of the responses that were not interrupted before: the ones to send
            ``response.cancel`` for, unless the server cancels them itself.
        """
        newly = [response.response_id for response in self._open.values() if not response.interrupted]
        for response in self._open.values():
            response.interrupted = True
        if self._pending is not None:
            self._pending.cancel_requested = True
        return newly

    def failed(self, event_id: str, *, refused: bool) -> bool:
        """Handle an ``error`` naming one of our ``response.create`` events.

        Args:
            event_id: ``error.event_id``.
            refused: the error is ``conversation_already_has_active_response``: the request goes back to
                the front of the queue. Other failures drop it.

        Returns:
            True when ``event_id`` was one of our unconfirmed requests.
        """
        if event_id not in self._unconfirmed:
            return False
        params = self._unconfirmed.pop(event_id)
        if self._pending is not None and self._pending.event_id == event_id:
            self._pending = None
        for response in self._open.values():  # the response.created we took for ours was the server's
            if response.create_event_id == event_id:
                response.create_event_id = None
        if refused:
            self._queue.appendleft(params)
        return True
