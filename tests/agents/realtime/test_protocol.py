"""RealtimeProtocol fed with recorded wire JSON (tests/fixtures/realtime), actions compared with ``==``.

No event loop, no clock: ``now`` and playback positions are chosen by each test. Every action list goes
through :func:`checked`, which validates each client event against the SDK's ``RealtimeClientEvent``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.realtime import (
    ConversationItemCreateEvent,
    RateLimitsUpdatedEvent,
    RealtimeClientEvent,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeFunctionTool,
    RealtimeResponseCreateParams,
    RealtimeResponseUsage,
    ResponseCreateEvent,
)
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageDuration,
)
from pydantic import TypeAdapter

from rtvoice.audio.format import AudioFormat
from rtvoice.conversation import ConversationSeed, ConversationTurn, heard_prefix
from rtvoice.exceptions import LocalProtocolError, RemoteProtocolError
from rtvoice.options import ServerVAD
from rtvoice.realtime import (
    Action,
    ArmTimer,
    AssistantAudioDone,
    AssistantResponseStarted,
    AssistantTranscript,
    AssistantTranscriptDelta,
    ClearPlayback,
    Interrupted,
    PlayAudio,
    PlaybackFinished,
    RealtimeProtocol,
    ResponseFinished,
    SendEvent,
    SendJSON,
    SessionConfig,
    SessionReady,
    ToolCall,
    UpstreamErrorReceived,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
    build_session_update,
    encode_client_event,
)
from rtvoice.realtime.client_events import (
    cancel_response,
    function_output,
    seed_item,
    truncate_item,
    user_message_item,
)
from rtvoice.realtime.protocol import MAX_APPEND_BYTES, NOT_EXECUTED_OUTPUT
from rtvoice.realtime.responses import MAX_QUEUED_RESPONSES

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "realtime"
CLIENT_EVENT = TypeAdapter(RealtimeClientEvent)

# Ids from the fixtures.
U1, A1, R1 = "item_CT8f3aUsr1Q2wE", "item_CT8f3bAst1Q2wE", "resp_CT8f3bRsp1Q2wE"
U2, A2, R2, U3 = "item_CT8f4aUsr2P9kL", "item_CT8f4bAst2P9kL", "resp_CT8f4bRsp2P9kL", "item_CT8f4cUsr3P9kL"
U4 = "item_CT8f5aUsr4Zt6M"
R7, A8, R8 = "resp_CT8f7bRsp7Jk4S", "item_CT8f8cAst8Jk4S", "resp_CT8f8cRsp8Jk4S"
CALL_WEATHER, CALL_TIME = "call_Wx81fQ0LmPa3", "call_Tm52aB7cNq9z"
RV = "resp_CT8fBaVad1Rr2X"


def checked(actions: list[Action]) -> list[Action]:
    """Assert that every client event in ``actions`` is a valid ``RealtimeClientEvent``; return them."""
    for action in actions:
        if isinstance(action, SendEvent):
            text = encode_client_event(action.event)
            assert CLIENT_EVENT.validate_json(text) == action.event
        elif isinstance(action, SendJSON):
            CLIENT_EVENT.validate_json(action.text)
    return actions


class Script:
    """The events of one fixture file, fed to a protocol in order."""

    def __init__(self, protocol: RealtimeProtocol, name: str) -> None:
        self.protocol = protocol
        self.lines = (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        self.position = 0

    def event(self, index: int) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.lines[index])
        return parsed

    def feed(self, expected_type: str, now: float = 0.0) -> list[Action]:
        """Feed the next event, which must be of ``expected_type``."""
        assert self.event(self.position)["type"] == expected_type
        self.position += 1
        return checked(self.protocol.receive_json(self.lines[self.position - 1], now))

    def feed_through(self, event_type: str, now: float = 0.0) -> list[Action]:
        """Feed events up to and including the next one of ``event_type``."""
        actions: list[Action] = []
        while True:
            kind = self.event(self.position)["type"]
            actions += self.feed(kind, now)
            if kind == event_type:
                return actions

    def feed_to(self, index: int, now: float = 0.0) -> list[Action]:
        """Feed the events before ``index`` (line numbers of the fixture file, from 0)."""
        actions: list[Action] = []
        while self.position < index:
            actions += self.feed(self.event(self.position)["type"], now)
        return actions

    def feed_rest(self, now: float = 0.0) -> list[Action]:
        actions: list[Action] = []
        while self.position < len(self.lines):
            actions += self.feed(self.event(self.position)["type"], now)
        return actions


def audio(script: Script, index: int) -> bytes:
    """The decoded audio of the delta at ``index`` (decoded here with the base64 module)."""
    return base64.b64decode(script.event(index)["delta"])


def ready(config: SessionConfig | None = None, *, device_reports: bool = True) -> RealtimeProtocol:
    """A protocol past SessionReady; with ``device_reports`` its output device has reported 0 ms played
    (as a shell does when its device can tell), so no wall-clock estimate is involved."""
    protocol = RealtimeProtocol(config or SessionConfig())
    start = Script(protocol, "session_start")
    start.feed("session.created")
    assert start.feed("session.updated") == [SessionReady()]
    if device_reports:
        assert protocol.receive_playback(0, now=0.0) == []
    return protocol


def usage_of(script: Script, index: int) -> RealtimeResponseUsage:
    return RealtimeResponseUsage.model_validate(script.event(index)["response"]["usage"])


def plain_create(event_id: str) -> SendEvent:
    return SendEvent(ResponseCreateEvent(type="response.create", event_id=event_id))


# -- session start ---------------------------------------------------------------------------------------


def test_session_start_sends_update_and_seeds_then_ready_exactly_once() -> None:
    config = SessionConfig(instructions="You are Jarvis, a concise and helpful voice assistant.")
    seed = ConversationSeed.from_pairs(
        ("My name is Alice and I prefer short answers.", "Got it, Alice. I'll keep things brief.")
    )
    protocol = RealtimeProtocol(config, seed=seed)
    script = Script(protocol, "session_start")

    assert script.feed("session.created") == [
        SendEvent(build_session_update(config)),
        SendEvent(seed_item("user", "My name is Alice and I prefer short answers.")),
        SendEvent(seed_item("assistant", "Got it, Alice. I'll keep things brief.")),
    ]
    was_ready = protocol.session_ready
    assert script.feed("session.updated") == [SessionReady()]
    assert (was_ready, protocol.session_ready) == (False, True)
    assert script.feed_rest() == []  # the seeds echoed back
    # A later session.updated (speed, tools) and a duplicate session.created change nothing.
    again = Script(protocol, "session_start")
    assert again.feed("session.created") == []
    assert again.feed("session.updated") == []
    assert protocol.history.turns == []
    assert protocol.history.format() == "(no conversation yet)"


def test_seed_items_are_sent_as_input_text_and_output_text_without_response_create() -> None:
    protocol = RealtimeProtocol(SessionConfig(), seed=ConversationSeed.from_pairs(("Hi", "Hello")))
    actions = Script(protocol, "session_start").feed("session.created")
    wire = [
        json.loads(encode_client_event(action.event)) for action in actions if isinstance(action, SendEvent)
    ]
    assert [event["type"] for event in wire] == [
        "session.update",
        "conversation.item.create",
        "conversation.item.create",
    ]
    assert wire[1]["item"] == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Hi"}],
    }
    assert wire[2]["item"] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello"}],
    }


def test_session_update_in_ga_shape_with_explicit_nulls() -> None:
    config = SessionConfig(
        instructions="Be brief.",
        model="gpt-realtime",
        turn_detection=None,
        noise_reduction=None,
        transcription_model=None,
        output_format=AudioFormat.PCMU_8K,
        input_format=AudioFormat.PCMU_8K,
        max_output_tokens="inf",
    )
    wire = json.loads(encode_client_event(build_session_update(config)))
    assert wire == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "Be brief.",
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": None,
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.0},
            },
            "tools": [],
            "tool_choice": "auto",
        },
    }


def test_responses_requested_before_ready_go_out_at_session_ready() -> None:
    protocol = RealtimeProtocol(SessionConfig())
    assert protocol.request_response() == []
    assert protocol.queued_responses == 1
    script = Script(protocol, "session_start")
    script.feed("session.created")
    assert script.feed("session.updated") == [SessionReady(), plain_create("rtvoice_1")]
    assert protocol.response_active


def test_send_audio_only_after_ready_and_equal_to_the_sdk_serialisation() -> None:
    protocol = RealtimeProtocol(SessionConfig())
    with pytest.raises(LocalProtocolError, match="SessionReady"):
        protocol.send_audio(bytes(960))
    protocol = ready()
    chunk = bytes(range(256)) * 3 + bytes(192)  # 20 ms of PCM16 at 24 kHz
    [action] = checked(protocol.send_audio(chunk))
    assert isinstance(action, SendJSON)
    assert json.loads(action.text) == {
        "type": "input_audio_buffer.append",
        "audio": base64.b64encode(chunk).decode(),
    }
    assert protocol.send_audio(b"") == []
    with pytest.raises(LocalProtocolError, match="even"):
        protocol.send_audio(bytes(961))
    with pytest.raises(LocalProtocolError, match="exceeds"):
        protocol.send_audio(bytes(MAX_APPEND_BYTES + 2))


def test_g711_input_may_have_odd_length() -> None:
    protocol = ready(SessionConfig(input_format=AudioFormat.PCMU_8K, output_format=AudioFormat.PCMU_8K))
    assert len(protocol.send_audio(bytes(161))) == 1


# -- a full audio turn -------------------------------------------------------------------------------------


def test_full_audio_turn_event_order() -> None:
    protocol = ready()
    script = Script(protocol, "audio_turn")
    actions = script.feed_rest(now=1.0)
    assert actions == [
        UserSpeechStarted(U1, 1520),
        UserSpeechStopped(U1, 3180),
        AssistantResponseStarted(R1),
        AssistantTranscriptDelta(A1, "Sure, "),
        PlayAudio(A1, audio(script, 11)),
        AssistantTranscriptDelta(A1, "the weather "),
        PlayAudio(A1, audio(script, 13)),
        UserTranscript(
            U1,
            "What's the weather like today?",
            UsageTranscriptTextUsageDuration(type="duration", seconds=1.66),
        ),
        AssistantTranscriptDelta(A1, "is sunny "),
        PlayAudio(A1, audio(script, 17)),
        AssistantTranscriptDelta(A1, "today."),
        PlayAudio(A1, audio(script, 19)),
        AssistantAudioDone(R1, A1),
        AssistantTranscript(A1, "Sure, the weather is sunny today.", interrupted=False),
        ResponseFinished(R1, "completed", usage_of(script, 25)),
    ]
    assert sum(len(a.audio) for a in actions if isinstance(a, PlayAudio)) == 1000 * 48
    assert not protocol.response_active
    # The device reports its progress; the stretch of speech ends when all 1000 ms have played.
    assert protocol.assistant_playing(1.0)
    assert protocol.receive_playback(999.5, now=2.0) == [PlaybackFinished(interrupted=False)]
    assert not protocol.assistant_playing(2.0)
    assert protocol.receive_playback(1000, now=2.1) == []
    assert protocol.history.turns == [
        ConversationTurn("user", "What's the weather like today?", U1),
        ConversationTurn("assistant", "Sure, the weather is sunny today.", A1),
    ]


def test_playback_finished_waits_for_the_response_to_be_done() -> None:
    protocol = ready()
    script = Script(protocol, "audio_turn")
    script.feed_through("response.output_audio.delta")  # 250 ms queued, response still open
    assert protocol.receive_playback(250, now=1.0) == []  # drained, but more audio may come
    script.feed_through("response.done")
    assert protocol.receive_playback(990, now=2.0) == []
    assert protocol.receive_playback(1000, now=2.1) == [PlaybackFinished(interrupted=False)]


# -- barge-in ----------------------------------------------------------------------------------------------


def test_barge_in_mid_item_truncates_at_the_played_ms_and_drops_late_deltas() -> None:
    protocol = ready()
    script = Script(protocol, "barge_in_while_generating")
    script.feed_through("response.output_audio.delta")
    script.feed_through("response.output_audio.delta")
    script.feed_through("response.output_audio.delta")  # 750 ms received
    assert protocol.playback_cursor_ms == 750  # the end of what was queued for playback
    assert protocol.receive_playback(600, now=1.0) == []
    assert script.feed("input_audio_buffer.speech_started", now=1.0) == [
        ClearPlayback(),
        SendEvent(truncate_item(A2, 600)),
        Interrupted(A2, 600),
        PlaybackFinished(interrupted=True),
        UserSpeechStarted(U3, 4730),
    ]
    assert protocol.playback_cursor_ms == 600  # the unplayed rest was cleared
    # The server had already generated 250 ms more: dropped, with its transcript delta.
    assert script.feed("response.output_audio_transcript.delta") == []
    assert script.feed("response.output_audio.delta") == []
    assert script.feed("response.output_audio.done") == []
    transcript = "I can help with that. First, open the Settings app, then tap General "
    heard = heard_prefix(transcript, 600 / 1000)  # 600 ms played of 1000 ms generated
    assert heard == "I can help with that. First, open the"  # 42 of 70 characters, cut back to a word
    assert script.feed("response.output_audio_transcript.done") == [
        AssistantTranscript(A2, heard, interrupted=True)
    ]
    script.feed("response.content_part.done")
    script.feed("response.output_item.done")
    script.feed("conversation.item.done")
    assert script.feed("response.done") == [
        ResponseFinished(R2, "cancelled", usage_of(script, 26), "turn_detected")
    ]
    assert script.feed_rest() == [UserSpeechStopped(U3, 5900)]
    assert protocol.history.format() == (
        "[USER]: How do I find my phone's serial number?\n"
        "[ASSISTANT, INTERRUPTED]: I can help with that. First, open the"
    )


def test_barge_in_after_generation_finished_while_audio_still_plays() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_rest(now=1.0)  # the whole reply is in, response.done included
    assert protocol.receive_playback(400, now=1.4) == []
    barge = Script(protocol, "user_barges_in")
    assert barge.feed("input_audio_buffer.speech_started", now=1.4) == [
        ClearPlayback(),
        SendEvent(truncate_item(A1, 400)),
        Interrupted(A1, 400),
        PlaybackFinished(interrupted=True),
        UserSpeechStarted(U4, 5210),
    ]
    assert not protocol.response_active  # nothing to cancel: generation was over
    barge.feed_rest()
    assert protocol.history.format() == (
        "[USER]: What's the weather like today?\n[ASSISTANT, INTERRUPTED]: Sure, the"
    )


def test_no_truncate_after_playback_finished() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_rest(now=1.0)
    assert protocol.receive_playback(1000, now=2.0) == [PlaybackFinished(interrupted=False)]
    barge = Script(protocol, "user_barges_in")
    assert barge.feed("input_audio_buffer.speech_started", now=6.0) == [UserSpeechStarted(U4, 5210)]
    assert protocol.history.turns[-1] == ConversationTurn(
        "assistant", "Sure, the weather is sunny today.", A1
    )


def test_no_truncate_when_nothing_was_played_yet() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_rest(now=1.0)
    assert Script(protocol, "user_barges_in").feed("input_audio_buffer.speech_started", now=1.0) == [
        ClearPlayback(),
        Interrupted(A1, 0),
        PlaybackFinished(interrupted=True),
        UserSpeechStarted(U4, 5210),
    ]
    # Nothing was heard, so the assistant turn is gone from the history.
    assert protocol.history.turns == [ConversationTurn("user", "What's the weather like today?", U1)]


def test_barge_in_before_any_audio_drops_the_cancelled_reply() -> None:
    protocol = ready()
    script = Script(protocol, "barge_in_while_generating")
    script.feed_through("response.content_part.added")
    # The user speaks before any audio arrived: nothing to clear, and the server cancels the response.
    speech = json.dumps(
        {
            "type": "input_audio_buffer.speech_started",
            "event_id": "event_x1",
            "audio_start_ms": 2500,
            "item_id": U3,
        }
    )
    assert checked(protocol.receive_json(speech, 1.0)) == [UserSpeechStarted(U3, 2500)]
    script.feed_to(22)  # the audio generated before the cancel, and the fixture's own speech_started
    assert script.feed("response.output_audio_transcript.done") == [
        AssistantTranscript(A2, "", interrupted=True)
    ]
    script.feed_through("response.done")
    assert protocol.history.format() == "[USER]: How do I find my phone's serial number?"


def test_interrupt_response_off_makes_the_client_cancel() -> None:
    protocol = ready(SessionConfig(turn_detection=ServerVAD(interrupt_response=False)))
    script = Script(protocol, "barge_in_while_generating")
    script.feed_through("response.output_audio.delta")
    protocol.receive_playback(100, now=1.0)
    assert script.feed("response.output_audio_transcript.delta") != []
    assert script.feed("response.output_audio.delta") != []
    assert script.feed("response.output_audio_transcript.delta") != []
    assert script.feed("response.output_audio.delta") != []
    assert script.feed("input_audio_buffer.speech_started", now=1.0) == [
        ClearPlayback(),
        SendEvent(truncate_item(A2, 100)),
        SendEvent(cancel_response(R2)),
        Interrupted(A2, 100),
        PlaybackFinished(interrupted=True),
        UserSpeechStarted(U3, 4730),
    ]


def test_interrupt_response_off_and_nothing_playing_lets_the_response_go_on() -> None:
    protocol = ready(SessionConfig(turn_detection=ServerVAD(interrupt_response=False)))
    script = Script(protocol, "barge_in_while_generating")
    script.feed_through("response.content_part.added")
    speech = json.dumps(
        {
            "type": "input_audio_buffer.speech_started",
            "event_id": "event_x2",
            "audio_start_ms": 2500,
            "item_id": U3,
        }
    )
    assert protocol.receive_json(speech, 1.0) == [UserSpeechStarted(U3, 2500)]
    assert script.feed("response.output_audio_transcript.delta") == [
        AssistantTranscriptDelta(A2, "I can help with that. ")
    ]
    assert script.feed("response.output_audio.delta") == [PlayAudio(A2, audio(script, 13))]


def test_local_interrupt_cancels_the_active_response() -> None:
    protocol = ready()
    script = Script(protocol, "barge_in_while_generating")
    script.feed_through("response.output_audio.delta")
    script.feed_through("response.output_audio.delta")
    protocol.receive_playback(320, now=1.0)
    assert checked(protocol.interrupt(now=1.0)) == [
        ClearPlayback(),
        SendEvent(truncate_item(A2, 320)),
        SendEvent(cancel_response(R2)),
        Interrupted(A2, 320),
        PlaybackFinished(interrupted=True),
    ]
    assert script.feed("response.output_audio_transcript.delta") == []
    assert script.feed("response.output_audio.delta") == []
    assert protocol.interrupt(now=1.1) == []  # already cancelled, nothing playing
    assert protocol.response_active  # until its response.done


def test_local_interrupt_of_a_pending_response_cancels_it_once_created() -> None:
    protocol = ready()
    assert protocol.request_response() == [plain_create("rtvoice_1")]
    assert protocol.interrupt(now=1.0) == []
    script = Script(protocol, "barge_in_while_generating")
    script.feed_through("conversation.item.input_audio_transcription.completed")
    assert script.feed("response.created") == [AssistantResponseStarted(R2), SendEvent(cancel_response(R2))]
    assert [a for a in script.feed_through("response.output_audio.delta") if isinstance(a, PlayAudio)] == []


def test_local_interrupt_with_nothing_going_on_does_nothing() -> None:
    assert ready().interrupt(now=5.0) == []


def test_exact_position_after_a_clear_keeps_later_truncations_exact() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_rest(now=1.0)
    protocol.receive_playback(600, now=1.6)
    assert ClearPlayback() in Script(protocol, "user_barges_in").feed_rest(now=1.6)
    # The device had in fact played 640 ms when it executed the clear.
    assert protocol.receive_playback_cleared(640) == []
    Script(protocol, "tool_follow_up").feed_rest(now=2.0)  # 500 ms more, queued from 640 on
    protocol.receive_playback(640 + 300, now=2.3)
    assert checked(protocol.interrupt(now=2.3))[:2] == [ClearPlayback(), SendEvent(truncate_item(A8, 300))]


def test_without_the_exact_position_the_cursor_moves_back_to_the_played_position() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_rest(now=1.0)
    protocol.receive_playback(600, now=1.6)
    Script(protocol, "user_barges_in").feed_rest(now=1.6)
    Script(protocol, "tool_follow_up").feed_rest(now=2.0)  # queued from 600 on
    protocol.receive_playback(600 + 250, now=2.3)
    assert checked(protocol.interrupt(now=2.3))[:2] == [ClearPlayback(), SendEvent(truncate_item(A8, 250))]


def test_device_reports_are_validated() -> None:
    protocol = ready()
    with pytest.raises(LocalProtocolError, match="without a ClearPlayback"):
        protocol.receive_playback_cleared(10)
    protocol.receive_playback(100, now=1.0)
    with pytest.raises(LocalProtocolError, match="backwards"):
        protocol.receive_playback(99, now=1.0)
    with pytest.raises(LocalProtocolError, match="finite"):
        protocol.receive_playback(float("nan"), now=1.0)
    with pytest.raises(LocalProtocolError, match="finite"):
        protocol.receive_playback(-1, now=1.0)


def test_second_item_offsets_follow_the_first_on_the_playback_stream() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_rest(now=1.0)  # A1: stream 0..1000 ms
    Script(protocol, "tool_follow_up").feed_rest(now=1.1)  # A8: stream 1000..1500 ms
    assert protocol.receive_playback(1000, now=2.0) == []  # A1 played out, A8 begins
    protocol.receive_playback(1200, now=2.2)
    assert checked(protocol.interrupt(now=2.2))[:2] == [ClearPlayback(), SendEvent(truncate_item(A8, 200))]
    # A1 was heard in full and stays so; A8 was cut at 200 of 500 ms.
    assert protocol.history.turns[1] == ConversationTurn("assistant", "Sure, the weather is sunny today.", A1)
    text = "It's 18 degrees and sunny in Paris, and 3:04 pm."
    assert protocol.history.turns[2] == ConversationTurn(
        "assistant", heard_prefix(text, 0.4), A8, interrupted=True
    )


def test_g711_output_counts_8_bytes_per_ms() -> None:
    protocol = ready(SessionConfig(output_format=AudioFormat.PCMU_8K, input_format=AudioFormat.PCMU_8K))
    Script(protocol, "audio_turn").feed_rest(now=1.0)  # 4 × 12000 bytes = 4 × 1500 ms of μ-law
    protocol.receive_playback(2000, now=3.0)
    assert checked(protocol.interrupt(now=3.0))[:2] == [ClearPlayback(), SendEvent(truncate_item(A1, 2000))]


def test_wall_clock_fallback_without_device_reports() -> None:
    protocol = ready(device_reports=False)
    actions = Script(protocol, "audio_turn").feed_rest(now=10.0)
    # The device does not report: the protocol estimates, and asks to be woken when the audio is over.
    assert actions[-1] == ArmTimer(11.0)
    assert protocol.on_timer(10.5) == [ArmTimer(11.0)]
    assert checked(protocol.interrupt(now=10.4))[:2] == [ClearPlayback(), SendEvent(truncate_item(A1, 400))]


def test_wall_clock_fallback_finishes_and_never_truncates_afterwards() -> None:
    protocol = ready(device_reports=False)
    Script(protocol, "audio_turn").feed_rest(now=10.0)
    assert protocol.on_timer(11.0) == [PlaybackFinished(interrupted=False)]
    assert Script(protocol, "user_barges_in").feed("input_audio_buffer.speech_started", now=11.5) == [
        UserSpeechStarted(U4, 5210)
    ]


def test_wall_clock_estimate_is_clamped_to_the_audio_received() -> None:
    protocol = ready(device_reports=False)
    script = Script(protocol, "barge_in_while_generating")
    script.feed_through("response.output_audio.delta", now=10.0)  # 250 ms received at t=10
    script.feed_through("response.output_audio.delta", now=10.1)  # 500 ms
    # At t=10.4 the clock says 400 ms played; at t=20 it would say 10 s, but only 500 ms exist.
    assert protocol.assistant_playing(10.4)
    assert not protocol.assistant_playing(20.0)


def test_audio_of_a_finished_or_unknown_response_is_ignored() -> None:
    protocol = ready()
    script = Script(protocol, "audio_turn")
    script.feed_rest(now=1.0)
    late = script.lines[19]  # an audio delta of resp_1, after its response.done
    assert protocol.receive_json(late, 2.0) == []
    assert Script(protocol, "text_response").feed("response.created")  # a new response, no audio


# -- one response at a time ----------------------------------------------------------------------------------


def test_second_request_is_queued_until_response_done() -> None:
    protocol = ready()
    assert protocol.request_response() == [plain_create("rtvoice_1")]
    params = RealtimeResponseCreateParams(instructions="Summarise.")
    assert protocol.request_response(params) == []
    assert protocol.request_response(params) == []  # coalesced
    assert protocol.queued_responses == 1
    script = Script(protocol, "text_response")
    assert script.feed("response.created") == [AssistantResponseStarted("resp_CT8fAaRspTMm8B")]
    actions = script.feed_rest()
    assert actions[-1] == SendEvent(
        ResponseCreateEvent(type="response.create", event_id="rtvoice_2", response=params)
    )
    assert protocol.queued_responses == 0
    assert protocol.response_active


def test_a_vad_response_counts_as_active() -> None:
    protocol = ready()
    script = Script(protocol, "audio_turn")
    script.feed_through("response.created")
    assert protocol.request_response() == []
    assert script.feed_rest()[-1] == plain_create("rtvoice_1")


def test_the_queue_is_bounded() -> None:
    protocol = ready()
    protocol.request_response()
    for n in range(MAX_QUEUED_RESPONSES):
        protocol.request_response(RealtimeResponseCreateParams(instructions=f"step {n}"))
    with pytest.raises(LocalProtocolError, match="queued"):
        protocol.request_response(RealtimeResponseCreateParams(instructions="one too many"))


def test_a_create_refused_because_vad_got_in_first_is_sent_again_afterwards() -> None:
    protocol = ready()
    assert protocol.request_response() == [plain_create("rtvoice_1")]
    race = Script(protocol, "vad_race")
    assert race.feed("response.created") == [AssistantResponseStarted(RV)]
    [error] = race.feed("error")
    assert isinstance(error, UpstreamErrorReceived)
    assert (error.code, error.event_id, error.fatal) == (
        "conversation_already_has_active_response",
        "rtvoice_1",
        False,
    )
    assert protocol.queued_responses == 1
    assert race.feed("response.done")[-1] == plain_create("rtvoice_2")


def test_a_create_refused_while_still_pending_is_retried_at_once() -> None:
    protocol = ready()
    protocol.request_response()
    errors = Script(protocol, "errors")
    errors.feed("error")  # response_cancel_not_active: not about our request
    assert errors.feed("error")[1:] == [plain_create("rtvoice_2")]


def test_a_create_that_failed_otherwise_is_dropped() -> None:
    protocol = ready()
    protocol.request_response()
    later = RealtimeResponseCreateParams(instructions="later")
    protocol.request_response(later)
    errors = Script(protocol, "errors")
    errors.position = 2  # invalid_value for rtvoice_1
    actions = errors.feed("error")
    assert actions[1:] == [
        SendEvent(ResponseCreateEvent(type="response.create", event_id="rtvoice_2", response=later))
    ]
    assert protocol.queued_responses == 0


def test_custom_event_ids() -> None:
    ids = iter(["a", "b"])
    protocol = RealtimeProtocol(SessionConfig(), id_factory=lambda: next(ids))
    start = Script(protocol, "session_start")
    start.feed("session.created")
    start.feed("session.updated")
    assert protocol.request_response() == [plain_create("a")]


# -- function calls ------------------------------------------------------------------------------------------


def tool_call_response(protocol: RealtimeProtocol) -> list[Action]:
    return Script(protocol, "tool_calls").feed_rest(now=1.0)


def test_tool_calls_are_reported_once_after_the_response_completed() -> None:
    protocol = ready()
    script = Script(protocol, "tool_calls")
    before = script.feed_to(33)
    assert not any(isinstance(a, ToolCall) for a in before)  # not at function_call_arguments.done
    assert script.feed("response.done") == [
        ToolCall(CALL_WEATHER, "get_weather", '{"city":"Paris"}', R7),
        ToolCall(CALL_TIME, "get_time", '{"timezone":"Europe/Paris"}', R7),
        ResponseFinished(R7, "completed", usage_of(script, 33)),
    ]
    assert protocol.outstanding_calls == {CALL_WEATHER, CALL_TIME}


def test_tool_outputs_are_batched_into_one_follow_up_response() -> None:
    protocol = ready()
    tool_call_response(protocol)
    assert checked(protocol.send_function_output(CALL_TIME, "15:04")) == [
        SendEvent(function_output(CALL_TIME, "15:04"))
    ]
    assert checked(protocol.send_function_output(CALL_WEATHER, "18°C, sunny")) == [
        SendEvent(function_output(CALL_WEATHER, "18°C, sunny")),
        plain_create("rtvoice_1"),
    ]
    wire = json.loads(encode_client_event(function_output(CALL_TIME, "15:04")))
    assert wire == {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": CALL_TIME, "output": "15:04"},
    }
    follow_up = Script(protocol, "tool_follow_up")
    assert follow_up.feed_rest(now=2.0)[-1] == ResponseFinished(R8, "completed", usage_of(follow_up, 18))
    assert protocol.outstanding_calls == frozenset()


def test_answering_an_unknown_or_answered_call_is_an_error() -> None:
    protocol = ready()
    with pytest.raises(LocalProtocolError, match="no outstanding"):
        protocol.send_function_output("call_nope", "x")
    tool_call_response(protocol)
    protocol.send_function_output(CALL_TIME, "15:04")
    with pytest.raises(LocalProtocolError, match="no outstanding"):
        protocol.send_function_output(CALL_TIME, "15:04")


def test_follow_up_waits_for_a_response_still_active() -> None:
    protocol = ready()
    tool_call_response(protocol)
    assert protocol.request_response() == [plain_create("rtvoice_1")]  # e.g. a holding phrase
    protocol.send_function_output(CALL_WEATHER, "18°C")
    assert protocol.send_function_output(CALL_TIME, "15:04") == [
        SendEvent(function_output(CALL_TIME, "15:04"))
    ]
    assert protocol.queued_responses == 1
    assert Script(protocol, "text_response").feed_rest()[-1] == plain_create("rtvoice_2")


def test_silent_tools_need_no_follow_up_and_the_first_override_wins() -> None:
    protocol = ready()
    tool_call_response(protocol)
    protocol.send_function_output(CALL_WEATHER, "ok", respond=False)
    assert protocol.send_function_output(CALL_TIME, "ok", respond=False) == [
        SendEvent(function_output(CALL_TIME, "ok"))
    ]

    protocol = ready()
    tool_call_response(protocol)
    first = RealtimeResponseCreateParams(instructions="Give the weather first.", tool_choice="auto")
    protocol.send_function_output(CALL_WEATHER, "18°C", follow_up=first)
    second = RealtimeResponseCreateParams(instructions="ignored")
    assert protocol.send_function_output(CALL_TIME, "15:04", follow_up=second)[-1] == SendEvent(
        ResponseCreateEvent(type="response.create", event_id="rtvoice_1", response=first)
    )


def test_calls_of_a_cancelled_response_are_answered_not_run() -> None:
    protocol = ready()
    script = Script(protocol, "tool_call_cancelled")
    script.feed_to(14)
    not_run = NOT_EXECUTED_OUTPUT.format(status="cancelled")
    assert script.feed("response.done") == [
        SendEvent(function_output("call_Hg7uP2xR4kW1", not_run, after="item_CT8f9bFnA9Vb3N")),
        SendEvent(function_output("call_Qe3sY8vN0dJ6", not_run, after="item_CT8f9cFnB9Vb3N")),
        ResponseFinished("resp_CT8f9bRsp9Vb3N", "cancelled", usage_of(script, 14), "turn_detected"),
    ]
    assert protocol.outstanding_calls == frozenset()
    assert not protocol.response_active


# -- transcripts and history -------------------------------------------------------------------------------------


def test_turns_are_ordered_by_item_even_when_user_transcripts_arrive_late() -> None:
    protocol = ready()
    script = Script(protocol, "late_user_transcript")
    actions = script.feed_to(22, now=1.0)
    protocol.receive_playback(200, now=1.2)  # the first reply (200 ms) was heard in full
    actions += script.feed_rest(now=5.0)
    transcripts = [a for a in actions if isinstance(a, UserTranscript | AssistantTranscript)]
    assert [a.text for a in transcripts] == [
        "Hello! How can I help?",
        "Hi there.",
        "It's noon.",
        "What time is it?",
    ]
    assert protocol.history.format() == (
        "[USER]: Hi there.\n[ASSISTANT]: Hello! How can I help?\n[USER]: What time is it?\n[ASSISTANT]: It's noon."
    )


def test_text_response() -> None:
    protocol = ready(SessionConfig(output_modalities="text"))
    script = Script(protocol, "text_response")
    assert script.feed_rest() == [
        AssistantResponseStarted("resp_CT8fAaRspTMm8B"),
        AssistantTranscriptDelta("item_CT8fAaTxt1Mm8B", "Paris is the capital "),
        AssistantTranscriptDelta("item_CT8fAaTxt1Mm8B", "of France."),
        AssistantTranscript("item_CT8fAaTxt1Mm8B", "Paris is the capital of France.", interrupted=False),
        ResponseFinished("resp_CT8fAaRspTMm8B", "completed", usage_of(script, 10)),
    ]
    assert protocol.history.format() == "[ASSISTANT]: Paris is the capital of France."


def test_deleted_items_leave_the_history() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_rest()
    assert Script(protocol, "item_deleted").feed_rest() == []
    assert protocol.history.format() == "[ASSISTANT]: Sure, the weather is sunny today."


def test_user_message_with_image() -> None:
    protocol = ready()
    image = "data:image/png;base64,iVBORw0KGgo="
    assert checked(protocol.send_user_message("What is this?", image_url=image)) == [
        SendEvent(user_message_item("What is this?", image_url=image)),
        plain_create("rtvoice_1"),
    ]
    assert protocol.send_user_message("Note this.", respond=False) == [
        SendEvent(user_message_item("Note this."))
    ]
    wire = json.loads(encode_client_event(user_message_item("What is this?", image_url=image)))
    assert wire["item"]["content"] == [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": image},
    ]


# -- errors and odd input ---------------------------------------------------------------------------------------


def test_errors_are_classified_fatal_or_not() -> None:
    protocol = ready()
    actions = Script(protocol, "errors").feed_rest()
    assert [(a.code, a.fatal) for a in actions if isinstance(a, UpstreamErrorReceived)] == [
        ("response_cancel_not_active", False),
        ("conversation_already_has_active_response", False),
        ("invalid_value", False),
        ("session_expired", True),
        (None, True),  # server_error
        ("missing_required_parameter", False),
        ("invalid_api_key", True),
        ("audio_unintelligible", False),  # a failed user transcription
    ]
    assert actions[-1] == UpstreamErrorReceived(
        "transcription_error",
        "audio_unintelligible",
        "Audio could not be transcribed.",
        None,
        Script(protocol, "errors").event(7)["event_id"],
        fatal=False,
    )


def test_an_error_before_the_session_is_ready_is_fatal() -> None:
    protocol = RealtimeProtocol(SessionConfig())
    errors = Script(protocol, "errors")
    errors.position = 5  # missing_required_parameter: our session.update was refused
    [error] = errors.feed("error")
    assert isinstance(error, UpstreamErrorReceived) and error.fatal
    assert error.param == "session.type"


def test_ignored_and_unknown_events() -> None:
    protocol = ready()
    assert Script(protocol, "ignored_events").feed_rest() == []
    assert protocol.receive_json('{"type":"response.brand_new_thing","event_id":"e"}', 0.0) == []
    assert protocol.receive_json(b'{"type":"response.brand_new_thing","event_id":"f"}', 0.0) == []
    assert protocol.unknown_events == {"response.brand_new_thing": 2}
    event = RateLimitsUpdatedEvent(type="rate_limits.updated", event_id="e", rate_limits=[])
    assert protocol.receive_event(event, 0.0) == []


def test_malformed_events_of_ignored_types_are_counted() -> None:
    protocol = ready()
    # The SDK types content parts as text/audio; if the server says output_audio, that must not end a call.
    part = '{"type":"response.content_part.added","event_id":"e","response_id":"r","item_id":"i",'
    part += '"output_index":0,"content_index":0,"part":{"type":"output_audio","transcript":""}}'
    assert protocol.receive_json(part, 0.0) == []
    assert protocol.ignored_malformed_events == {"response.content_part.added": 1}


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        '{"event_id":"e"}',
        '{"type":7}',
        '{"type":"response.done","event_id":"e"}',
        '{"type":"response.created","event_id":"e","response":{"status":"in_progress"}}',
    ],
)
def test_malformed_frames_raise_remote_protocol_error(frame: str) -> None:
    with pytest.raises(RemoteProtocolError):
        ready().receive_json(frame, 0.0)


def test_an_audio_delta_that_is_not_base64_raises_remote_protocol_error() -> None:
    protocol = ready()
    Script(protocol, "audio_turn").feed_through("response.created")
    delta: dict[str, object] = {"type": "response.output_audio.delta", "event_id": "e", "response_id": R1}
    delta["item_id"] = A1
    delta |= {"output_index": 0, "content_index": 0, "delta": "abc"}
    with pytest.raises(RemoteProtocolError, match="base64"):
        protocol.receive_json(json.dumps(delta), 0.0)
    delta["delta"] = ""
    assert protocol.receive_json(json.dumps(delta), 0.0) == []  # an empty delta plays nothing


# -- session updates ------------------------------------------------------------------------------------------


def test_speed_and_tools_updates() -> None:
    protocol = ready()
    [speed] = checked(protocol.set_speech_speed(1.25))
    assert isinstance(speed, SendEvent)
    assert json.loads(encode_client_event(speed.event)) == {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"output": {"speed": 1.25}}},
    }
    with pytest.raises(LocalProtocolError, match="speech_speed"):
        protocol.set_speech_speed(3.0)
    tool = RealtimeFunctionTool(type="function", name="cancel_supervisor", description="Stop.", parameters={})
    [tools] = checked(protocol.set_tools([tool], "auto"))
    assert isinstance(tools, SendEvent)
    assert json.loads(encode_client_event(tools.event)) == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "tools": [
                {"type": "function", "name": "cancel_supervisor", "description": "Stop.", "parameters": {}}
            ],
            "tool_choice": "auto",
        },
    }


def test_function_output_placement_and_sdk_shape() -> None:
    event = function_output("call_1", "done", after="item_1")
    assert event == ConversationItemCreateEvent(
        type="conversation.item.create",
        item=RealtimeConversationItemFunctionCallOutput(
            type="function_call_output", call_id="call_1", output="done"
        ),
        previous_item_id="item_1",
    )


def test_a_reply_cancelled_before_any_audio_was_generated_was_not_heard() -> None:
    protocol = ready()
    script = Script(protocol, "barge_in_while_generating")
    script.feed_to(12)  # up to response.content_part.added: no audio yet
    speech = script.lines[18]  # the user's speech_started; the server cancels before generating audio
    assert protocol.receive_json(speech, 1.0) == [UserSpeechStarted(U3, 4730)]
    transcript_done = script.lines[22]
    assert protocol.receive_json(transcript_done, 1.0) == [AssistantTranscript(A2, "", interrupted=True)]
    assert protocol.history.format() == "[USER]: How do I find my phone's serial number?"


def test_items_without_id_and_responses_without_id_are_tolerated() -> None:
    protocol = ready()
    added: dict[str, object] = {"type": "conversation.item.added", "event_id": "e1", "previous_item_id": None}
    added["item"] = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    assert protocol.receive_json(json.dumps(added), 0.0) == []
    done = {"type": "response.done", "event_id": "e2", "response": {"status": "failed"}}
    assert protocol.receive_json(json.dumps(done), 0.0) == [ResponseFinished(None, "failed", None)]
    assert protocol.history.turns == []
