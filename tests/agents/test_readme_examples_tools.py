"""The rtvoice 0.7.0 README's tool, Inject, supervisor and recording examples, run against the simulators.

The README's code is kept as written; only audio devices (WAV files), the simulator URLs and the
README's placeholders (``calendar``, ``do_search``, ``music_player``, ``llm.summarise``) are filled in.
The simulated realtime model is scripted to call the tool each example defines.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
from openai.types.realtime import ResponseCreateEvent, SessionUpdateEvent
from pydantic import BaseModel, Field

from rtvoice import (
    AgentListener,
    Inject,
    OpenAIProvider,
    RealtimeAgent,
    Supervisor,
    Tools,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.conversation import ConversationHistory
from rtvoice.llm import ChatOpenAI
from rtvoice.testing import (
    CallFunction,
    ChatCompletionsSimulator,
    ChatReply,
    RealtimeSimulator,
    Say,
    ScriptedBrain,
    ScriptedCall,
    Turn,
)
from support.agent import converse, function_outputs
from support.audio import caller_wav

ASK = ["Please help me with that."]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme")
    return monkeypatch


def devices(tmp_path: Path, lines: Sequence[str] = ASK, gap_ms: int = 9000) -> dict[str, Any]:
    caller_wav(tmp_path / "caller.wav", lines, gaps_ms=gap_ms)
    return {
        "audio_input": WavInputDevice(tmp_path / "caller.wav", speed=4, end="stop"),
        "audio_output": WavOutputDevice(tmp_path / "speaker.wav", speed=4),
    }


def sent_tools(sim: RealtimeSimulator) -> list[dict[str, Any]]:
    update = sim.sessions[0].received[0]
    assert isinstance(update, SessionUpdateEvent)
    return [t.model_dump(exclude_unset=True) for t in update.session.tools or []]  # type: ignore[union-attr]


@asynccontextmanager
async def simulator(env: pytest.MonkeyPatch, script: Sequence[Turn]) -> AsyncIterator[RealtimeSimulator]:
    async with RealtimeSimulator(
        brain=ScriptedBrain(script), user_transcripts=ASK, generation_speed=16
    ) as sim:
        env.setenv("OPENAI_BASE_URL", sim.http_url)
        yield sim


async def test_basic_tools(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tools = Tools()

    @tools.action("Get the current weather for a given city")
    async def get_weather(city: str) -> str:
        return f"It's 18°C and partly cloudy in {city}."

    async with simulator(env, [CallFunction("get_weather", {"city": "Berlin"})]) as sim:
        agent = RealtimeAgent(
            instructions="Answer weather questions using get_weather.",
            tools=tools,
            **devices(tmp_path),
        )
        result = await converse(agent)
        schema = sent_tools(sim)[0]
    assert schema["name"] == "get_weather" and schema["parameters"]["required"] == ["city"]
    assert [output for _, output in function_outputs(sim)] == ["It's 18°C and partly cloudy in Berlin."]
    assert result.turns[-1].transcript == "It's 18°C and partly cloudy in Berlin."


async def test_pydantic_model_tools(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    searches: list[dict[str, Any]] = []

    class Calendar:  # the README's placeholder
        async def search(self, **kwargs: Any) -> str:
            searches.append(kwargs)
            return "Dentist on Monday at 9."

    calendar = Calendar()
    tools = Tools()

    class CalendarSearchParams(BaseModel):
        query: str = Field(description="What to search for")
        date: str | None = Field(default=None, description="Optional ISO date filter")
        limit: int = Field(default=5, description="Maximum number of matches")
        source: Literal["work", "personal"] = "work"

    @tools.action(
        "Search calendar events",
        param_model=CalendarSearchParams,
    )
    async def search_calendar(params: CalendarSearchParams) -> str:
        return await calendar.search(
            query=params.query,
            date=params.date,
            limit=params.limit,
            source=params.source,
        )

    script = [
        CallFunction(
            "search_calendar", {"query": "dentist", "date": None, "limit": None, "source": "personal"}
        )
    ]
    async with simulator(env, script) as sim:
        agent = RealtimeAgent(instructions="Use search_calendar.", tools=tools, **devices(tmp_path))
        await converse(agent)
        properties = sent_tools(sim)[0]["parameters"]["properties"]
    # Strict schema: an optional field is nullable (null means "use the default").
    assert properties["source"]["anyOf"][0]["enum"] == ["work", "personal"]
    assert "What to search for" in properties["query"]["description"]
    assert searches == [{"query": "dentist", "date": None, "limit": 5, "source": "personal"}]
    assert [output for _, output in function_outputs(sim)] == ["Dentist on Monday at 9."]


async def test_long_running_tools(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    async def do_search(query: str) -> str:  # the README's placeholder: a slow search
        await asyncio.sleep(1.5)
        return f"Top result for {query}."

    tools = Tools()

    @tools.action(
        "Search the web for a query",
        holding_instruction="Let me search that for you, give me a moment.",
    )
    async def search_web(query: str) -> str:
        result = await do_search(query)
        return result

    @tools.action(
        "Fetch the latest headlines",
        holding_instruction="Fetching the news...",
        result_instruction="Summarise the headlines in two sentences.",
    )
    async def get_headlines() -> str: ...  # type: ignore[empty-body]

    seen_instructions: list[str] = []

    def brain(ctx: Any) -> list[Any]:
        seen_instructions.append(ctx.instructions)
        if ctx.response_index == 0:
            return [CallFunction("search_web", {"query": "rtvoice"}), CallFunction("get_headlines", {})]
        return [Say("Done.")]

    async with RealtimeSimulator(brain=brain, user_transcripts=ASK, generation_speed=16) as sim:
        env.setenv("OPENAI_BASE_URL", sim.http_url)
        agent = RealtimeAgent(instructions="You are a news assistant.", tools=tools, **devices(tmp_path))
        await converse(agent)
    assert sorted([output for _, output in function_outputs(sim)]) == ["OK", "Top result for rtvoice."]
    # The holding phrase was requested while search_web ran, with the persona kept.
    holding = [i for i in seen_instructions if "Let me search that for you" in i]
    assert len(holding) == 1 and holding[0].startswith("You are a news assistant.")
    # The follow-up carries the result instruction, after the agent's own instructions.
    assert any(
        i.startswith("You are a news assistant.") and i.endswith("Summarise the headlines in two sentences.")
        for i in seen_instructions
    )


async def test_status_templates(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    played: list[str] = []

    class MusicPlayer:  # the README's placeholder
        async def play(self, song: str) -> None:
            played.append(song)

    music_player = MusicPlayer()
    statuses: list[str] = []

    class Listener(AgentListener):
        async def on_tool_status(self, name: str, status: str) -> None:
            statuses.append(status)

    for status in ("template", "callable"):
        tools = Tools()

        class PlaySongParams(BaseModel):
            song: str = Field(description="Song title")

        if status == "template":

            @tools.action(
                "Play a song by name",
                param_model=PlaySongParams,
                status="Playing {song} now.",
            )
            async def play_song(params: PlaySongParams) -> str:
                await music_player.play(params.song)
                return f"Now playing: {params.song}"

        else:

            @tools.action(
                "Play a song by name",
                param_model=PlaySongParams,
                status=lambda params: f"Playing {params.song} now.",
            )
            async def play_song(params: PlaySongParams) -> str:
                await music_player.play(params.song)
                return f"Now playing: {params.song}"

        async with simulator(env, [CallFunction("play_song", {"song": "Yesterday"})]) as sim:
            agent = RealtimeAgent(
                instructions="Play music.", tools=tools, listener=Listener(), **devices(tmp_path)
            )
            await converse(agent)
        assert [output for _, output in function_outputs(sim)] == ["Now playing: Yesterday"]
    assert played == ["Yesterday", "Yesterday"]
    assert statuses == ["Playing Yesterday now.", "Playing Yesterday now."]


async def test_context_injection_and_custom_application_context(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dataclasses import dataclass

    class Llm:  # the README's placeholder
        async def summarise(self, text: str) -> str:
            return f"Summary of {len(text.splitlines())} line(s)."

    llm = Llm()
    tools = Tools()

    @tools.action("Summarise the conversation so far")
    async def summarise(
        history: Inject[ConversationHistory],
    ) -> str:
        text = history.format()
        return await llm.summarise(text)

    @dataclass
    class AppState:
        user_name: str
        premium: bool

    @tools.action("Greet the user by name")
    async def greet(state: Inject[AppState]) -> str:
        tier = "premium" if state.premium else "free"
        return f"Hello {state.user_name}, you are on the {tier} plan."

    async with simulator(env, [[CallFunction("summarise", {}), CallFunction("greet", {})]]) as sim:
        agent = RealtimeAgent(
            instructions="Greet the user when asked.",
            tools=tools,
            context=AppState(user_name="Alice", premium=True),
            **devices(tmp_path),
        )
        await converse(agent)
        schemas = {t["name"]: t["parameters"] for t in sent_tools(sim)}
    assert schemas["greet"]["properties"] == {} and schemas["summarise"]["properties"] == {}
    assert [output for _, output in function_outputs(sim)] == [
        "Summary of 1 line(s).",
        "Hello Alice, you are on the premium plan.",
    ]


async def test_supervisor(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tools = Tools()

    @tools.action("Book a restaurant table")
    async def book_table(
        restaurant: str,
        date: str,
        time: str,
        party_size: int,
    ) -> str:
        return f"Booked for {party_size} at {restaurant} on {date} at {time}."

    arguments = {"restaurant": "Luigi's", "date": "2026-11-27", "time": "19:00", "party_size": 2}
    chat_script = [
        ChatReply(tool_calls=[ScriptedCall("book_table", arguments)]),
        ChatReply(
            tool_calls=[ScriptedCall("done", {"result": "Booked for 2 at Luigi's on Friday at 7 pm."})]
        ),
    ]
    realtime_script: list[Turn] = [
        CallFunction("supervisor", {"task": "Book Luigi's for two on Friday at 7"})
    ]
    async with (
        ChatCompletionsSimulator(chat_script) as chat,
        RealtimeSimulator(
            brain=ScriptedBrain(realtime_script), user_transcripts=ASK, generation_speed=16
        ) as sim,
    ):
        env.setenv(
            "OPENAI_BASE_URL", chat.base_url
        )  # the README's ChatOpenAI(model=...) finds the chat simulator
        supervisor = Supervisor(
            description="Books restaurant tables on behalf of the user.",
            holding_instruction="I'm checking availability, just a moment.",
            instructions="Use book_table to complete booking requests. Call done() when finished.",
            tools=tools,
            llm=ChatOpenAI(model="gpt-4o-mini"),
        )

        agent = RealtimeAgent(
            instructions="Delegate restaurant bookings to the supervisor.",
            supervisor=supervisor,
            provider=OpenAIProvider(websocket_base_url=sim.url),  # the realtime simulator's URL
            **devices(tmp_path),
        )
        result = await converse(agent)
        assert supervisor.llm is not None
        await supervisor.llm.aclose()
        requests = [r.body for r in chat.requests]
    assert requests[0]["model"] == "gpt-4o-mini"
    tool_message = next(m for m in requests[1]["messages"] if m["role"] == "tool")
    assert tool_message["content"] == "Booked for 2 at Luigi's on 2026-11-27 at 19:00."
    assert json.loads([output for _, output in function_outputs(sim)][0]) == {
        "message": "Booked for 2 at Luigi's on Friday at 7 pm.",
        "success": True,
    }
    # The holding phrase was asked for while the supervisor worked, and the result was presented.
    creates = [e for e in sim.sessions[0].received if isinstance(e, ResponseCreateEvent)]
    instructions = [e.response.instructions or "" for e in creates if e.response is not None]
    assert any("I'm checking availability, just a moment." in text for text in instructions)
    assert result.turns[-1].role == "assistant"


async def test_recording(env: pytest.MonkeyPatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with simulator(env, [Say("Sure, happy to help.")]):
        agent = RealtimeAgent(
            instructions="...",
            recording_path="session.pcm",
            **devices(tmp_path),
        )

        result = await converse(agent)
        print(result.recording_path)  # Path to the saved file
    assert result.recording_path == Path("session.pcm")
    import wave

    with wave.open("session.pcm") as wav:  # a WAV, whatever the extension (as 0.7.0)
        assert wav.getframerate() == 24000 and wav.getnframes() > 24000
    assert [(t.role, t.transcript) for t in result.turns] == [
        ("user", ASK[0]),
        ("assistant", "Sure, happy to help."),
    ]
