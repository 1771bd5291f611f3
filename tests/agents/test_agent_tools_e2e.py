"""The complete agent end to end: tools, the supervisor, usage and recording, over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import threading
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from openai.types.realtime import ConversationItemTruncateEvent

from rtvoice import (
    AgentListener,
    OpenAIProvider,
    RealtimeAgent,
    ServerVAD,
    Supervisor,
    Tools,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.llm import ChatOpenAI
from rtvoice.supervisor import Done
from rtvoice.testing import (
    CallFunction,
    ChatCompletionsSimulator,
    ChatReply,
    ChatRequest,
    RealtimeSimulator,
    Say,
    ScriptedBrain,
    ScriptedCall,
    Turn,
    speech,
)
from support.agent import converse, function_outputs
from support.audio import caller_wav, ramp_played_ms, ramp_voice
from support.timing import measure_loop_lag, seconds

# Real-time conversations with fixed pauses: a busy machine turns a pause into a barge-in.
pytestmark = pytest.mark.serial

SPEED = 4.0


def make_agent(
    sim: RealtimeSimulator,
    tmp_path: Path,
    lines: Sequence[str],
    *,
    gaps_ms: Sequence[int] | int = 2500,
    mic_end: Literal["silence", "stop"] = "stop",
    **kwargs: Any,
) -> tuple[RealtimeAgent, WavInputDevice]:
    caller_wav(tmp_path / "caller.wav", lines, gaps_ms=gaps_ms)
    mic = WavInputDevice(tmp_path / "caller.wav", speed=SPEED, end=mic_end)
    agent = RealtimeAgent(
        instructions="You are a helpful assistant.",
        turn_detection=ServerVAD(),
        audio_input=mic,
        audio_output=WavOutputDevice(tmp_path / "speaker.wav", speed=SPEED),
        provider=OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
        **kwargs,
    )
    return agent, mic


async def test_a_failing_tool_gives_the_model_an_error_and_the_call_goes_on(tmp_path: Path) -> None:
    tools = Tools()

    @tools.action("Look up an order by its number")
    async def lookup_order(order_id: str) -> str:
        raise ValueError("the order database is down")

    asks = ["Where is my order forty two?", "Thanks anyway."]
    brain = ScriptedBrain(
        [CallFunction("lookup_order", {"order_id": "42"})]
    )  # then EchoBrain reads outputs back
    async with RealtimeSimulator(brain=brain, user_transcripts=asks, generation_speed=16) as sim:
        # Long pauses: the spoken error must end before the caller talks again (or it is cut, rightly).
        agent, mic = make_agent(sim, tmp_path, asks, gaps_ms=8000, tools=tools)
        result = await converse(agent, mic)
    outputs = function_outputs(sim)
    assert len(outputs) == 1
    assert outputs[0][1] == "Error: tool 'lookup_order' failed: ValueError: the order database is down"
    said = [t.transcript for t in result.turns if t.role == "assistant"]
    # The model spoke about the error, and the next user turn was answered too.
    assert said == [outputs[0][1], asks[1]]
    assert result.stop_reason == "stopped"


async def test_barge_in_during_a_two_second_tool_still_truncates_within_a_frame(tmp_path: Path) -> None:
    tools = Tools()
    finished: list[str] = []

    @tools.action("Check the stock, which is slow")
    async def check_stock() -> str:
        await asyncio.sleep(2.0)
        finished.append("check_stock")
        return "three left"

    story = "Let me check that for you. While I look, here is a long story that goes on and on and on and on."
    brain = ScriptedBrain([[Say(story), CallFunction("check_stock", {})], Say("OK.")])
    asks = ["Is it in stock?", "Stop, please."]
    # The reply is generated (and its call reported) almost at once, then plays for about 2 s of wall
    # time; the caller cuts in about 1 s into it, while check_stock is still running.
    async with RealtimeSimulator(
        brain=brain, user_transcripts=asks, generation_speed=64, synthesize=ramp_voice
    ) as sim:
        agent, mic = make_agent(sim, tmp_path, asks, gaps_ms=[4000, 9000], tools=tools)
        result = await converse(agent, mic)
    truncates = [e for e in sim.sessions[0].received if isinstance(e, ConversationItemTruncateEvent)]
    assert len(truncates) == 1
    assert abs(truncates[0].audio_end_ms - ramp_played_ms(tmp_path / "speaker.wav")) <= 20
    # The tool was running during the barge-in and still answered.
    assert finished == ["check_stock"]
    assert [output for _, output in function_outputs(sim)] == ["three left"]
    assert result.turns[1].interrupted


async def test_status_and_holding_instruction_are_spoken_and_status_reaches_the_listener(
    tmp_path: Path,
) -> None:
    from pydantic import BaseModel, Field

    class PlaySongParams(BaseModel):
        song: str = Field(description="Song title")

    tools = Tools()
    statuses: list[tuple[str, str]] = []

    @tools.action("Play a song by name", param_model=PlaySongParams, status="Playing {song} now.")
    async def play_song(params: PlaySongParams) -> str:
        return f"Now playing: {params.song}"

    @tools.action("Search the web", holding_instruction="Let me search that for you.")
    async def search_web(query: str) -> str:
        await asyncio.sleep(1.5)
        return "Three results."

    class Listener(AgentListener):
        async def on_tool_status(self, name: str, status: str) -> None:
            statuses.append((name, status))

    def brain(ctx: Any) -> list[Any]:
        # Spoken tool messages arrive as responses whose instructions carry the text to say.
        if "Say exactly this to the user now:" in ctx.instructions:
            return [Say(ctx.instructions.split('"')[-2])]
        if "Tell the user now, briefly:" in ctx.instructions:
            return [Say(ctx.instructions.rsplit(": ", 1)[-1])]
        if ctx.last_item_type == "function_call_output":
            return [Say(" ".join(output for _, output in ctx.function_outputs))]
        if "song" in ctx.last_user_text:
            return [CallFunction("play_song", {"song": "Hey Jude"})]
        return [CallFunction("search_web", {"query": "weather"})]

    asks = ["Play the song Hey Jude.", "Search the weather."]
    async with RealtimeSimulator(brain=brain, user_transcripts=asks, generation_speed=16) as sim:
        agent, mic = make_agent(sim, tmp_path, asks, gaps_ms=[8000, 9000], tools=tools, listener=Listener())
        result = await converse(agent, mic)
    said = [t.transcript for t in result.turns if t.role == "assistant"]
    assert said == [
        "Playing Hey Jude now.",
        "Now playing: Hey Jude",
        "Let me search that for you.",
        "Three results.",
    ]
    assert statuses == [("play_song", "Playing Hey Jude now.")]


async def test_inject_fills_context_history_and_the_model_cannot_override_it(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from rtvoice import ConversationHistory, Inject

    @dataclass
    class AppState:
        user_name: str

    tools = Tools()
    seen: list[tuple[str, int]] = []

    @tools.action("Greet the user by name")
    async def greet(state: Inject[AppState], history: Inject[ConversationHistory]) -> str:
        seen.append((state.user_name, len(history)))
        return f"Hello {state.user_name}."

    # The model tries to pass the injected parameter itself: it is ignored.
    brain = ScriptedBrain([CallFunction("greet", {"state": {"user_name": "Mallory"}})])
    async with RealtimeSimulator(brain=brain, user_transcripts=["Greet me."], generation_speed=16) as sim:
        agent, mic = make_agent(
            sim, tmp_path, ["Greet me."], gaps_ms=3000, tools=tools, context=AppState("Alice")
        )
        await converse(agent, mic)
    assert seen == [("Alice", 1)]
    assert function_outputs(sim)[0][1] == "Hello Alice."


async def test_supervisor_clarify_round_trip_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    booking_tools = Tools()
    booked: list[dict[str, Any]] = []

    @booking_tools.action("Book a restaurant table")
    async def book_table(restaurant: str, time: str, party_size: int) -> str:
        booked.append({"restaurant": restaurant, "time": time, "party_size": party_size})
        return f"Booked for {party_size} at {restaurant} at {time}."

    chat_script = [
        ChatReply(tool_calls=[ScriptedCall("clarify", {"question": "For how many people?"})]),
        ChatReply(
            tool_calls=[
                ScriptedCall("book_table", {"restaurant": "Luigi's", "time": "19:00", "party_size": 4})
            ]
        ),
        ChatReply(tool_calls=[ScriptedCall("done", {"result": "Booked a table for 4 at Luigi's at 19:00."})]),
    ]
    task = "Book a table at Luigi's tonight at seven"
    realtime_script: list[Turn] = [
        CallFunction("supervisor", {"task": task}),
        Say("For how many people?"),
        CallFunction("supervisor", {"task": task, "clarification_answer": "Four people."}),
        Say("You're booked for four at Luigi's."),
    ]
    asks = ["Book me a table at Luigi's tonight at seven.", "Four people."]
    events: list[str] = []

    class Listener(AgentListener):
        async def on_supervisor_started(self) -> None:
            events.append("started")

        async def on_supervisor_finished(self) -> None:
            events.append("finished")

    async with (
        ChatCompletionsSimulator(chat_script, api_key="sk-chat") as chat,
        RealtimeSimulator(
            brain=ScriptedBrain(realtime_script), user_transcripts=asks, generation_speed=16
        ) as sim,
        ChatOpenAI(model="gpt-4o-mini", api_key="sk-chat", base_url=chat.base_url) as llm,  # ours to close
    ):
        supervisor = Supervisor(
            description="Books restaurant tables on behalf of the user.",
            instructions="Use book_table to complete booking requests. Call done() when finished.",
            tools=booking_tools,
            llm=llm,
        )
        agent, mic = make_agent(
            sim, tmp_path, asks, gaps_ms=[3500, 4000], supervisor=supervisor, listener=Listener()
        )
        result = await converse(agent, mic)
        requests = [request.body for request in chat.requests]
    assert booked == [{"restaurant": "Luigi's", "time": "19:00", "party_size": 4}]
    # The resumed request carries the checkpoint: the clarify call answered with the user's answer.
    resumed = requests[1]["messages"]
    clarify_call = next(m for m in resumed if m["role"] == "assistant" and m.get("tool_calls"))
    answer = next(m for m in resumed if m["role"] == "tool")
    assert clarify_call["tool_calls"][0]["function"]["name"] == "clarify"
    assert (
        answer["tool_call_id"] == clarify_call["tool_calls"][0]["id"] and answer["content"] == "Four people."
    )
    outputs = [output for _, output in function_outputs(sim)]
    assert outputs[0] == "Clarification needed before completing this task."
    assert json.loads(outputs[1]) == {"message": "Booked a table for 4 at Luigi's at 19:00.", "success": True}
    assert [t.transcript for t in result.turns if t.role == "assistant"] == [
        "For how many people?",
        "You're booked for four at Luigi's.",
    ]
    assert events == ["started", "finished"]
    report = result.usage
    assert report is not None and report.llm.total_tokens > 0  # the supervisor's chat tokens are counted


async def test_usage_and_cost_are_on_the_result_and_reach_the_listener(tmp_path: Path) -> None:
    updates: list[Any] = []

    class Listener(AgentListener):
        async def on_usage_updated(self, report: Any) -> None:
            updates.append(report)

    asks = ["Hello.", "How are you?"]
    async with RealtimeSimulator(user_transcripts=asks, generation_speed=16) as sim:
        agent, mic = make_agent(sim, tmp_path, asks, listener=Listener(), model="gpt-realtime")
        result = await converse(agent, mic)
    report = result.usage
    assert report is not None
    assert report.realtime.output_audio > 0 and report.transcription_seconds > 0
    assert report.cost.total > 0 and report.cost.is_complete
    # Two responses and two transcriptions, each counted once.
    assert len(updates) == 4
    assert updates[-1].cost.total == report.cost.total


def _segments(
    samples: np.ndarray[Any, Any], threshold: int, min_gap_ms: float, rate: int = 24000
) -> list[tuple[float, float]]:
    """(start_ms, end_ms) of the runs where |sample| > threshold, merging gaps shorter than min_gap_ms."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(loud) > min_gap_ms * rate / 1000)
    starts = np.concatenate(([loud[0]], loud[breaks + 1]))
    ends = np.concatenate((loud[breaks], [loud[-1]]))
    return [(s / rate * 1000, e / rate * 1000) for s, e in zip(starts, ends, strict=True)]


async def test_recording_has_every_utterance_at_the_right_time_with_the_pauses_kept(tmp_path: Path) -> None:
    asks = ["Hello, my name is Alice.", "What time is it?", "Thank you, goodbye."]
    recording = tmp_path / "call.wav"
    async with RealtimeSimulator(user_transcripts=asks, generation_speed=16, synthesize=ramp_voice) as sim:
        async with measure_loop_lag() as lag:

            class Connected(AgentListener):
                async def on_agent_session_connected(self) -> None:
                    lag.reset()  # from here on: the call's clocks run

            agent, mic = make_agent(
                sim,
                tmp_path,
                asks,
                gaps_ms=3000,
                recording_path=recording,
                recording_stereo=True,
                listener=Connected(),
            )
            result = await converse(agent, mic)
    assert result.recording_path == recording
    with wave.open(str(recording)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (24000, 2)
        rate = wav.getframerate()
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    caller, agent_side = stereo[:, 0], stereo[:, 1]
    # Caller channel: every line where the caller's WAV has it (the call's clock is the microphone's).
    source, _ = speech.read_wav(tmp_path / "caller.wav")
    want = _segments(np.frombuffer(source, dtype="<i2"), 300, 400)
    got = _segments(caller, 300, 400)
    assert len(got) == len(want) == 3
    for (start, end), (want_start, want_end) in zip(got, want, strict=True):
        assert abs(start - want_start) <= 20 and abs(end - want_end) <= 20
    # Agent channel: the replies as the speaker played them: same lengths, same pauses between them.
    # The speaker plays on the wall clock and the recording is on the microphone's (its samples): a
    # stall of the process (a busy machine) puts the two apart by the stall, times SPEED in audio time.
    played, _ = speech.read_wav(tmp_path / "speaker.wav")
    heard = _segments(np.frombuffer(played, dtype="<i2"), 0, 100)
    recorded = _segments(agent_side, 0, 100)
    assert len(heard) == len(recorded) == 3
    offset = recorded[0][0] - heard[0][0]
    slack = 20 + lag.max_ms * SPEED
    for (start, end), (heard_start, heard_end) in zip(recorded, heard, strict=True):
        assert abs((start - offset) - heard_start) <= slack and abs((end - offset) - heard_end) <= slack, (
            f"recorded {start - offset:.0f}-{end - offset:.0f} ms, heard {heard_start:.0f}-{heard_end:.0f} ms "
            f"(the loop was up to {lag.max_ms:.1f} ms late)"
        )
    # Each reply starts after the line it answers ends, and the file covers the whole call.
    for (_, line_end), (reply_start, _) in zip(got, recorded, strict=True):
        assert reply_start > line_end
    assert len(caller) / rate * 1000 >= want[-1][1]


async def test_tools_and_supervisor_shared_by_two_concurrent_calls_bill_each_call_and_outlive_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gateway's pattern: Tools and Supervisor built once, every call's agent gets the same objects.
    booking_tools = Tools(max_threads=2)
    booked: list[tuple[str, str]] = []

    @booking_tools.action("Book a restaurant table")
    def book_table(restaurant: str) -> str:  # a blocking client: runs in the registry's tool threads
        booked.append((restaurant, threading.current_thread().name))
        return f"Booked {restaurant}."

    noma_in_flight = asyncio.Event()
    luigi_call_ended = asyncio.Event()
    noma_text = "Booked Noma for two." + " The tasting menu starts at seven, arrive early." * 8

    async def chat_brain(request: ChatRequest) -> ChatReply:
        task = str(request.messages[2]["content"])
        restaurant = "Noma" if "Noma" in task else "Luigi's"
        if request.messages[-1]["role"] != "tool":  # first turn: book through the shared tools
            return ChatReply(tool_calls=[ScriptedCall("book_table", {"restaurant": restaurant})])
        if restaurant == "Noma":
            noma_in_flight.set()
            await luigi_call_ended.wait()  # Noma's chat call is in flight while Luigi's call ends
            return ChatReply(text=noma_text)
        return ChatReply(text="Booked Luigi's.")

    answered = {"luigi": asyncio.Event(), "noma": asyncio.Event()}

    def realtime_brain(name: str) -> Any:
        def brain(ctx: Any) -> list[Any]:
            if ctx.last_item_type == "function_call_output":
                answered[name].set()
                return [Say("Done.")]
            return [CallFunction("supervisor", {"task": f"Book {name.capitalize()} tonight"})]

        return brain

    async with (
        ChatCompletionsSimulator(chat_brain, api_key="sk-chat") as chat,
        RealtimeSimulator(brain=realtime_brain("luigi"), user_transcripts=["Book Luigi's."]) as luigi_sim,
        RealtimeSimulator(brain=realtime_brain("noma"), user_transcripts=["Book Noma."]) as noma_sim,
    ):
        # The supervisor's own default chat model: created once, shared, closed only by its owner.
        monkeypatch.setenv("OPENAI_API_KEY", "sk-chat")
        monkeypatch.setenv("OPENAI_BASE_URL", chat.base_url)
        supervisor = Supervisor(
            description="Books restaurant tables.", instructions="Book tables.", tools=booking_tools
        )

        def agent_for(name: str, sim: RealtimeSimulator, line: str) -> RealtimeAgent:
            caller_wav(tmp_path / f"{name}.wav", [line], gaps_ms=500)
            return RealtimeAgent(
                instructions="Delegate bookings to the supervisor.",
                supervisor=supervisor,
                tools=booking_tools,  # the same registry for every call's agent and the supervisor
                turn_detection=ServerVAD(),
                audio_input=WavInputDevice(tmp_path / f"{name}.wav", speed=SPEED),  # then a quiet line
                audio_output=WavOutputDevice(tmp_path / f"{name}-speaker.wav", speed=SPEED),
                provider=OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
            )

        luigi, noma = (
            agent_for("luigi", luigi_sim, "Book Luigi's."),
            agent_for("noma", noma_sim, "Book Noma."),
        )
        try:
            async with asyncio.timeout(seconds(60)), asyncio.TaskGroup() as tasks:
                luigi_run = tasks.create_task(luigi.run())
                noma_run = tasks.create_task(noma.run())
                await answered["luigi"].wait()
                await noma_in_flight.wait()
                await luigi.stop()  # Luigi's call ends (its session closes) while Noma's supervisor works
                luigi_result = await luigi_run
                luigi_call_ended.set()
                await answered["noma"].wait()
                await noma.stop()
        finally:
            luigi_call_ended.set()  # however the test ends, the simulator's handler returns
        noma_result = noma_run.result()
        model = supervisor.llm
        assert isinstance(model, ChatOpenAI)  # still the one shared model
        await supervisor.aclose()
        assert supervisor.llm is None
    assert function_outputs(luigi_sim) and function_outputs(noma_sim)
    assert json.loads(function_outputs(luigi_sim)[0][1]) == {"message": "Booked Luigi's.", "success": True}
    assert json.loads(function_outputs(noma_sim)[0][1]) == {"message": noma_text, "success": True}
    assert sorted(restaurant for restaurant, _ in booked) == ["Luigi's", "Noma"]
    assert {thread for _, thread in booked} <= {"rtvoice-tool_0", "rtvoice-tool_1"}
    booking_tools.close()
    # Each call's bill has exactly its own two supervisor chat calls.
    luigi_llm = [r for r in (luigi_result.usage.records if luigi_result.usage else ()) if r.kind == "llm"]
    noma_llm = [r for r in (noma_result.usage.records if noma_result.usage else ()) if r.kind == "llm"]
    assert len(luigi_llm) == 2 and len(noma_llm) == 2
    assert not {r.id for r in luigi_llm} & {r.id for r in noma_llm}
    luigi_out = sum(r.tokens.output_text for r in luigi_llm)
    noma_out = sum(r.tokens.output_text for r in noma_llm)
    assert luigi_out + 50 < noma_out  # Noma's long answer (about 4 characters a token) is on Noma's bill


async def test_holding_instruction_is_said_at_once_even_for_a_quick_tool_and_holding_delay_defers_it(
    tmp_path: Path,
) -> None:
    tools = Tools()

    @tools.action("Look up the opening hours", holding_instruction="Let me check the hours.")
    async def opening_hours() -> str:
        return "Open from nine to five."  # answers at once: 0.7.0's README still promises the phrase

    @tools.action("Check the weather", holding_instruction="Checking the sky.", holding_delay=30.0)
    async def weather() -> str:
        return "Sunny."  # done long before its 30 s holding delay: not announced

    def brain(ctx: Any) -> list[Any]:
        if "Tell the user now, briefly:" in ctx.instructions:
            return [Say(ctx.instructions.rsplit(": ", 1)[-1])]
        if ctx.last_item_type == "function_call_output":
            return [Say(" ".join(output for _, output in ctx.function_outputs))]
        if "open" in ctx.last_user_text:
            return [CallFunction("opening_hours", {})]
        return [CallFunction("weather", {})]

    asks = ["When are you open?", "What is the weather?"]
    async with RealtimeSimulator(brain=brain, user_transcripts=asks, generation_speed=16) as sim:
        agent, mic = make_agent(sim, tmp_path, asks, gaps_ms=[8000, 8000], tools=tools)
        result = await converse(agent, mic)
    said = [t.transcript for t in result.turns if t.role == "assistant"]
    assert said == ["Let me check the hours.", "Open from nine to five.", "Sunny."]


async def test_a_call_ending_mid_task_cancels_its_own_supervisor_run_and_leaves_the_supervisor_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_flight = asyncio.Event()
    never = asyncio.Event()

    async def chat_brain(request: ChatRequest) -> ChatReply:
        if "slow" in str(request.messages[2]["content"]):
            in_flight.set()
            await never.wait()  # the caller hangs up while this chat call is in flight
        return ChatReply(text="Quick answer.")

    asks = ["Do the slow thing."]
    brain = ScriptedBrain([CallFunction("supervisor", {"task": "the slow thing"})])
    async with (
        ChatCompletionsSimulator(chat_brain, api_key="sk-chat") as chat,
        RealtimeSimulator(brain=brain, user_transcripts=asks, generation_speed=16) as sim,
    ):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-chat")
        monkeypatch.setenv("OPENAI_BASE_URL", chat.base_url)
        supervisor = Supervisor(description="Does things.", instructions="Do things.")
        # A quiet line after the caller's words: the call lasts until the test hangs up.
        agent, _ = make_agent(sim, tmp_path, asks, mic_end="silence", supervisor=supervisor)
        try:
            async with asyncio.timeout(seconds(60)):
                run = asyncio.create_task(agent.run())
                await in_flight.wait()
                model = supervisor.llm
                await agent.stop()
                await run
            # The call's supervisor task ended with its session: nothing of it is left running.
            assert [t for t in asyncio.all_tasks() if t.get_name() == "supervisor-run"] == []
            assert function_outputs(sim) == []  # the session ended before the task could be answered
            # The shared supervisor and its chat model are still open for the next call.
            assert supervisor.llm is model and model is not None
            async with supervisor.session() as next_call:
                assert await next_call.run("a quick thing") == Done("Quick answer.")
        finally:
            never.set()  # however the test ends, the simulator's handler returns
            await supervisor.aclose()
