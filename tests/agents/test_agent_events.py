"""Each notification of the protocol core becomes the listener's event; commands become none."""

from __future__ import annotations

from rtvoice import events as ev
from rtvoice.agent_events import agent_event
from rtvoice.realtime import (
    Action,
    ArmTimer,
    AssistantResponseStarted,
    AssistantTranscript,
    AssistantTranscriptDelta,
    ClearPlayback,
    Interrupted,
    PlayAudio,
    PlaybackFinished,
    ResponseFinished,
    SendJSON,
    SessionReady,
    ToolCall,
    UpstreamErrorReceived,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)


def test_notifications_map_to_listener_events() -> None:
    error = UpstreamErrorReceived("server_error", "boom", "It broke.", None, "evt_1", fatal=True)
    pairs: list[tuple[Action, ev.AgentEvent]] = [
        (SessionReady(), ev.AgentSessionConnected(model="gpt-realtime")),
        (UserSpeechStarted("item_1", 120), ev.UserStartedSpeaking(item_id="item_1", audio_start_ms=120)),
        (UserSpeechStopped("item_1", 900), ev.UserStoppedSpeaking(item_id="item_1", audio_end_ms=900)),
        (UserTranscript("item_1", "Hello."), ev.UserTranscript(transcript="Hello.", item_id="item_1")),
        (AssistantResponseStarted("resp_1"), ev.AssistantStartedResponding(response_id="resp_1")),
        (AssistantTranscriptDelta("item_2", "Hi"), ev.AssistantTranscriptDelta(delta="Hi", item_id="item_2")),
        (
            AssistantTranscript("item_2", "Hi there.", False),
            ev.AssistantTranscript(transcript="Hi there.", item_id="item_2"),
        ),
        (Interrupted("item_2", 640), ev.AgentInterrupted(item_id="item_2", played_ms=640)),
        (PlaybackFinished(interrupted=True), ev.AssistantStoppedResponding(interrupted=True)),
        (
            error,
            ev.AgentErrorEvent(
                error=ev.AgentError(type="server_error", message="It broke.", code="boom", event_id="evt_1")
            ),
        ),
    ]
    for action, event in pairs:
        assert agent_event(action, model="gpt-realtime") == event


def test_commands_and_bookkeeping_have_no_listener_event() -> None:
    actions: list[Action] = [
        SendJSON("{}"),
        PlayAudio("item_1", b"\x00\x00"),
        ClearPlayback(),
        ArmTimer(1.0),
        ToolCall("call_1", "lookup", "{}", "resp_1"),
        ResponseFinished("resp_1", "completed", None),
    ]
    for action in actions:
        assert agent_event(action, model="gpt-realtime") is None
