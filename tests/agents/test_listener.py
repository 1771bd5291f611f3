"""AgentListener and its bridge: every callback fires for its event, in dispatch order, errors contained."""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest

from rtvoice.event_bus import EventBus
from rtvoice.events import (
    AgentError,
    AgentErrorEvent,
    AgentEvent,
    AgentInterrupted,
    AgentSessionConnected,
    AgentStarting,
    AgentStopped,
    AssistantStartedResponding,
    AssistantStoppedResponding,
    AssistantTranscript,
    AssistantTranscriptDelta,
    SupervisorFinished,
    SupervisorStarted,
    UserInactivityCountdown,
    UserInactivityTimeout,
    UserStartedSpeaking,
    UserStoppedSpeaking,
    UserTranscript,
)
from rtvoice.listener import AgentListener, attach_listener, detach_listener

README_CALLBACKS = [
    "on_agent_starting",
    "on_agent_session_connected",
    "on_agent_stopped",
    "on_user_started_speaking",
    "on_user_stopped_speaking",
    "on_user_transcript",
    "on_assistant_started_responding",
    "on_assistant_stopped_responding",
    "on_assistant_transcript",
    "on_assistant_transcript_delta",
    "on_agent_interrupted",
    "on_agent_error",
    "on_supervisor_started",
    "on_supervisor_finished",
    "on_user_inactivity_countdown",
]

ERROR = AgentError("server_error", "boom", code="x")

# One event per callback, then the same again in a different order, plus events without a callback.
SCRIPT: list[tuple[AgentEvent, tuple[str, tuple[object, ...]] | None]] = [
    (AgentStarting(), ("on_agent_starting", ())),
    (AgentSessionConnected("sess_1"), ("on_agent_session_connected", ())),
    (UserStartedSpeaking(), ("on_user_started_speaking", ())),
    (UserStoppedSpeaking(), ("on_user_stopped_speaking", ())),
    (UserTranscript("hello there"), ("on_user_transcript", ("hello there",))),
    (AssistantStartedResponding("resp_1"), ("on_assistant_started_responding", ())),
    (AssistantTranscriptDelta("Hi"), ("on_assistant_transcript_delta", ("Hi",))),
    (AssistantTranscriptDelta("!"), ("on_assistant_transcript_delta", ("!",))),
    (AgentInterrupted(item_id="item_1", played_ms=700), ("on_agent_interrupted", ())),
    (AssistantTranscript("Hi!"), ("on_assistant_transcript", ("Hi!",))),
    (AssistantStoppedResponding("resp_1", interrupted=True), ("on_assistant_stopped_responding", ())),
    (SupervisorStarted(task="book"), ("on_supervisor_started", ())),
    (AgentErrorEvent(ERROR), ("on_agent_error", (ERROR,))),
    (SupervisorFinished(success=True), ("on_supervisor_finished", ())),
    (UserInactivityCountdown(5), ("on_user_inactivity_countdown", (5,))),
    (UserInactivityCountdown(4), ("on_user_inactivity_countdown", (4,))),
    (UserInactivityTimeout(30.0), None),
    (AgentStopped("inactivity_timeout"), ("on_agent_stopped", ())),
]


class Recorder(AgentListener):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    async def on_agent_starting(self) -> None:
        self.calls.append(("on_agent_starting", ()))

    async def on_agent_session_connected(self) -> None:
        self.calls.append(("on_agent_session_connected", ()))

    async def on_agent_stopped(self) -> None:
        self.calls.append(("on_agent_stopped", ()))

    async def on_user_started_speaking(self) -> None:
        self.calls.append(("on_user_started_speaking", ()))

    async def on_user_stopped_speaking(self) -> None:
        self.calls.append(("on_user_stopped_speaking", ()))

    async def on_user_transcript(self, transcript: str) -> None:
        await asyncio.sleep(0)  # a callback that yields must not let later events overtake it
        self.calls.append(("on_user_transcript", (transcript,)))

    async def on_assistant_started_responding(self) -> None:
        self.calls.append(("on_assistant_started_responding", ()))

    async def on_assistant_stopped_responding(self) -> None:
        self.calls.append(("on_assistant_stopped_responding", ()))

    async def on_assistant_transcript(self, transcript: str) -> None:
        self.calls.append(("on_assistant_transcript", (transcript,)))

    async def on_assistant_transcript_delta(self, delta: str) -> None:
        self.calls.append(("on_assistant_transcript_delta", (delta,)))

    async def on_agent_interrupted(self) -> None:
        self.calls.append(("on_agent_interrupted", ()))

    async def on_agent_error(self, error: AgentError) -> None:
        self.calls.append(("on_agent_error", (error,)))

    async def on_supervisor_started(self) -> None:
        self.calls.append(("on_supervisor_started", ()))

    async def on_supervisor_finished(self) -> None:
        self.calls.append(("on_supervisor_finished", ()))

    async def on_user_inactivity_countdown(self, remaining_seconds: int) -> None:
        self.calls.append(("on_user_inactivity_countdown", (remaining_seconds,)))


def test_listener_has_exactly_the_readme_callbacks_as_async_no_ops() -> None:
    public = sorted(name for name in vars(AgentListener) if not name.startswith("_"))
    assert public == sorted([*README_CALLBACKS, *EXTRA_CALLBACKS])
    for name in README_CALLBACKS:
        assert inspect.iscoroutinefunction(getattr(AgentListener, name)), name
    assert set(vars(Recorder)) >= set(README_CALLBACKS)  # the recorder below overrides them all


async def test_bridge_calls_each_callback_for_its_event_in_order() -> None:
    recorder = Recorder()
    async with EventBus() as bus:
        sub = attach_listener(bus, recorder)
        for event, _ in SCRIPT:
            await bus.dispatch(event)
    assert recorder.calls == [call for _, call in SCRIPT if call is not None]
    assert {name for name, _ in recorder.calls} == set(README_CALLBACKS)
    assert sub.delivered == len(SCRIPT)
    assert sub.errors == 0


EXTRA_CALLBACKS = ["on_tool_status", "on_usage_updated"]


async def test_callbacks_beyond_the_readme_tool_status_and_usage() -> None:
    from rtvoice.events import ToolStarted, UsageUpdated

    calls: list[tuple[str, object]] = []

    class Extra(AgentListener):
        async def on_tool_status(self, name: str, status: str) -> None:
            calls.append(("status", (name, status)))

        async def on_usage_updated(self, report: object) -> None:
            calls.append(("usage", report))

    async with EventBus() as bus:
        attach_listener(bus, Extra())
        await bus.dispatch(ToolStarted(call_id="c1", name="quiet_tool"))  # no status: no callback
        await bus.dispatch(ToolStarted(call_id="c2", name="play_song", status="Playing Hey Jude now."))
        await bus.dispatch(UsageUpdated(report="r1"))
    assert calls == [("status", ("play_song", "Playing Hey Jude now.")), ("usage", "r1")]


async def test_default_listener_methods_are_harmless_no_ops() -> None:
    async with EventBus() as bus:
        sub = attach_listener(bus, AgentListener())
        for event, _ in SCRIPT:
            await bus.dispatch(event)
    assert sub.delivered == len(SCRIPT)
    assert sub.errors == 0


async def test_readme_listener_example() -> None:
    printed: list[str] = []

    class MyListener(AgentListener):
        async def on_agent_starting(self) -> None:
            printed.append("Agent is starting up...")

        async def on_user_transcript(self, transcript: str) -> None:
            printed.append(f"User said: {transcript}")

        async def on_agent_stopped(self) -> None:
            printed.append("Session ended.")

    async with EventBus() as bus:
        attach_listener(bus, MyListener())
        await bus.dispatch(AgentStarting())
        await bus.dispatch(AssistantTranscript("ignored"))
        await bus.dispatch(UserTranscript("hi"))
        await bus.dispatch(AgentStopped())
    assert printed == ["Agent is starting up...", "User said: hi", "Session ended."]


async def test_a_failing_callback_is_logged_and_later_callbacks_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Recorder):
        async def on_user_transcript(self, transcript: str) -> None:
            raise RuntimeError("listener bug")

    listener = Broken()
    with caplog.at_level(logging.ERROR, logger="rtvoice.event_bus"):
        async with EventBus() as bus:
            sub = attach_listener(bus, listener)
            await bus.dispatch(UserTranscript("x"))
            await bus.dispatch(AgentStopped())
    assert listener.calls == [("on_agent_stopped", ())]
    assert sub.errors == 1
    assert "UserTranscript" in caplog.text and "listener bug" in caplog.text


async def test_attach_twice_is_idempotent_and_detach_stops_callbacks() -> None:
    recorder = Recorder()
    bus = EventBus()
    first = attach_listener(bus, recorder)
    assert attach_listener(bus, recorder) is first
    await bus.dispatch(AgentStarting())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert recorder.calls == [("on_agent_starting", ())]
    assert detach_listener(bus, recorder) is True
    assert detach_listener(bus, recorder) is False
    await bus.dispatch(AgentStopped())
    await bus.aclose()
    assert recorder.calls == [("on_agent_starting", ())]


async def test_slow_listener_does_not_delay_another_listener() -> None:
    gate = asyncio.Event()

    class Stuck(AgentListener):
        async def on_user_transcript(self, transcript: str) -> None:
            await gate.wait()

    recorder = Recorder()
    bus = EventBus()
    stuck = attach_listener(bus, Stuck())
    attach_listener(bus, recorder)
    await bus.dispatch(UserTranscript("one"))
    await bus.dispatch(AgentStopped())
    for _ in range(10):
        await asyncio.sleep(0)
    assert recorder.calls == [("on_user_transcript", ("one",)), ("on_agent_stopped", ())]
    assert stuck.delivered == 0
    gate.set()
    await bus.aclose()
    assert stuck.delivered == 2
