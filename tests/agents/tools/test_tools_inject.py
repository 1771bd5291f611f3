"""Inject[T]: filled from the ToolContext by type, hidden from the model, never overridable by it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol

import pytest
from pydantic import BaseModel

from rtvoice.conversation import ConversationHistory
from rtvoice.event_bus import EventBus
from rtvoice.exceptions import ConfigurationError
from rtvoice.tools import Inject, ToolContext, ToolErrorKind, Tools

TIMEOUT = 5.0  # a safety net only; nothing here is timed


@dataclass
class AppState:
    user_name: str
    premium: bool


class PhoneCall:
    def __init__(self, sid: str) -> None:
        self.sid = sid


class Caller(Protocol):  # not runtime-checkable: only an extras entry keyed by it can match
    def number(self) -> str: ...


class FakeCaller:
    def number(self) -> str:
        return "+15550100"


def history_with(*lines: tuple[str, str]) -> ConversationHistory:
    history = ConversationHistory()
    previous = None
    for index, (role, text) in enumerate(lines):
        item = f"item_{index}"
        history.place_item(item, previous)
        history.set_transcript(item, "user" if role == "user" else "assistant", text)
        previous = item
    return history


async def test_readme_inject_examples_event_bus_history_and_custom_context() -> None:
    tools = Tools()
    seen: dict[str, object] = {}

    @tools.action("Summarise the conversation so far")
    async def summarise(history: Inject[ConversationHistory]) -> str:
        return history.format()

    @tools.action("Greet the user by name")
    async def greet(state: Inject[AppState]) -> str:
        tier = "premium" if state.premium else "free"
        return f"Hello {state.user_name}, you are on the {tier} plan."

    @tools.action("Look at the bus")
    def bus_tool(bus: Inject[EventBus]) -> str:
        seen["bus"] = bus
        return "ok"

    bus = EventBus()
    context = ToolContext(
        event_bus=bus,
        context=AppState(user_name="Alice", premium=True),
        conversation_history=history_with(("user", "Hi"), ("assistant", "Hello!")),
    )
    summary = await tools.invoke("summarise", "", context=context, timeout=TIMEOUT)
    assert summary.ok and summary.output == "[USER]: Hi\n[ASSISTANT]: Hello!"
    greeting = await tools.invoke("greet", "{}", context=context, timeout=TIMEOUT)
    assert greeting.output == "Hello Alice, you are on the premium plan."
    assert (await tools.invoke("bus_tool", "{}", context=context, timeout=TIMEOUT)).ok
    assert seen["bus"] is bus
    await bus.aclose()


async def test_the_model_cannot_override_an_injected_parameter(caplog: pytest.LogCaptureFixture) -> None:
    # rtvoice 0.7.0 let a key named like an injected parameter win over the injected value.
    tools = Tools()

    @tools.action("Greet")
    async def greet(city: str, state: Inject[AppState]) -> str:
        return f"{state.user_name} in {city}"

    context = ToolContext(context=AppState("Alice", premium=False))
    arguments = json.dumps({"city": "Oslo", "state": {"user_name": "Mallory", "premium": True}})
    with caplog.at_level(logging.WARNING, logger="rtvoice.tools"):
        result = await tools.invoke("greet", arguments, context=context, timeout=TIMEOUT)
    assert result.ok and result.output == "Alice in Oslo"
    assert "injected parameters cannot be set by the model" in caplog.text


async def test_param_model_tools_keep_injected_parameters_apart_from_the_model() -> None:
    class Params(BaseModel):
        state: str  # same name as the injected parameter, but it belongs to the model

    tools = Tools()

    @tools.action("Echo", param_model=Params)
    def echo(params: Params, state: Inject[AppState]) -> str:
        return f"{params.state}/{state.user_name}"

    context = ToolContext(context=AppState("Alice", premium=False))
    result = await tools.invoke("echo", '{"state": "from-model"}', context=context, timeout=TIMEOUT)
    assert result.output == "from-model/Alice"
    assert list(tools.definitions()[0].parameters["properties"]) == ["state"]  # type: ignore[index]


async def test_resolution_is_by_isinstance_in_a_fixed_order_and_the_first_match_wins() -> None:
    class Base:
        pass

    class Special(Base):
        pass

    tools = Tools()

    @tools.action("Which")
    def which(thing: Inject[Base]) -> str:
        return type(thing).__name__ + ("/extra" if getattr(thing, "extra", False) else "")

    later = Base()
    later.extra = True  # type: ignore[attr-defined]
    # The custom context comes before the extras, so it wins even though both match.
    first = ToolContext(context=Special(), extras={Base: later})
    assert (await tools.invoke("which", "", context=first, timeout=TIMEOUT)).output == "Special"
    only_extra = ToolContext(context=AppState("A", premium=False), extras={Base: later})
    assert (await tools.invoke("which", "", context=only_extra, timeout=TIMEOUT)).output == "Base/extra"


async def test_extras_inject_further_objects_by_type_or_by_key() -> None:
    tools = Tools()

    @tools.action("Hang up")
    async def hang_up(call: Inject[PhoneCall], caller: Inject[Caller]) -> str:
        return f"{call.sid} {caller.number()}"

    context = ToolContext().with_extras({PhoneCall: PhoneCall("CA123")}).with_extras({Caller: FakeCaller()})
    result = await tools.invoke("hang_up", "", context=context, timeout=TIMEOUT)
    assert result.output == "CA123 +15550100"
    # By isinstance too: the key does not have to be the exact type.
    assert ToolContext(extras={"call": PhoneCall("CA9")}).get(PhoneCall).sid == "CA9"  # type: ignore[union-attr]
    assert ToolContext().get(PhoneCall) is None
    assert ToolContext(extras={PhoneCall: None}).get(PhoneCall) is None  # None is never injected


async def test_nothing_to_inject_uses_the_default_then_none_for_optional_else_an_error_output(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = Tools()
    fallback = AppState("Default", premium=False)

    @tools.action("With default")
    def with_default(state: Inject[AppState] = fallback) -> str:
        return state.user_name

    @tools.action("Optional")
    def optional(state: Inject[AppState | None], bus: Inject[EventBus] | None) -> str:
        return f"{state} {bus}"

    @tools.action("Required")
    def required(state: Inject[AppState]) -> str:
        raise AssertionError("must not run")

    empty = ToolContext()
    assert (await tools.invoke("with_default", "", context=empty, timeout=TIMEOUT)).output == "Default"
    assert (await tools.invoke("optional", "", context=empty, timeout=TIMEOUT)).output == "None None"
    with caplog.at_level(logging.ERROR, logger="rtvoice.tools"):
        result = await tools.invoke("required", "", context=empty, timeout=TIMEOUT)
    assert not result.ok and result.error_kind is ToolErrorKind.MISSING_INJECTABLE
    assert (
        result.output
        == "Error: tool 'required' could not run: nothing to inject for its parameter 'state' (AppState)."
    )
    assert "nothing in the ToolContext matches Inject[AppState]" in caplog.text


async def test_inject_of_a_union_takes_the_first_injectable_matching_any_member() -> None:
    tools = Tools()

    @tools.action("Either")
    def either(thing: Inject[PhoneCall | AppState]) -> str:
        return type(thing).__name__

    context = ToolContext(extras={PhoneCall: PhoneCall("CA1")})
    assert (await tools.invoke("either", "", context=context, timeout=TIMEOUT)).output == "PhoneCall"


def test_get_refuses_what_is_not_a_class() -> None:
    with pytest.raises(ConfigurationError, match="needs a class"):
        ToolContext().get("AppState")  # type: ignore[arg-type]
