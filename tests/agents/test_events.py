"""Agent events: frozen values under one base class, with the fields the listener and the agent need."""

from __future__ import annotations

import dataclasses

import pytest

from rtvoice import events
from rtvoice.events import (
    AgentError,
    AgentErrorEvent,
    AgentEvent,
    AgentInterrupted,
    AgentStopped,
    AssistantTranscript,
    UserInactivityCountdown,
    UserTranscript,
)

EVENT_CLASSES = [getattr(events, name) for name in events.__all__ if name not in ("AgentError", "AgentEvent")]


def test_every_event_is_a_frozen_agent_event_dataclass() -> None:
    assert len(EVENT_CLASSES) == 19  # the 16 of 0.7.0's listener, plus tool start/finish and usage
    for cls in EVENT_CLASSES:
        assert issubclass(cls, AgentEvent), cls
        assert dataclasses.is_dataclass(cls), cls
        params = vars(cls)["__dataclass_params__"]
        assert params.frozen, cls


def test_events_are_immutable_values() -> None:
    event = UserTranscript("hello", item_id="item_1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.transcript = "changed"  # type: ignore[misc]
    assert event == UserTranscript(transcript="hello", item_id="item_1")
    assert event != UserTranscript("hello")
    assert len({event, UserTranscript("hello", item_id="item_1")}) == 1
    # slots: no stray attributes can be attached
    with pytest.raises((AttributeError, TypeError)):
        object.__setattr__(event, "extra", 1)


def test_agent_error_fields() -> None:
    error = AgentError("invalid_request_error", "bad voice", code="invalid_value")
    assert (error.type, error.message, error.code, error.param, error.event_id) == (
        "invalid_request_error",
        "bad voice",
        "invalid_value",
        None,
        None,
    )
    assert AgentErrorEvent(error).error is error
    assert AgentError("x", "y").code is None


def test_interrupted_requires_item_and_played_ms() -> None:
    event = AgentInterrupted(item_id="item_9", played_ms=1234, response_id="resp_1")
    assert (event.item_id, event.played_ms, event.response_id) == ("item_9", 1234, "resp_1")
    with pytest.raises(TypeError):
        AgentInterrupted()  # type: ignore[call-arg]


def test_defaults() -> None:
    assert AgentStopped().reason == "stopped"
    assert AgentStopped("inactivity_timeout").error is None
    assert AssistantTranscript("hi").response_id is None
    assert UserInactivityCountdown(3).remaining_seconds == 3
