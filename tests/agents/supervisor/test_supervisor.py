"""Supervisor runs over real loopback HTTP: the real openai SDK against the Chat Completions simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from openai.types.realtime import RealtimeFunctionTool

from rtvoice.conversation import ConversationHistory
from rtvoice.event_bus import EventBus
from rtvoice.exceptions import LocalProtocolError
from rtvoice.llm import (
    AssistantMessage,
    ChatMessage,
    ChatModel,
    ChatModelError,
    ChatOpenAI,
    ChatResult,
    ChatUsage,
    SystemMessage,
    ToolCall,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from rtvoice.supervisor import (
    MAX_ITERATIONS_REACHED,
    Cancelled,
    Clarify,
    Done,
    Failed,
    Supervisor,
    SupervisorState,
)
from rtvoice.testing.chat import (
    ChatCompletionsSimulator,
    ChatReply,
    ChatRequest,
    ErrorReply,
    Reply,
    ScriptedCall,
)
from rtvoice.tools import Inject, ToolContext, Tools
from rtvoice.usage import UsageTracker

KEY = "sk-supervisor-test"
INSTRUCTIONS = "Use the tools to book tables. Call done() when finished."
OPENING = [
    {"role": "system", "content": INSTRUCTIONS},
    {"role": "user", "content": "<conversation_history>\n(no conversation yet)\n</conversation_history>"},
    {"role": "user", "content": "<task>\nBook Luigi's tonight\n</task>"},
]


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@dataclass
class Restaurant:
    name: str


class Booking:
    """The application's tools, recording what ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.tools = Tools()

        @self.tools.action("Check availability at a restaurant")
        async def check_availability(restaurant: str, time: str) -> str:
            self.ran.append(f"check {restaurant} {time}")
            return f"{restaurant} has tables at {time}."

        @self.tools.action("Book a restaurant table")
        async def book_table(restaurant: str, time: str, party_size: int) -> str:
            self.ran.append(f"book {restaurant} {time} {party_size}")
            if party_size > 8:
                raise ValueError("parties above 8 must call the restaurant")
            return f"Booked {party_size} at {restaurant}, {time}."


def call(name: str, call_id: str, **arguments: Any) -> ScriptedCall:
    return ScriptedCall(name, arguments, id=call_id)


def assistant(*calls: tuple[str, str, dict[str, Any]], content: str | None = None) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, n, a in calls
        ],
    }


def tool(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


@asynccontextmanager
async def serving(
    script: Sequence[Reply] | Any, **kwargs: Any
) -> AsyncIterator[tuple[ChatCompletionsSimulator, ChatOpenAI]]:
    async with ChatCompletionsSimulator(script, api_key=KEY, **kwargs) as sim:
        async with ChatOpenAI(api_key=KEY, base_url=sim.base_url, max_retries=0) as llm:
            yield sim, llm


def supervisor(llm: ChatOpenAI, booking: Booking | None = None, **kwargs: Any) -> Supervisor:
    return Supervisor(
        description="Books restaurant tables.",
        instructions=INSTRUCTIONS,
        llm=llm,
        tools=booking.tools if booking is not None else None,
        **kwargs,
    )


def llm_of(sup: Supervisor) -> object:
    return sup.llm


def state_of(sup: Supervisor) -> SupervisorState:
    return sup.state  # through a call, so mypy does not narrow the property between steps


async def test_done_after_a_tool_round() -> None:
    booking = Booking()
    script = [
        ChatReply(tool_calls=[call("book_table", "c1", restaurant="Luigi's", time="20:00", party_size=2)]),
        ChatReply(tool_calls=[call("done", "d1", result="Booked 2 at Luigi's, 20:00.")]),
    ]
    async with serving(script) as (sim, llm):
        sup = supervisor(llm, booking)
        outcome = await sup.run("Book Luigi's tonight")
    assert outcome == Done("Booked 2 at Luigi's, 20:00.", success=True)
    assert booking.ran == ["book Luigi's 20:00 2"]
    assert state_of(sup) is SupervisorState.IDLE
    assert sim.requests[0].messages == OPENING
    assert sim.requests[0].tool_names == ["check_availability", "book_table", "done", "clarify"]
    assert sim.requests[1].messages[3:] == [
        assistant(("c1", "book_table", {"restaurant": "Luigi's", "time": "20:00", "party_size": 2})),
        tool("c1", "Booked 2 at Luigi's, 20:00."),
    ]


async def test_a_text_reply_is_done() -> None:
    async with serving([ChatReply(text="Nothing to book.")]) as (_sim, llm):
        assert await supervisor(llm).run("Book Luigi's tonight") == Done("Nothing to book.", success=True)


async def test_clarify_then_resume_from_the_checkpoint_sends_the_whole_valid_history() -> None:
    booking = Booking()
    script = [
        ChatReply(
            text="Checking first.",
            tool_calls=[
                call("check_availability", "c1", restaurant="Luigi's", time="20:00"),
                call("clarify", "q1", question="For how many people?"),
            ],
        ),
        ChatReply(tool_calls=[call("book_table", "c2", restaurant="Luigi's", time="20:00", party_size=4)]),
        ChatReply(tool_calls=[call("done", "d1", result="Booked 4 at Luigi's, 20:00.")]),
    ]
    async with serving(script) as (sim, llm):
        sup = supervisor(llm, booking)
        first = await sup.run("Book Luigi's tonight")
        assert first == Clarify("For how many people?")
        assert state_of(sup) is SupervisorState.WAITING_FOR_CLARIFICATION
        assert booking.ran == ["check Luigi's 20:00"]  # the call beside clarify ran
        second = await sup.resume("Four of us.")
    assert second == Done("Booked 4 at Luigi's, 20:00.")
    assert state_of(sup) is SupervisorState.IDLE
    assert sim.rejected == []
    assert sim.requests[1].messages == [
        *OPENING,
        assistant(
            ("c1", "check_availability", {"restaurant": "Luigi's", "time": "20:00"}),
            ("q1", "clarify", {"question": "For how many people?"}),
            content="Checking first.",
        ),
        tool("c1", "Luigi's has tables at 20:00."),
        tool("q1", "Four of us."),
    ]
    assert sim.requests[2].messages[-2:] == [
        assistant(("c2", "book_table", {"restaurant": "Luigi's", "time": "20:00", "party_size": 4})),
        tool("c2", "Booked 4 at Luigi's, 20:00."),
    ]


async def test_the_0_7_history_without_the_sibling_result_is_refused_by_the_simulator() -> None:
    # rtvoice 0.7.0 resumed with only the clarify answer, leaving the call beside it unanswered.
    history_0_7: list[ChatMessage] = [
        SystemMessage(INSTRUCTIONS),
        UserMessage("<task>\nBook Luigi's tonight\n</task>"),
        AssistantMessage(
            None,
            (
                ToolCall("c1", "check_availability", "{}"),
                ToolCall("q1", "clarify", '{"question": "How many?"}'),
            ),
        ),
        ToolMessage("q1", "Four."),
    ]
    async with serving([]) as (sim, llm):
        with pytest.raises(ChatModelError, match="did not have response messages: c1") as caught:
            await llm.complete(history_0_7)
    assert caught.value.status_code == 400
    assert len(sim.rejected) == 1 and sim.requests == []


async def test_tools_beside_done_run_and_the_final_history_is_valid() -> None:
    booking = Booking()
    script = [
        ChatReply(
            tool_calls=[
                call("book_table", "c1", restaurant="Luigi's", time="20:00", party_size=2),
                call("done", "d1", result="Booked 2 at Luigi's."),
                call("check_availability", "c2", restaurant="Luigi's", time="21:00"),
            ]
        ),
        ChatReply(text="(history accepted)"),
    ]
    async with serving(script) as (sim, llm):
        sup = supervisor(llm, booking)
        assert await sup.run("Book Luigi's tonight") == Done("Booked 2 at Luigi's.")
        # Send the finished run's history once more: the API accepts it only if every call is answered.
        assert (
            await llm.complete([*sup.messages, UserMessage("Anything else?")])
        ).text == "(history accepted)"
    assert booking.ran == ["book Luigi's 20:00 2", "check Luigi's 21:00"]
    assert sim.rejected == []
    assert sim.requests[1].messages[4:7] == [
        tool("c1", "Booked 2 at Luigi's, 20:00."),
        tool("d1", "Task complete."),
        tool("c2", "Luigi's has tables at 21:00."),
    ]


async def test_a_tool_error_goes_back_to_the_model_and_done_beside_it_is_refused() -> None:
    booking = Booking()
    script = [
        ChatReply(
            tool_calls=[
                call("book_table", "c1", restaurant="Luigi's", time="20:00", party_size=12),
                call("done", "d1", result="Booked 12!"),
            ]
        ),
        ChatReply(
            tool_calls=[call("done", "d2", result="Parties above 8 must call Luigi's.", success=False)]
        ),
    ]
    async with serving(script) as (sim, llm):
        outcome = await supervisor(llm, booking).run("Book Luigi's tonight")
    assert outcome == Done("Parties above 8 must call Luigi's.", success=False)
    feedback = sim.requests[1].messages[4:]
    assert feedback[0] == tool(
        "c1", "Error: tool 'book_table' failed: ValueError: parties above 8 must call the restaurant"
    )
    assert feedback[1]["tool_call_id"] == "d1"
    assert feedback[1]["content"].startswith("Not finished: 1 other tool call(s) in the same turn failed")


async def test_max_iterations_ends_unsuccessfully() -> None:
    booking = Booking()
    looping = ChatReply(tool_calls=[ScriptedCall("check_availability", {"restaurant": "L", "time": "19:00"})])
    async with serving([looping, looping, looping]) as (sim, llm):
        outcome = await supervisor(llm, booking, max_iterations=2).run("Book Luigi's tonight")
    assert outcome == Done(MAX_ITERATIONS_REACHED, success=False)
    assert len(sim.requests) == 2


async def test_cancel_while_waiting_clears_the_checkpoint_and_updates() -> None:
    script = [
        ChatReply(tool_calls=[call("clarify", "q1", question="Which day?")]),
        ChatReply(text="Fresh start."),
    ]
    async with serving(script) as (sim, llm):
        sup = supervisor(llm)
        assert await sup.run("Book Luigi's tonight") == Clarify("Which day?")
        assert sup.update("Actually, make it lunch.")
        assert sup.cancel()
        assert state_of(sup) is SupervisorState.IDLE
        with pytest.raises(LocalProtocolError, match="no question to answer"):
            await sup.resume("Friday")
        assert not sup.update("too late")
        assert await sup.run("Book Luigi's tonight") == Done("Fresh start.")
    assert sim.requests[1].messages == OPENING  # no stale history, no stale update


async def test_cancel_during_a_model_call_ends_the_run_with_cancelled() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow(_request: ChatRequest) -> Reply:
        entered.set()
        await release.wait()
        return ChatReply(text="too late")

    async with serving(slow) as (_sim, llm):
        sup = supervisor(llm)
        running = asyncio.create_task(sup.run("Book Luigi's tonight"))
        await entered.wait()
        assert state_of(sup) is SupervisorState.RUNNING
        assert sup.cancel()
        outcome = await running
        release.set()
    assert outcome == Cancelled()
    assert state_of(sup) is SupervisorState.IDLE


async def test_cancel_during_a_tool_cancels_the_tool() -> None:
    tools = Tools()
    started = asyncio.Event()
    cancelled: list[str] = []

    @tools.action("Wait for the restaurant to answer")
    async def call_restaurant() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("call_restaurant")
            raise
        return "never"

    async with serving([ChatReply(tool_calls=[ScriptedCall("call_restaurant")])]) as (_sim, llm):
        sup = Supervisor("d", INSTRUCTIONS, llm=llm, tools=tools)
        running = asyncio.create_task(sup.run("Book Luigi's tonight"))
        await started.wait()
        sup.cancel()
        assert await running == Cancelled()
    assert cancelled == ["call_restaurant"]


async def test_cancelling_the_caller_takes_the_run_down() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow(_request: ChatRequest) -> Reply:
        entered.set()
        await release.wait()
        return ChatReply(text="late")

    async with serving(slow) as (_sim, llm):
        sup = supervisor(llm)
        running = asyncio.create_task(sup.run("Book Luigi's tonight"))
        await entered.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        release.set()
    assert state_of(sup) is SupervisorState.IDLE


async def test_updates_are_sent_as_supervisor_update_messages() -> None:
    tools = Tools()
    sup_box: list[Supervisor] = []

    @tools.action("Look up the menu")
    async def menu() -> str:
        # The user speaks while the tool runs; the agent passes it on.
        assert sup_box[0].update("We are four now.")
        return "Pizza and pasta."

    script = [ChatReply(tool_calls=[call("menu", "m1")]), ChatReply(text="Booked for four.")]
    async with serving(script) as (sim, llm):
        sup = Supervisor("d", INSTRUCTIONS, llm=llm, tools=tools)
        sup_box.append(sup)
        assert not sup.update("nothing is running")
        assert await sup.run("Book Luigi's tonight") == Done("Booked for four.")
    assert sim.requests[1].messages[-2:] == [
        tool("m1", "Pizza and pasta."),
        {"role": "user", "content": "<supervisor_update>\nWe are four now.\n</supervisor_update>"},
    ]


async def test_usage_is_recorded_for_every_model_call() -> None:
    script = [ChatReply(tool_calls=[call("clarify", "q1", question="When?")]), ChatReply(text="x" * 40)]
    async with serving(script) as (_sim, llm):
        sup = supervisor(llm)
        await sup.run("Book Luigi's tonight")
        await sup.resume("Now")
    assert len(sup.usage) == 2
    assert [u.model for u in sup.usage] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert sup.usage[1].completion_tokens == 10
    assert sup.usage[1].prompt_tokens > sup.usage[0].prompt_tokens > 0
    assert all(u.total_tokens == u.prompt_tokens + u.completion_tokens for u in sup.usage)
    ids = [u.completion_id for u in sup.usage]
    assert all(i is not None and i.startswith("chatcmpl-") for i in ids) and len(set(ids)) == 2
    # The cost-tracking path: the tracker counts each completion once, however often it is fed.
    tracker = UsageTracker()
    for _ in range(2):
        for u in sup.usage:
            assert u.completion_id is not None
            tracker.add_llm(u.completion_id, u.model, u.prompt_tokens, u.completion_tokens, u.cached_tokens)
    report = tracker.report()
    assert report.llm.output_text == sum(u.completion_tokens for u in sup.usage)
    assert len(report.records) == 2


async def test_a_failing_model_call_is_failed_and_the_supervisor_recovers() -> None:
    script = [ErrorReply(500, "The server had an error."), ChatReply(text="Recovered.")]
    async with serving(script) as (_sim, llm):
        sup = supervisor(llm)
        failed = await sup.run("Book Luigi's tonight")
        assert (
            isinstance(failed, Failed)
            and "HTTP 500" in failed.error
            and "The server had an error." in failed.error
        )
        assert state_of(sup) is SupervisorState.IDLE
        assert await sup.run("Book Luigi's tonight") == Done("Recovered.")
    assert sup.usage[0].model == "gpt-4o-mini" and len(sup.usage) == 1  # a failed call bills nothing


async def test_no_key_needed_to_construct_and_a_clear_failure_at_run() -> None:
    sup = Supervisor(description="Books tables.", instructions=INSTRUCTIONS)
    assert sup.llm is None
    outcome = await sup.run("Book Luigi's tonight")
    assert isinstance(outcome, Failed) and "OPENAI_API_KEY" in outcome.error
    assert state_of(sup) is SupervisorState.IDLE


async def test_the_default_model_is_created_at_the_first_run(monkeypatch: pytest.MonkeyPatch) -> None:
    async with ChatCompletionsSimulator([ChatReply(text="Default model here.")], api_key=KEY) as sim:
        sup = Supervisor(description="Books tables.", instructions=INSTRUCTIONS)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", sim.base_url)
        assert await sup.run("Book Luigi's tonight") == Done("Default model here.")
        default = sup.llm
        assert isinstance(default, ChatOpenAI) and default.model == "gpt-4o-mini"
        await sup.aclose()
    assert llm_of(sup) is None  # closed and dropped; a later run would create a new one
    assert sim.requests[0].model == "gpt-4o-mini"


async def test_supervisor_tools_get_the_supervisor_context_and_the_agents_injectables() -> None:
    tools = Tools()
    seen: list[object] = []

    @tools.action("Name the restaurant")
    async def which(restaurant: Inject[Restaurant], bus: Inject[EventBus]) -> str:
        seen.extend([restaurant, bus])
        return restaurant.name

    script = [ChatReply(tool_calls=[call("which", "w1")]), ChatReply(text="ok")]
    async with EventBus() as bus, serving(script) as (sim, llm):
        sup = Supervisor("d", INSTRUCTIONS, llm=llm, tools=tools, context=Restaurant("Luigi's"))
        agent_context = ToolContext(event_bus=bus, context=Restaurant("the agent's"))
        await sup.run("Book Luigi's tonight", context=agent_context)
    assert seen == [Restaurant("Luigi's"), bus]
    assert sim.requests[1].messages[-1] == tool("w1", "Luigi's")


async def test_history_comes_from_the_agents_conversation() -> None:
    history = ConversationHistory()
    history.place_item("u1", None)
    history.set_transcript("u1", "user", "A table at Luigi's, please.")
    async with serving([ChatReply(text="ok")]) as (sim, llm):
        await supervisor(llm).run("Book Luigi's tonight", context=ToolContext(conversation_history=history))
        await supervisor(llm).run("Book Luigi's tonight", history_text="[USER]: explicit")
    assert sim.requests[0].messages[1]["content"] == (
        "<conversation_history>\n[USER]: A table at Luigi's, please.\n</conversation_history>"
    )
    assert (
        sim.requests[1].messages[1]["content"]
        == "<conversation_history>\n[USER]: explicit\n</conversation_history>"
    )


async def test_run_while_running_is_refused() -> None:
    async with serving([ChatReply(tool_calls=[call("clarify", "q1", question="When?")])]) as (_sim, llm):
        sup = supervisor(llm)
        await sup.run("Book Luigi's tonight")
        with pytest.raises(LocalProtocolError, match="waiting_for_clarification"):
            await sup.run("Another task")


async def test_calls_without_a_registry_or_to_a_raising_registry_are_answered_with_errors() -> None:
    class Broken:
        def definitions(self) -> list[dict[str, Any]]:
            return [{"type": "function", "name": "flaky", "parameters": {"type": "object", "properties": {}}}]

        async def invoke(
            self,
            name: str,
            arguments_json: str,
            *,
            context: ToolContext,
            timeout: float | None,  # noqa: ASYNC109 (the registry protocol's signature)
        ) -> Any:
            raise RuntimeError("registry bug")

    script = [ChatReply(tool_calls=[call("flaky", "f1")]), ChatReply(text="ok")] * 2
    async with serving(script, allow_unknown_tools=True) as (sim, llm):
        assert await Supervisor("d", INSTRUCTIONS, llm=llm, tools=Broken()).run("t") == Done("ok")
        # No registry at all, and the model calls a tool anyway.
        assert await Supervisor("d", INSTRUCTIONS, llm=llm).run("t") == Done("ok")
    assert sim.requests[1].messages[-1] == tool(
        "f1", "Error: tool 'flaky' failed: RuntimeError: registry bug"
    )
    assert sim.requests[3].messages[-1] == tool(
        "f1", "Error: there is no tool named 'flaky'; no tools are available."
    )


class InProcessModel(ChatModel):
    """A ChatModel implemented in the test: the interface is meant for other providers."""

    def __init__(self, on_complete: Callable[[], ChatResult]) -> None:
        self.model = "in-process"
        self.on_complete = on_complete

    async def complete(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> ChatResult:
        return self.on_complete()


async def test_any_exception_from_a_custom_model_is_a_failure() -> None:
    def broken() -> ChatResult:
        raise KeyError("choices")

    sup = Supervisor("d", INSTRUCTIONS, llm=InProcessModel(broken))
    assert await sup.run("t") == Failed("KeyError: 'choices'")
    assert state_of(sup) is SupervisorState.IDLE


async def test_usage_of_a_model_without_completion_ids_gets_local_ids() -> None:
    sup = Supervisor(
        "d", INSTRUCTIONS, llm=InProcessModel(lambda: ChatResult(text="ok", usage=ChatUsage("m", 5, 1)))
    )
    await sup.run("t")
    await sup.run("t")
    ids = [u.completion_id for u in sup.usage]
    assert all(i is not None and i.startswith("chatcmpl-local-") for i in ids) and len(set(ids)) == 2
    assert sup.usage[0].prompt_tokens == 5


async def test_a_cancel_landing_after_the_last_step_still_wins() -> None:
    sup_box: list[Supervisor] = []

    def answer_then_cancel() -> ChatResult:
        # cancel() runs after the run's task has finished but before run() has returned.
        asyncio.get_running_loop().call_soon(sup_box[0].cancel)
        return ChatResult(text="Booked.")

    sup = Supervisor("d", INSTRUCTIONS, llm=InProcessModel(answer_then_cancel))
    sup_box.append(sup)
    assert await sup.run("t") == Cancelled()


async def test_aclose_leaves_a_model_passed_in_open() -> None:
    async with serving([ChatReply(text="one"), ChatReply(text="two")]) as (_sim, llm):
        sup = supervisor(llm)
        assert await sup.run("t") == Done("one")
        await sup.aclose()
        assert sup.llm is llm
        assert (await llm.complete([UserMessage("still open?")])).text == "two"


def test_tool_definition_is_a_valid_realtime_function_tool() -> None:
    sup = Supervisor(
        description="Books restaurant tables.", instructions="i", handoff_instructions="Pass all details."
    )
    definition = sup.tool_definition()
    tool_model = RealtimeFunctionTool.model_validate(definition)
    assert tool_model.name == "supervisor"
    assert tool_model.description == "Books restaurant tables.\n\nHandoff instructions: Pass all details."
    assert definition["parameters"]["required"] == ["task"]
    assert set(definition["parameters"]["properties"]) == {"task", "clarification_answer"}
    default = Supervisor(description="D", instructions="i").tool_definition()["description"]
    assert default.startswith("D\n\nHandoff instructions: ") and "clarification_answer" in default
