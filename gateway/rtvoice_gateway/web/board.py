"""The call board: what the dashboard shows, built from call events alone (no I/O, no clock of its own).

:class:`CallBoard` keeps the live calls and the most recent finished ones. The HTTP shell feeds it three
kinds of input, each with the wall-clock time it happened (``now``, Unix seconds):

* :meth:`CallBoard.call_started` when a media stream is accepted;
* :meth:`CallBoard.agent_event` for each event on the call's agent event bus (transcripts, speech,
  responses, tools, barge-ins, usage, and the keys the caller presses);
* :meth:`CallBoard.call_ended` when the call is over.

Each returns the updates to broadcast (JSON-ready dicts, see :data:`UPDATE_TYPES`); :meth:`CallBoard.snapshot`
is the whole board for a subscriber that just arrived or fell behind. Everything kept is bounded: the
transcript, the tool calls and the latencies of each call, and the finished calls. A view shares no
mutable object with the board (lines are replaced, never changed), so it can be serialised off the loop.

Per-turn latency is the time from the caller's end of speech (``UserStoppedSpeaking``) to the start of
the agent's response (``AssistantStartedResponding``), as the gateway saw the two events.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from rtvoice.events import (
    AgentEvent,
    AgentInterrupted,
    AgentStopped,
    AssistantStartedResponding,
    AssistantStoppedResponding,
    AssistantTranscript,
    AssistantTranscriptDelta,
    ToolFinished,
    ToolStarted,
    UsageUpdated,
    UserStartedSpeaking,
    UserStoppedSpeaking,
    UserTranscript,
)
from rtvoice.usage import UsageReport
from rtvoice_gateway.call_control import DigitPressed

__all__ = ["UPDATE_TYPES", "BoardCall", "CallBoard", "Update"]

Update = dict[str, Any]
"""One message for the dashboard's subscribers (``{"type": ..., ...}``)."""

#: The update types: ``snapshot`` (the whole board), ``call`` (a live call's header: state, usage...),
#: ``line`` (a transcript line, inserted or replaced by ``id``), ``tool`` (a tool call, by ``id``),
#: ``latency`` (one turn's latency), ``ended`` (a call moved to the finished list).
UPDATE_TYPES = ("snapshot", "call", "line", "tool", "latency", "ended")

#: Transcript lines kept per call (the oldest go first).
MAX_LINES = 200
#: Characters kept of one transcript line.
MAX_LINE_CHARS = 1000
#: Tool calls and latencies kept per call.
MAX_TOOLS = 50
MAX_LATENCIES = 100
#: Finished calls kept.
MAX_FINISHED = 100


@dataclass
class BoardCall:
    """One call on the board."""

    call_sid: str
    number: str
    from_number: str
    agent: str
    started_at: float
    state: str = "connected"
    ended_at: float | None = None
    ended_by: str | None = None
    recording: bool = False
    barge_ins: int = 0
    lines: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    tools: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    latencies_ms: list[float] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    _next_line: int = 0
    _speech_ended_at: float | None = None

    def header(self) -> dict[str, Any]:
        """The call without its transcript, tools and latencies."""
        return {
            "call_sid": self.call_sid,
            "number": self.number,
            "from": self.from_number,
            "agent": self.agent,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "ended_by": self.ended_by,
            "state": self.state,
            "recording": self.recording,
            "barge_ins": self.barge_ins,
            "usage": self.usage,
        }

    def view(self) -> dict[str, Any]:
        """The whole call."""
        return {
            **self.header(),
            "lines": list(self.lines.values()),
            "tools": [
                dict(tool) for tool in self.tools.values()
            ],  # copies: a tool's entry is updated in place
            "latencies_ms": list(self.latencies_ms),
        }


class CallBoard:
    """Live and finished calls (see the module docstring)."""

    def __init__(self, *, max_finished: int = MAX_FINISHED) -> None:
        self.live: dict[str, BoardCall] = {}
        self.finished: OrderedDict[str, BoardCall] = OrderedDict()
        self.max_finished = max_finished

    def snapshot(self, now: float) -> Update:
        """The whole board (newest finished call first)."""
        return {
            "type": "snapshot",
            "now": now,
            "live": [call.view() for call in self.live.values()],
            "finished": [call.view() for call in reversed(self.finished.values())],
        }

    def call_started(
        self, call_sid: str, *, number: str, from_number: str, agent: str, now: float
    ) -> list[Update]:
        """A media stream was accepted for ``call_sid``."""
        call = BoardCall(call_sid, number, from_number, agent, started_at=now)
        self.live[call_sid] = call
        return [{"type": "call", "now": now, "call": call.view()}]

    def call_ended(self, call_sid: str, *, ended_by: str, recording: bool, now: float) -> list[Update]:
        """The call is over; it moves to the finished calls (the oldest is forgotten past the limit)."""
        call = self.live.pop(call_sid, None)
        if call is None:
            return []
        call.state, call.ended_at, call.ended_by, call.recording = "ended", now, ended_by, recording
        call._speech_ended_at = None
        self.finished[call_sid] = call
        while len(self.finished) > self.max_finished:
            self.finished.popitem(last=False)
        return [{"type": "ended", "now": now, "call": call.view()}]

    def agent_event(self, call_sid: str, event: AgentEvent | DigitPressed, now: float) -> list[Update]:
        """One event from the call's agent; events of unknown or finished calls are ignored."""
        call = self.live.get(call_sid)
        if call is None:
            return []
        updates: list[Update] = []
        if isinstance(event, UserStartedSpeaking):
            updates += self._state(call, "caller speaking", now)
        elif isinstance(event, UserStoppedSpeaking):
            call._speech_ended_at = now
            updates += self._state(call, "thinking", now)
        elif isinstance(event, AssistantStartedResponding):
            if call._speech_ended_at is not None:
                ms = round((now - call._speech_ended_at) * 1000, 1)
                call._speech_ended_at = None
                call.latencies_ms.append(ms)
                del call.latencies_ms[:-MAX_LATENCIES]
                updates.append({"type": "latency", "now": now, "call_sid": call_sid, "ms": ms})
            updates += self._state(call, "agent speaking", now)
        elif isinstance(event, AssistantStoppedResponding):
            updates += self._state(call, "listening", now)
        elif isinstance(event, UserTranscript):
            updates.append(self._line(call, "caller", event.transcript, event.item_id, now))
        elif isinstance(event, AssistantTranscriptDelta):
            key = f"agent:{event.item_id}" if event.item_id else None
            so_far = call.lines[key]["text"] if key is not None and key in call.lines else ""
            text = so_far + event.delta
            updates.append(self._line(call, "agent", text, key, now, partial=True))
        elif isinstance(event, AssistantTranscript):
            key = f"agent:{event.item_id}" if event.item_id else None
            updates.append(self._line(call, "agent", event.transcript, key, now))
        elif isinstance(event, AgentInterrupted):
            call.barge_ins += 1
            updates.append(
                self._line(call, "barge-in", f"caller interrupted at {event.played_ms} ms", None, now)
            )
            updates.append(self._header(call, now))
        elif isinstance(event, ToolStarted):
            updates += self._tool(call, event.call_id, now, name=event.name, status="running", started_at=now)
            updates += self._state(call, f"tool: {event.name}", now)
        elif isinstance(event, ToolFinished):
            updates += self._tool(
                call,
                event.call_id,
                now,
                name=event.name,
                status="ok" if event.ok else "failed",
                error=event.error,
                duration_ms=round(event.duration_s * 1000, 1),
            )
        elif isinstance(event, UsageUpdated):
            call.usage = _usage(event.report)
            updates.append(self._header(call, now))
        elif isinstance(event, DigitPressed):  # keys pressed in a row make one line
            last = next(reversed(call.lines.values()), None)
            if last is not None and last["role"] == "keys":
                updates.append(self._line(call, "keys", last["text"] + event.digit, last["id"], now))
            else:
                updates.append(self._line(call, "keys", f"pressed {event.digit}", None, now))
        elif isinstance(event, AgentStopped):
            updates += self._state(call, "ending", now)
        return updates

    # -- helpers ------------------------------------------------------------------------------------------

    @staticmethod
    def _header(call: BoardCall, now: float) -> Update:
        return {"type": "call", "now": now, "call": call.header()}

    def _state(self, call: BoardCall, state: str, now: float) -> list[Update]:
        if call.state == state:
            return []
        call.state = state
        return [self._header(call, now)]

    @staticmethod
    def _line(
        call: BoardCall, role: str, text: str, key: str | None, now: float, *, partial: bool = False
    ) -> Update:
        if key is None or key not in call.lines:
            key = key or f"line:{call._next_line}"
            call._next_line += 1
            at = now
        else:
            at = call.lines[key]["at"]
        line = {"id": key, "role": role, "text": text[:MAX_LINE_CHARS], "at": at, "partial": partial}
        call.lines[key] = line
        while len(call.lines) > MAX_LINES:
            call.lines.popitem(last=False)
        return {"type": "line", "now": now, "call_sid": call.call_sid, "line": line}

    @staticmethod
    def _tool(call: BoardCall, call_id: str, now: float, **values: Any) -> list[Update]:
        tool = call.tools.setdefault(call_id, {"id": call_id, "duration_ms": None, "error": None})
        tool.update(values)
        while len(call.tools) > MAX_TOOLS:
            call.tools.popitem(last=False)
        return [{"type": "tool", "now": now, "call_sid": call.call_sid, "tool": dict(tool)}]


def _usage(report: object) -> dict[str, Any]:
    """Tokens and estimated cost from a :class:`~rtvoice.usage.UsageReport` (anything else: nothing)."""
    if not isinstance(report, UsageReport):
        return {}
    return {
        "input_tokens": report.total.input_tokens,
        "output_tokens": report.total.output_tokens,
        "cost_usd": float(report.cost.total),
        "cost_complete": report.cost.is_complete,
    }
