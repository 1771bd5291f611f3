"""The agent-facing texts: an output for every ending, and what each supervisor call means."""

from __future__ import annotations

import json

import pytest
from openai.types.realtime import RealtimeFunctionTool

from rtvoice.supervisor import (
    CANCEL_TOOL_NAME,
    CANCELLED,
    CLARIFICATION_NEEDED,
    REQUEST_IN_PROGRESS,
    UPDATE_TOOL_NAME,
    WAITING_FOR_ANSWER,
    Cancelled,
    Clarify,
    Done,
    Failed,
    Reply,
    Resume,
    Start,
    SupervisorOutcome,
    SupervisorState,
    clarify_instructions,
    control_tool_definitions,
    outcome_output,
    route_call,
)

IDLE = SupervisorState.IDLE
RUNNING = SupervisorState.RUNNING
WAITING = SupervisorState.WAITING_FOR_CLARIFICATION


def test_the_texts_are_rtvoice_0_7s() -> None:
    assert REQUEST_IN_PROGRESS == "Request already in progress."
    assert WAITING_FOR_ANSWER == "Cannot continue yet. Still waiting for the user's clarification answer."
    assert CLARIFICATION_NEEDED == "Clarification needed before completing this task."


@pytest.mark.parametrize(
    ("outcome", "output"),
    [
        (Done("Booked for 4 at 8 pm.", True), '{"message": "Booked for 4 at 8 pm.", "success": true}'),
        (Done("Max iterations reached.", False), '{"message": "Max iterations reached.", "success": false}'),
        (Done("Café 🙂"), '{"message": "Café 🙂", "success": true}'),
        (Clarify("How many?"), CLARIFICATION_NEEDED),
        (Failed("HTTP 500"), "Supervisor task failed: HTTP 500"),
        (Cancelled(), CANCELLED),
    ],
)
def test_every_ending_has_an_output(outcome: SupervisorOutcome, output: str) -> None:
    assert outcome_output(outcome) == output


def test_done_output_is_json_with_message_and_success() -> None:
    assert json.loads(outcome_output(Done('He said "yes"', False))) == {
        "message": 'He said "yes"',
        "success": False,
    }


def test_clarify_instructions_carry_the_question_and_the_way_back() -> None:
    text = clarify_instructions("For how many people?")
    assert "For how many people?" in text and "clarification_answer" in text


@pytest.mark.parametrize(
    ("state", "arguments", "expected"),
    [
        (IDLE, '{"task": " Book a table "}', Start("Book a table")),
        (IDLE, '{"task": "Book", "clarification_answer": "4"}', Start("Book\n\nThe user also said: 4")),
        (IDLE, '{"task": ""}', Reply("Error: the supervisor needs a 'task': describe what it should do.")),
        (IDLE, "{}", Reply("Error: the supervisor needs a 'task': describe what it should do.")),
        (IDLE, None, Reply("Error: the supervisor needs a 'task': describe what it should do.")),
        (IDLE, "[]", Reply("Error: the supervisor arguments must be a JSON object with a 'task' string.")),
        (RUNNING, '{"task": "Book"}', Reply(REQUEST_IN_PROGRESS)),
        (RUNNING, '{"task": "Book", "clarification_answer": "4"}', Reply(REQUEST_IN_PROGRESS)),
        (WAITING, '{"task": "Book"}', Reply(WAITING_FOR_ANSWER)),
        (WAITING, '{"task": "Book", "clarification_answer": "  "}', Reply(WAITING_FOR_ANSWER)),
        (WAITING, '{"task": "Book", "clarification_answer": " Four "}', Resume("Four")),
        (WAITING, '{"clarification_answer": "Four"}', Resume("Four")),
    ],
)
def test_route_call(state: SupervisorState, arguments: str | None, expected: Start | Resume | Reply) -> None:
    assert route_call(state, arguments) == expected


def test_route_call_reports_bad_json() -> None:
    routed = route_call(IDLE, '{"task": ')
    assert isinstance(routed, Reply) and routed.output.startswith(
        "Error: the supervisor arguments are not valid JSON"
    )


def test_control_tools_are_valid_realtime_function_tools() -> None:
    tools = [RealtimeFunctionTool.model_validate(d) for d in control_tool_definitions()]
    assert (
        [t.name for t in tools]
        == [CANCEL_TOOL_NAME, UPDATE_TOOL_NAME]
        == ["cancel_supervisor", "update_supervisor"]
    )
    assert control_tool_definitions()[1]["parameters"]["required"] == ["message"]
