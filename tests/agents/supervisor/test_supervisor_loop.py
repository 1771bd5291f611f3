"""SupervisorLoop, the pure core: chat results in, actions compared with ==."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from rtvoice.exceptions import ConfigurationError, LocalProtocolError
from rtvoice.llm import (
    AssistantMessage,
    ChatResult,
    SystemMessage,
    ToolCall,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from rtvoice.supervisor import (
    CLARIFY_TOOL,
    DONE_TOOL,
    MAX_ITERATIONS_REACHED,
    CallModel,
    Clarify,
    Done,
    Finish,
    RunTools,
    SupervisorLoop,
    SupervisorState,
    ToolOutput,
)

LOOKUP = ToolSpec("lookup", "Look up", {"type": "object", "properties": {"q": {"type": "string"}}})
BOOK = ToolSpec("book", "Book", {"type": "object", "properties": {}})
OPENING = (
    SystemMessage("Be a good supervisor."),
    UserMessage("<conversation_history>\n[USER]: a table please\n</conversation_history>"),
    UserMessage("<task>\nBook a table\n</task>"),
)


def state_of(loop: SupervisorLoop) -> SupervisorState:
    # A function call, so that mypy does not narrow the property across the steps of a test.
    return loop.state


def pending(loop: SupervisorLoop) -> tuple[str, ...]:
    return loop.pending_updates


def call(call_id: str, name: str, **arguments: object) -> ToolCall:
    return ToolCall(call_id, name, json.dumps(arguments))


def reply(*calls: ToolCall, text: str | None = None) -> ChatResult:
    return ChatResult(text=text, tool_calls=calls)


def started(max_iterations: int = 10) -> SupervisorLoop:
    loop = SupervisorLoop("Be a good supervisor.", [LOOKUP, BOOK], max_iterations)
    loop.start("Book a table", "[USER]: a table please")
    return loop


def test_start_sends_instructions_history_and_task_with_done_and_clarify() -> None:
    loop = SupervisorLoop("Be a good supervisor.", [LOOKUP, BOOK])
    assert state_of(loop) is SupervisorState.IDLE
    action = loop.start("Book a table", "[USER]: a table please")
    assert action == CallModel(OPENING, (LOOKUP, BOOK, DONE_TOOL, CLARIFY_TOOL))
    assert state_of(loop) is SupervisorState.RUNNING


def test_empty_history_reads_no_conversation_yet() -> None:
    action = SupervisorLoop("i").start("t", "")
    assert action.messages[1] == UserMessage(
        "<conversation_history>\n(no conversation yet)\n</conversation_history>"
    )


def test_a_reply_without_tool_calls_is_done() -> None:
    loop = started()
    assert loop.receive_reply(reply(text="Booked for 7 pm.")) == Finish(
        Done("Booked for 7 pm.", success=True)
    )
    assert state_of(loop) is SupervisorState.IDLE


def test_done_finishes_and_its_call_is_answered() -> None:
    loop = started()
    action = loop.receive_reply(reply(call("d1", "done", result="Booked.")))
    assert action == Finish(Done("Booked.", success=True))
    assert loop.messages[-1] == ToolMessage("d1", "Task complete.")


def test_done_can_report_failure() -> None:
    loop = started()
    action = loop.receive_reply(reply(call("d1", "done", result="Fully booked.", success=False)))
    assert action == Finish(Done("Fully booked.", success=False))


def test_tool_calls_run_then_their_results_go_back_to_the_model() -> None:
    loop = started()
    calls = (call("c1", "lookup", q="Luigi's"), call("c2", "book"))
    assert loop.receive_reply(reply(*calls, text="Checking.")) == RunTools(calls)
    action = loop.receive_tool_results([ToolOutput("open"), ToolOutput("Error: full", ok=False)])
    assert action == CallModel(
        (
            *OPENING,
            AssistantMessage("Checking.", calls),
            ToolMessage("c1", "open"),
            ToolMessage("c2", "Error: full"),
        ),
        (LOOKUP, BOOK, DONE_TOOL, CLARIFY_TOOL),
    )


def test_tools_beside_done_run_and_every_call_is_answered() -> None:
    loop = started()
    calls = (call("c1", "book"), call("d1", "done", result="Booked."), call("c2", "lookup", q="x"))
    assert loop.receive_reply(reply(*calls)) == RunTools((calls[0], calls[2]))
    action = loop.receive_tool_results([ToolOutput("ok"), ToolOutput("found")])
    assert action == Finish(Done("Booked."))
    assert loop.messages[len(OPENING) :] == (
        AssistantMessage(None, calls),
        ToolMessage("c1", "ok"),
        ToolMessage("d1", "Task complete."),
        ToolMessage("c2", "found"),
    )


def test_done_beside_a_failed_tool_is_refused_and_the_loop_goes_on() -> None:
    loop = started()
    calls = (call("c1", "book"), call("d1", "done", result="Booked!"))
    loop.receive_reply(reply(*calls))
    action = loop.receive_tool_results([ToolOutput("Error: tool 'book' failed: full", ok=False)])
    assert isinstance(action, CallModel)
    refusal = action.messages[-1]
    assert isinstance(refusal, ToolMessage) and refusal.tool_call_id == "d1"
    assert refusal.content.startswith("Not finished: 1 other tool call(s) in the same turn failed")
    assert loop.receive_reply(
        reply(call("d2", "done", result="Sorry, fully booked.", success=False))
    ) == Finish(Done("Sorry, fully booked.", success=False))


def test_tools_beside_clarify_are_answered_and_clarify_is_answered_on_resume() -> None:
    loop = started()
    calls = (call("c1", "lookup", q="Luigi's"), call("q1", "clarify", question="For how many people?"))
    assert loop.receive_reply(reply(*calls)) == RunTools((calls[0],))
    assert loop.receive_tool_results([ToolOutput("open till 11")]) == Finish(Clarify("For how many people?"))
    assert state_of(loop) is SupervisorState.WAITING_FOR_CLARIFICATION
    action = loop.resume("Four.")
    assert action.messages[len(OPENING) :] == (
        AssistantMessage(None, calls),
        ToolMessage("c1", "open till 11"),
        ToolMessage("q1", "Four."),
    )
    assert state_of(loop) is SupervisorState.RUNNING


def test_clarify_alone_finishes_without_running_tools() -> None:
    loop = started()
    assert loop.receive_reply(reply(call("q1", "clarify", question=" When? "))) == Finish(Clarify("When?"))


def test_only_the_first_terminal_call_counts_and_the_others_are_answered() -> None:
    loop = started()
    calls = (
        call("d1", "done", result="A"),
        call("q1", "clarify", question="B?"),
        call("d2", "done", result="C"),
    )
    assert loop.receive_reply(reply(*calls)) == Finish(Done("A"))
    answers = {m.tool_call_id: m.content for m in loop.messages if isinstance(m, ToolMessage)}
    assert answers["d1"] == "Task complete."
    assert (
        answers["q1"]
        == answers["d2"]
        == "Not run: only the first done() or clarify() call of a turn is handled."
    )


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (ToolCall("d1", "done", "{}"), "Error: done needs a 'result' string"),
        (ToolCall("d1", "done", "not json"), "Error: done needs a 'result' string"),
        (ToolCall("d1", "clarify", '{"question": ""}'), "Error: clarify needs a 'question' string."),
        (ToolCall("d1", "clarify", "[1]"), "Error: clarify needs a 'question' string."),
    ],
)
def test_terminal_calls_with_bad_arguments_are_answered_with_the_problem(bad: ToolCall, error: str) -> None:
    loop = started()
    action = loop.receive_reply(reply(bad))
    assert isinstance(action, CallModel)
    last = action.messages[-1]
    assert isinstance(last, ToolMessage) and last.tool_call_id == "d1" and last.content.startswith(error)


def test_a_valid_terminal_after_an_invalid_one_still_ends_the_turn() -> None:
    loop = started()
    calls = (ToolCall("d1", "done", "{}"), call("d2", "done", result="ok"))
    assert loop.receive_reply(reply(*calls)) == Finish(Done("ok"))
    answers = {m.tool_call_id: m.content for m in loop.messages if isinstance(m, ToolMessage)}
    assert answers["d1"].startswith("Error: done needs") and answers["d2"] == "Task complete."


def test_max_iterations_counts_model_calls() -> None:
    loop = started(max_iterations=2)
    loop.receive_reply(reply(call("c1", "lookup")))
    assert isinstance(loop.receive_tool_results([ToolOutput("1")]), CallModel)
    loop.receive_reply(reply(call("c2", "lookup")))
    assert loop.receive_tool_results([ToolOutput("2")]) == Finish(Done(MAX_ITERATIONS_REACHED, success=False))
    assert state_of(loop) is SupervisorState.IDLE


def test_resume_starts_the_iteration_count_again() -> None:
    loop = started(max_iterations=1)
    loop.receive_reply(reply(call("q1", "clarify", question="Time?")))
    loop.resume("8 pm")
    loop.receive_reply(reply(call("c1", "book")))
    assert loop.receive_tool_results([ToolOutput("ok")]) == Finish(
        Done(MAX_ITERATIONS_REACHED, success=False)
    )


def test_updates_are_added_before_the_next_model_call_never_inside_a_tool_turn() -> None:
    loop = started()
    loop.receive_reply(reply(call("c1", "lookup")))
    assert loop.add_update("Make it four people.")
    assert pending(loop) == ("Make it four people.",)
    action = loop.receive_tool_results([ToolOutput("found")])
    assert isinstance(action, CallModel)
    assert action.messages[-2:] == (
        ToolMessage("c1", "found"),
        UserMessage("<supervisor_update>\nMake it four people.\n</supervisor_update>"),
    )
    assert pending(loop) == ()


def test_done_with_an_unseen_update_is_refused_so_the_model_reads_it() -> None:
    loop = started()
    loop.receive_reply(reply(call("c1", "book"), call("d1", "done", result="Booked for two.")))
    loop.add_update("Four people, not two.")
    action = loop.receive_tool_results([ToolOutput("ok")])
    assert isinstance(action, CallModel)
    assert action.messages[-3:] == (
        ToolMessage("c1", "ok"),
        ToolMessage(
            "d1",
            "Not finished: the user sent an update while you were working (next message). Take it into "
            "account, then call done again.",
        ),
        UserMessage("<supervisor_update>\nFour people, not two.\n</supervisor_update>"),
    )


def test_a_text_reply_with_an_unseen_update_continues() -> None:
    loop = started()
    loop.add_update("And by the window.")  # arrives while the model is answering
    action = loop.receive_reply(reply(text="All booked."))
    assert isinstance(action, CallModel)
    assert action.messages[-2:] == (
        AssistantMessage("All booked."),
        UserMessage("<supervisor_update>\nAnd by the window.\n</supervisor_update>"),
    )


def test_update_while_waiting_is_added_after_the_answer() -> None:
    loop = started()
    loop.receive_reply(reply(call("q1", "clarify", question="Time?")))
    assert loop.add_update("Outdoor seating if possible.")
    action = loop.resume("8 pm")
    assert action.messages[-2:] == (
        ToolMessage("q1", "8 pm"),
        UserMessage("<supervisor_update>\nOutdoor seating if possible.\n</supervisor_update>"),
    )


def test_update_without_a_task_is_not_queued() -> None:
    loop = SupervisorLoop("i")
    assert not loop.add_update("hello")
    assert pending(loop) == ()


def test_cancel_clears_the_checkpoint_and_the_updates() -> None:
    loop = started()
    loop.receive_reply(reply(call("q1", "clarify", question="Time?")))
    loop.add_update("later")
    assert loop.cancel()
    assert state_of(loop) is SupervisorState.IDLE
    assert loop.messages == () and pending(loop) == ()
    with pytest.raises(LocalProtocolError, match="cannot resume while idle"):
        loop.resume("8 pm")
    assert not loop.cancel()  # nothing left to cancel
    assert isinstance(loop.start("new task"), CallModel)


def test_fail_returns_to_idle_and_keeps_the_messages_for_logs() -> None:
    loop = started()
    loop.fail()
    assert state_of(loop) is SupervisorState.IDLE
    assert loop.messages == OPENING


def test_calls_in_the_wrong_state_are_local_protocol_errors() -> None:
    loop = SupervisorLoop("i", [LOOKUP])
    with pytest.raises(LocalProtocolError):
        loop.receive_reply(reply(text="x"))
    with pytest.raises(LocalProtocolError):
        loop.receive_tool_results([])
    loop.start("t")
    with pytest.raises(LocalProtocolError, match="cannot start a task while running"):
        loop.start("again")
    loop.receive_reply(reply(call("c1", "lookup")))
    with pytest.raises(LocalProtocolError, match="expected 1 tool outputs, got 2"):
        loop.receive_tool_results([ToolOutput("a"), ToolOutput("b")])


def test_configuration_is_checked_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="reserves"):
        SupervisorLoop("i", [ToolSpec("done")])
    with pytest.raises(ConfigurationError, match="at least 1"):
        SupervisorLoop("i", max_iterations=0)


@pytest.mark.parametrize("module", ["supervisor/loop.py", "supervisor/outcome.py", "llm/messages.py"])
def test_core_modules_import_no_io_clock_or_ids(module: str) -> None:
    import rtvoice

    source = Path(rtvoice.__file__).parent / module
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            imported.add(node.module.split(".")[0])
    forbidden = {"asyncio", "time", "uuid", "random", "socket", "openai", "httpx", "starlette", "uvicorn"}
    assert imported & forbidden == set()
