"""The call board: live calls, transcripts, tools, barge-ins, latency and usage from events alone."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

from rtvoice.events import (
    AgentInterrupted,
    AgentStarting,
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
from rtvoice.usage import UsageTracker
from rtvoice_gateway.call_control import DigitPressed
from rtvoice_gateway.web import board as board_module
from rtvoice_gateway.web.board import MAX_LINES, MAX_TOOLS, CallBoard


def started(board: CallBoard, sid: str = "CA1", now: float = 100.0) -> None:
    board.call_started(sid, number="+15550100001", from_number="+15550100123", agent="bot.py:make", now=now)


def test_a_call_goes_from_live_to_finished_with_its_transcript() -> None:
    board = CallBoard()
    started(board)
    assert [call.state for call in board.live.values()] == ["connected"]
    board.agent_event("CA1", AssistantTranscript("Hello.", item_id="i1"), 101)
    board.agent_event("CA1", UserTranscript("Where is my order?", item_id="i2"), 103)
    updates = board.call_ended("CA1", ended_by="caller", recording=True, now=110)
    assert board.live == {}
    assert updates[0]["type"] == "ended"
    ended = updates[0]["call"]
    assert ended["ended_by"] == "caller" and ended["recording"] is True
    assert ended["started_at"] == 100.0 and ended["ended_at"] == 110
    assert [(line["role"], line["text"]) for line in ended["lines"]] == [
        ("agent", "Hello."),
        ("caller", "Where is my order?"),
    ]
    snapshot = board.snapshot(111)
    assert snapshot["live"] == [] and [call["call_sid"] for call in snapshot["finished"]] == ["CA1"]


def test_states_follow_speech_and_responses_and_latency_is_speech_end_to_response() -> None:
    board = CallBoard()
    started(board)
    states = []
    for event, at in [
        (UserStartedSpeaking(), 101.0),
        (UserStoppedSpeaking(), 102.0),
        (AssistantStartedResponding(), 102.25),
        (AssistantStoppedResponding(), 104.0),
    ]:
        for update in board.agent_event("CA1", event, at):
            if update["type"] == "call":
                states.append(update["call"]["state"])
            if update["type"] == "latency":
                assert update["ms"] == 250.0
    assert states == ["caller speaking", "thinking", "agent speaking", "listening"]
    assert board.live["CA1"].latencies_ms == [250.0]
    # A response the agent starts on its own (a greeting) has no latency.
    board.agent_event("CA1", AssistantStartedResponding(), 105)
    assert board.live["CA1"].latencies_ms == [250.0]


def test_deltas_build_one_line_that_the_final_transcript_replaces() -> None:
    board = CallBoard()
    started(board)
    board.agent_event("CA1", AssistantTranscriptDelta("Hel", item_id="a"), 101)
    update = board.agent_event("CA1", AssistantTranscriptDelta("lo", item_id="a"), 101.1)[0]
    assert update["line"]["text"] == "Hello" and update["line"]["partial"] is True
    board.agent_event("CA1", AssistantTranscript("Hello there.", item_id="a"), 101.5)
    lines = list(board.live["CA1"].lines.values())
    assert [(line["text"], line["partial"], line["at"]) for line in lines] == [("Hello there.", False, 101)]


def test_tools_are_shown_running_then_with_their_duration_and_barge_ins_are_counted() -> None:
    board = CallBoard()
    started(board)
    board.agent_event("CA1", ToolStarted("call1", "order_status"), 101)
    assert board.live["CA1"].state == "tool: order_status"
    assert board.live["CA1"].tools["call1"]["status"] == "running"
    update = board.agent_event(
        "CA1", ToolFinished("call1", "order_status", ok=False, error="boom", duration_s=0.5), 102
    )
    assert update[0]["tool"] == {
        "id": "call1",
        "name": "order_status",
        "status": "failed",
        "error": "boom",
        "duration_ms": 500.0,
        "started_at": 101,
    }
    board.agent_event("CA1", AgentInterrupted(item_id="x", played_ms=1200), 103)
    call = board.live["CA1"]
    assert call.barge_ins == 1
    assert list(call.lines.values())[-1]["role"] == "barge-in"


def test_usage_carries_tokens_and_the_estimated_cost() -> None:
    board = CallBoard()
    started(board)
    tracker = UsageTracker()
    usage = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "total_tokens": 1500,
        "input_token_details": {"audio_tokens": 1000},
        "output_token_details": {"audio_tokens": 500},
    }
    assert tracker.add_response("resp_1", "gpt-realtime", usage)
    report = tracker.report()
    board.agent_event("CA1", UsageUpdated(report), 101)
    shown = board.live["CA1"].usage
    assert shown["input_tokens"] == 1000 and usage["output_tokens"] == 500
    assert shown["output_tokens"] == 500 and shown["cost_complete"] is True
    assert Decimal(str(shown["cost_usd"])) == report.cost.total > 0


def test_events_of_unknown_or_finished_calls_change_nothing_and_everything_is_bounded() -> None:
    board = CallBoard(max_finished=2)
    assert board.agent_event("CA9", UserTranscript("hi"), 1) == []
    for n in range(3):
        started(board, f"CA{n}")
        board.call_ended(f"CA{n}", ended_by="caller", recording=False, now=200)
    assert list(board.finished) == ["CA1", "CA2"]
    assert board.agent_event("CA2", UserTranscript("late"), 201) == []
    assert board.call_ended("CA2", ended_by="caller", recording=False, now=202) == []
    started(board, "CA5")
    for n in range(MAX_LINES + 10):
        board.agent_event("CA5", UserTranscript(f"line {n}"), 300 + n)
    lines = list(board.live["CA5"].lines.values())
    assert len(lines) == MAX_LINES and lines[-1]["text"] == f"line {MAX_LINES + 9}"


def test_keys_pressed_in_a_row_make_one_line() -> None:
    board = CallBoard()
    started(board)
    board.agent_event("CA1", DigitPressed("4"), 101)
    board.agent_event("CA1", DigitPressed("2"), 101.5)
    board.agent_event("CA1", UserTranscript("thanks"), 102)
    board.agent_event("CA1", DigitPressed("#"), 103)
    lines = [(line["role"], line["text"]) for line in board.live["CA1"].lines.values()]
    assert lines == [("keys", "pressed 42"), ("caller", "thanks"), ("keys", "pressed #")]


def test_the_board_is_pure() -> None:
    """No I/O, event loop, clock or randomness: the shell passes ``now`` in."""
    source = Path(board_module.__file__).read_text(encoding="utf-8")
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "collections", "dataclasses", "typing", "rtvoice", "rtvoice_gateway"}, (
        roots
    )


def test_repeated_states_send_nothing_tools_are_bounded_and_odd_usage_is_ignored() -> None:
    board = CallBoard()
    started(board)
    assert len(board.agent_event("CA1", UserStartedSpeaking(), 101)) == 1
    assert board.agent_event("CA1", UserStartedSpeaking(), 101.1) == []  # no change, no update
    for n in range(MAX_TOOLS + 3):
        board.agent_event("CA1", ToolStarted(f"c{n}", "lookup"), 102 + n)
    assert list(board.live["CA1"].tools)[0] == "c3" and len(board.live["CA1"].tools) == MAX_TOOLS
    board.agent_event("CA1", UsageUpdated(object()), 200)
    assert board.live["CA1"].usage == {}
    assert board.agent_event("CA1", AgentStarting(), 200.5) == []  # nothing the board shows
    board.agent_event("CA1", AgentStopped(reason="completed"), 201)
    assert board.live["CA1"].state == "ending"


def test_a_view_shares_nothing_the_board_changes_later() -> None:
    board = CallBoard()
    started(board)
    board.agent_event("CA1", ToolStarted("c1", "lookup"), 101)
    board.agent_event("CA1", UserTranscript("hello", item_id="u1"), 101)
    snapshot = board.snapshot(102)
    board.agent_event("CA1", ToolFinished("c1", "lookup", ok=True, duration_s=0.25), 103)
    board.agent_event("CA1", AssistantTranscriptDelta("Hi", item_id="a1"), 104)
    (call,) = snapshot["live"]
    assert call["tools"][0]["status"] == "running" and [line["text"] for line in call["lines"]] == ["hello"]
