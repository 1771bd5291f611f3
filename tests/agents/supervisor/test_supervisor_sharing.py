"""One Supervisor shared by concurrent conversations: each SupervisorSession keeps its own state and usage.

The gateway builds a ``Supervisor`` once and hands it to every call, so these tests run several sessions
of one supervisor at the same time over real loopback HTTP (the Chat Completions simulator), staged with
events: both chat calls are in flight together before either is answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from rtvoice.exceptions import LocalProtocolError
from rtvoice.llm import ChatOpenAI, ChatUsage
from rtvoice.supervisor import Cancelled, Clarify, Done, Supervisor, SupervisorSession, SupervisorState
from rtvoice.testing.chat import ChatCompletionsSimulator, ChatReply, ChatRequest, Reply, ScriptedCall
from rtvoice.tools import Tools
from rtvoice.usage import UsageTracker

KEY = "sk-sharing-test"
INSTRUCTIONS = "Book tables. Call done() when finished."


@pytest.fixture(autouse=True)
def default_model_reaches_nothing_real(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def task_of(request: ChatRequest) -> str:
    return str(request.messages[2]["content"])


def counter(tracker: UsageTracker) -> Callable[[ChatUsage], None]:
    def count(usage: ChatUsage) -> None:
        assert usage.completion_id is not None
        tracker.add_llm(
            usage.completion_id,
            usage.model,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
        )

    return count


async def test_concurrent_sessions_keep_their_own_checkpoint_and_usage_and_one_closing_spares_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tools = Tools()
    booked: list[str] = []

    @tools.action("Book a restaurant table")
    async def book_table(restaurant: str) -> str:
        booked.append(restaurant)
        return f"Booked {restaurant}."

    openings: list[str] = []
    both_in_flight = asyncio.Event()
    resume_arrived = asyncio.Event()
    release_resume = asyncio.Event()

    async def brain(request: ChatRequest) -> Reply:
        task = task_of(request)
        if len(request.messages) == 3:  # an opening request: hold it until the other one is in flight too
            openings.append(task)
            if len(openings) == 2:
                both_in_flight.set()
            await both_in_flight.wait()
            if "Luigi" in task:
                return ChatReply(tool_calls=[ScriptedCall("clarify", {"question": "For how many people?"})])
            return ChatReply(tool_calls=[ScriptedCall("book_table", {"restaurant": "Noma"})])
        if "Noma" in task:
            return ChatReply(text="Noma is booked." + " Enjoy your dinner at Noma, it is lovely." * 10)
        resume_arrived.set()
        await release_resume.wait()  # Luigi's resumed call is in flight while Noma's session closes
        return ChatReply(text="Luigi's is booked for four.")

    async with ChatCompletionsSimulator(brain, api_key=KEY) as sim:
        # The default model: the supervisor creates and owns it, and every session shares it.
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", sim.base_url)
        sup = Supervisor("Books tables.", INSTRUCTIONS, tools=tools)
        luigi_usage, noma_usage = UsageTracker(), UsageTracker()
        luigi = sup.session(on_usage=counter(luigi_usage))
        noma = sup.session(on_usage=counter(noma_usage))
        async with asyncio.TaskGroup() as tasks:
            first = tasks.create_task(luigi.run("Book Luigi's tonight"))
            second = tasks.create_task(noma.run("Book Noma tonight"))
        assert sorted(openings) == [
            "<task>\nBook Luigi's tonight\n</task>",
            "<task>\nBook Noma tonight\n</task>",
        ]
        assert first.result() == Clarify("For how many people?")
        assert second.result() == Done("Noma is booked." + " Enjoy your dinner at Noma, it is lovely." * 10)
        # Each session has its own checkpoint: Noma's finishing did not touch Luigi's question.
        assert (luigi.state, noma.state) == (SupervisorState.WAITING_FOR_CLARIFICATION, SupervisorState.IDLE)
        assert sup.state is SupervisorState.IDLE  # the single-session shortcut is a third, untouched one
        with pytest.raises(LocalProtocolError, match="no question to answer"):
            await noma.resume("Four")

        model = sup.llm
        resumed = asyncio.create_task(luigi.resume("Four of us."))
        await resume_arrived.wait()
        await noma.aclose()  # one call ends while the other's chat request is in flight
        release_resume.set()
        assert await resumed == Done("Luigi's is booked for four.")
        assert sup.llm is model and isinstance(model, ChatOpenAI)  # not closed, not replaced
        await luigi.aclose()
        await sup.aclose()  # the owner closes the shared default model
        assert sup.llm is None
    assert booked == ["Noma"]
    # Usage landed on the session that made the call, and only there.
    assert len(luigi.usage) == 2 and len(noma.usage) == 2
    luigi_ids = {u.completion_id for u in luigi.usage}
    noma_ids = {u.completion_id for u in noma.usage}
    assert not luigi_ids & noma_ids
    assert {r.id for r in luigi_usage.report().records} == luigi_ids
    assert {r.id for r in noma_usage.report().records} == noma_ids
    assert noma_usage.report().llm.output_text == sum(u.completion_tokens for u in noma.usage)
    assert noma_usage.report().llm.output_text > luigi_usage.report().llm.output_text
    # Luigi's resumed request carries its own history: its clarify call answered, nothing of Noma's.
    resumed_request = next(r for r in sim.requests if "Luigi" in task_of(r) and len(r.messages) > 3)
    assert "Noma" not in str(resumed_request.messages)
    assert resumed_request.messages[-1] == {
        "role": "tool",
        "tool_call_id": resumed_request.messages[-2]["tool_calls"][0]["id"],
        "content": "Four of us.",
    }


async def test_cancel_and_update_reach_only_their_own_session() -> None:
    entered: list[str] = []
    both_waiting = asyncio.Event()
    release = asyncio.Event()

    async def brain(request: ChatRequest) -> Reply:
        entered.append(task_of(request))
        if len(entered) == 2:
            both_waiting.set()
        await release.wait()
        return ChatReply(text=f"Finished {task_of(request).splitlines()[1]}.")

    async with (
        ChatCompletionsSimulator(brain, api_key=KEY) as sim,
        ChatOpenAI(api_key=KEY, base_url=sim.base_url, max_retries=0) as llm,
    ):
        sup = Supervisor("Books tables.", INSTRUCTIONS, llm=llm)
        one, two = sup.session(), sup.session()
        first = asyncio.create_task(one.run("A"))
        second = asyncio.create_task(two.run("B"))
        await both_waiting.wait()
        assert two.update("Make it four.")
        assert one.cancel()
        assert not sup.cancel()  # the shortcut session has no task; the others' tasks are not its own
        assert await first == Cancelled()
        assert two.state is SupervisorState.RUNNING
        release.set()
        assert await second == Done("Finished B.")
        assert (one.state, two.state) == (SupervisorState.IDLE, SupervisorState.IDLE)
    # The update went to B's conversation (its follow-up request carries it), never to A's.
    update = {"role": "user", "content": "<supervisor_update>\nMake it four.\n</supervisor_update>"}
    for_b = [r.messages for r in sim.requests if task_of(r) == "<task>\nB\n</task>"]
    for_a = [r.messages for r in sim.requests if task_of(r) == "<task>\nA\n</task>"]
    assert len(for_b) == 2 and update in for_b[1]
    assert for_a and all(update not in messages for messages in for_a)


def test_the_configuration_is_read_only() -> None:
    sup = Supervisor("Books tables.", INSTRUCTIONS, holding_instruction="One moment.")
    for name in ("description", "instructions", "tools", "holding_instruction", "max_iterations", "llm"):
        with pytest.raises(AttributeError):
            setattr(sup, name, None)
    assert sup.holding_instruction == "One moment."
    assert isinstance(sup.session(), SupervisorSession) and sup.session() is not sup.session()
