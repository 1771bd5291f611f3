"""What the carrier told us about calls (status callbacks), and the outbound calls we placed.

Both are plain bounded records, no I/O: the endpoints in :mod:`rtvoice_gateway.outbound` fill them.

* :class:`CallStatuses`: per ``CallSid``, every status callback (``initiated``, ``ringing``,
  ``in-progress``, ``completed``, ``busy``, ...) and the answering-machine verdict (``AnsweredBy``), with
  the carrier's timestamps and the time each arrived. The newest :data:`STATUSES_KEPT` calls are kept.
* :class:`OutboundPlans`: the calls ``POST /calls`` placed, by the reference in their answer URL until
  the callee answers, then by ``CallSid`` until the call ends. Bounded, and forgotten after
  :data:`PLAN_TTL_S`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from rtvoice import RealtimeAgent
from rtvoice_gateway.numbers import AgentFactory, NumberEntry

__all__ = [
    "MACHINE_ANSWERS",
    "PLAN_TTL_S",
    "STATUSES_KEPT",
    "TERMINAL_STATUSES",
    "CallStatusRecord",
    "CallStatuses",
    "MachineDetection",
    "OutboundPlan",
    "OutboundPlans",
    "StatusEvent",
    "is_machine",
]

STATUSES_KEPT: Final = 1000
"""How many calls' status records :class:`CallStatuses` keeps (oldest forgotten first)."""
PLAN_TTL_S: Final = 3600.0
"""How long a placed call's plan is kept (a call normally ends, with a final status, long before)."""
PLANS_KEPT: Final = 1000
TERMINAL_STATUSES: Final = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
"""A ``CallStatus`` after which nothing more happens on the call."""
MACHINE_ANSWERS: Final = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
"""``AnsweredBy`` values that are not a person (``human`` and ``unknown`` are the others)."""

MachineDetection = Literal["Enable", "DetectMessageEnd"]


def is_machine(answered_by: str | None) -> bool:
    """True for an ``AnsweredBy`` that is an answering machine or a fax."""
    return answered_by in MACHINE_ANSWERS


@dataclass(frozen=True)
class StatusEvent:
    """One callback from the carrier about a call."""

    status: str | None
    """``CallStatus`` (None for an answering-machine verdict, which carries only ``AnsweredBy``)."""
    received_at: float
    """Unix seconds when the gateway received it."""
    timestamp: str | None = None
    """The carrier's ``Timestamp`` (RFC 2822), if sent."""
    sequence: int | None = None
    """The carrier's ``SequenceNumber``, if sent."""
    answered_by: str | None = None
    duration_s: int | None = None
    """``CallDuration`` (on the final status)."""


@dataclass
class CallStatusRecord:
    """Everything the carrier reported about one call, in arrival order."""

    call_sid: str
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    events: list[StatusEvent] = field(default_factory=list)
    answered_by: str | None = None

    @property
    def status(self) -> str | None:
        """The latest ``CallStatus`` (by the carrier's sequence number when it sends one)."""
        with_status = [event for event in self.events if event.status is not None]
        if not with_status:
            return None
        numbered = [event for event in with_status if event.sequence is not None]
        if len(numbered) == len(with_status):
            return max(numbered, key=lambda event: event.sequence or 0).status
        return with_status[-1].status

    @property
    def statuses(self) -> list[str]:
        """Every ``CallStatus`` reported, in arrival order."""
        return [event.status for event in self.events if event.status is not None]

    @property
    def ended(self) -> bool:
        """A final status arrived."""
        return any(event.status in TERMINAL_STATUSES for event in self.events)

    @property
    def duration_s(self) -> int | None:
        """``CallDuration`` from the final status, if any."""
        return next((e.duration_s for e in reversed(self.events) if e.duration_s is not None), None)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready view (``GET /calls/{CallSid}``)."""
        return {
            "call_sid": self.call_sid,
            "status": self.status,
            "answered_by": self.answered_by,
            "direction": self.direction,
            "from": self.from_number,
            "to": self.to_number,
            "duration_s": self.duration_s,
            "events": [
                {
                    "status": event.status,
                    "answered_by": event.answered_by,
                    "timestamp": event.timestamp,
                    "sequence": event.sequence,
                    "received_at": event.received_at,
                }
                for event in self.events
            ],
        }


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


class CallStatuses:
    """Status records by ``CallSid``, newest last, at most ``kept`` calls."""

    def __init__(self, kept: int = STATUSES_KEPT) -> None:
        self._kept = kept
        self._records: OrderedDict[str, CallStatusRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, call_sid: object) -> bool:
        return call_sid in self._records

    def get(self, call_sid: str) -> CallStatusRecord | None:
        """The record of ``call_sid``, if the gateway heard of it."""
        return self._records.get(call_sid)

    def __getitem__(self, call_sid: str) -> CallStatusRecord:
        return self._records[call_sid]

    def records(self) -> list[CallStatusRecord]:
        """Every record kept, oldest first."""
        return list(self._records.values())

    def open(self, call_sid: str, **known: str | None) -> CallStatusRecord:
        """The record of ``call_sid``, created if new (``direction``, ``from_number``, ``to_number``)."""
        record = self._records.get(call_sid)
        if record is None:
            record = self._records[call_sid] = CallStatusRecord(call_sid)
            while len(self._records) > self._kept:
                self._records.popitem(last=False)
        for name, value in known.items():
            if value and getattr(record, name) is None:
                setattr(record, name, value)
        return record

    def record(self, fields: Mapping[str, str], received_at: float) -> tuple[CallStatusRecord, StatusEvent]:
        """Add one callback (the carrier's form fields; ``CallSid`` must be among them).

        Raises:
            KeyError: no ``CallSid``.
        """
        record = self.open(
            fields["CallSid"],
            direction=fields.get("Direction"),
            from_number=fields.get("From"),
            to_number=fields.get("To"),
        )
        answered_by = fields.get("AnsweredBy") or None
        event = StatusEvent(
            status=fields.get("CallStatus") or None,
            received_at=received_at,
            timestamp=fields.get("Timestamp") or None,
            sequence=_int(fields.get("SequenceNumber")),
            answered_by=answered_by,
            duration_s=_int(fields.get("CallDuration")),
        )
        record.events.append(event)
        if answered_by is not None and record.answered_by is None:
            record.answered_by = answered_by
        return record, event


@dataclass
class OutboundPlan:
    """A call ``POST /calls`` placed: what answers it once the callee picks up."""

    ref: str
    """The random reference in the answer URL (``/twilio/outbound/{ref}``)."""
    to_number: str
    from_number: str
    entry: NumberEntry
    factory: AgentFactory
    created_at: float
    machine_detection: MachineDetection | None = None
    call_sid: str | None = None
    """Set from the carrier's answer to ``Calls.create``."""
    agent: RealtimeAgent | None = None
    """The call's agent, once the callee answered."""
    machine_handled: bool = False
    ended: bool = False
    """A final status arrived."""


class OutboundPlans:
    """Placed calls by reference and by ``CallSid``; bounded, expiring after ``ttl_s``."""

    def __init__(self, *, kept: int = PLANS_KEPT, ttl_s: float = PLAN_TTL_S) -> None:
        self._kept = kept
        self._ttl_s = ttl_s
        self._by_ref: OrderedDict[str, OutboundPlan] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_ref)

    def add(self, plan: OutboundPlan, now: float) -> None:
        """Keep ``plan`` (dropping expired plans, and the oldest beyond the bound)."""
        while self._by_ref:
            oldest = next(iter(self._by_ref.values()))
            if now - oldest.created_at < self._ttl_s and len(self._by_ref) < self._kept:
                break
            self._by_ref.popitem(last=False)
        self._by_ref[plan.ref] = plan

    def by_ref(self, ref: str) -> OutboundPlan | None:
        """The plan whose answer URL carries ``ref``."""
        return self._by_ref.get(ref)

    def by_call_sid(self, call_sid: str) -> OutboundPlan | None:
        """The plan of a placed call, by the carrier's ``CallSid``."""
        return next((plan for plan in self._by_ref.values() if plan.call_sid == call_sid), None)

    def discard(self, plan: OutboundPlan) -> None:
        """Forget ``plan`` (its call ended, or placing it failed)."""
        if self._by_ref.get(plan.ref) is plan:
            del self._by_ref[plan.ref]
