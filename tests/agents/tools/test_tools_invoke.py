"""Tool invocation: results serialised, every failure an error output, sync tools off the loop, timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import functools
import json
import logging
import math
import threading
import time
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import pytest
from pydantic import AliasChoices, BaseModel, Field

from rtvoice.exceptions import ConfigurationError, ToolError
from rtvoice.tools import ToolContext, ToolErrorKind, ToolResult, Tools, serialise_result
from rtvoice.tools.result import timeout_text

SAFETY_S = 5.0  # only a net so that a broken invoker fails instead of hanging; nothing here is timed
CTX = ToolContext()


async def call(
    tools: Tools, name: str, arguments: str | bytes | None = "", limit: float | None = SAFETY_S
) -> ToolResult:
    return await tools.invoke(name, arguments, context=CTX, timeout=limit)


class PlaySongParams(BaseModel):
    song: str = Field(description="Song title")
    volume: int = 5


class Address(BaseModel):
    city: str
    postcode: str = "0000"


class Order(BaseModel):
    item: str
    quantity: int = 1
    note: str | None = "none given"
    ship_to: Address | None = None
    extra_stops: list[Address] = []


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


# -- success ----------------------------------------------------------------------------------------------


async def test_readme_basic_tool() -> None:
    tools = Tools()

    @tools.action("Get the current weather for a given city")
    async def get_weather(city: str) -> str:
        return f"It's 18°C and partly cloudy in {city}."

    result = await call(tools, "get_weather", '{"city": "Berlin"}')
    assert result == ToolResult(
        call_name="get_weather",
        output="It's 18°C and partly cloudy in Berlin.",
        ok=True,
        duration_s=result.duration_s,
    )


async def test_duration_is_the_tools_own_run_time_on_success_and_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rtvoice.tools.invoke

    # A clock the tools advance: duration_s must be exactly the time that passed while the tool ran.
    now = [1000.0]
    monkeypatch.setattr(rtvoice.tools.invoke, "_clock", lambda: now[0])
    tools = Tools()

    @tools.action("Takes 2.5 s of the test's clock")
    async def slow(fail: bool) -> str:
        now[0] += 2.5
        if fail:
            raise ValueError("broken")
        return "done"

    @tools.action("Takes 0.75 s of the test's clock, in a thread")
    def threaded() -> str:
        now[0] += 0.75
        return "done"

    now[0] += 100.0  # time before the call (preparing it) is not the tool's
    ok = await call(tools, "slow", '{"fail": false}')
    failed = await call(tools, "slow", '{"fail": true}')
    in_thread = await call(tools, "threaded")
    assert (ok.ok, ok.duration_s) == (True, 2.5)
    assert (failed.error_kind, failed.duration_s) == (ToolErrorKind.TOOL_FAILED, 2.5)
    assert (in_thread.ok, in_thread.duration_s) == (True, 0.75)
    unknown = await call(tools, "nope")
    assert unknown.duration_s == 0.0  # never ran


class Reply(BaseModel):
    text: str
    extra: str | None = None


@pytest.mark.parametrize(
    ("value", "output"),
    [
        ("plain text", "plain text"),
        (None, "OK"),
        (Reply(text="hi"), '{"text":"hi"}'),
        ({"a": 1, "b": [True, None]}, '{"a": 1, "b": [true, null]}'),
        ([1, "two"], '[1, "two"]'),
        (42, "42"),
        (2.5, "2.5"),
        (True, "true"),
        (
            {"when": datetime.date(2026, 5, 3), "colour": Colour.RED},
            '{"when": "2026-05-03", "colour": "red"}',
        ),
        (
            {"point": Point(1, 2), "reply": Reply(text="x")},
            '{"point": {"x": 1, "y": 2}, "reply": {"text": "x"}}',
        ),
        ("ünïcode", "ünïcode"),
        ({"name": "Zoë"}, '{"name": "Zoë"}'),
    ],
)
def test_results_are_serialised_for_the_model(value: object, output: str) -> None:
    assert serialise_result(value) == output


def test_other_objects_serialise_as_their_str() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert serialise_result(Thing()) == '"a thing"'
    assert serialise_result({"thing": Thing()}) == '{"thing": "a thing"}'


async def test_sync_tool_runs_in_a_thread_while_the_event_loop_keeps_running() -> None:
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0.01)

    tools = Tools()

    @tools.action("Slow sync work")
    def slow() -> dict[str, int]:
        before = ticks
        time.sleep(0.3)  # blocks its thread only; on the loop, the ticker would not move at all
        return {"thread": threading.get_ident(), "progress": ticks - before}

    task = asyncio.create_task(ticker())
    result = await call(tools, "slow")
    running = False
    await task
    data = json.loads(result.output)
    assert result.ok and data["thread"] != threading.get_ident()
    assert data["progress"] >= 3  # the loop made progress while the tool slept


async def test_async_tools_run_on_the_loop() -> None:
    tools = Tools()

    @tools.action("Where")
    async def where() -> int:
        return threading.get_ident()

    assert (await call(tools, "where")).output == str(threading.get_ident())


async def test_a_sync_tool_returning_an_awaitable_is_awaited() -> None:
    tools = Tools()

    async def later(x: int) -> int:
        return x * 2

    def wrapper(x: int) -> Awaitable[int]:
        return later(x)

    tools.action("Double")(wrapper)
    assert (await call(tools, "wrapper", '{"x": 21}')).output == "42"


async def test_arguments_are_coerced_the_same_way_for_signature_and_param_model_tools() -> None:
    tools = Tools()

    @tools.action("Signature")
    def sig(song: str, volume: int = 5) -> str:
        return f"{song}:{volume!r}"

    @tools.action("Model", param_model=PlaySongParams)
    def model(params: PlaySongParams) -> str:
        return f"{params.song}:{params.volume!r}"

    for name in ("sig", "model"):
        assert (await call(tools, name, '{"song": "Hey", "volume": "3"}')).output == "Hey:3"
        refused = await call(tools, name, '{"song": 7}')
        assert refused.error_kind is ToolErrorKind.INVALID_ARGUMENTS
        assert (
            refused.output
            == f"Error: invalid arguments for tool {name!r}: song: Input should be a valid string."
        )


async def test_empty_or_missing_arguments_mean_no_arguments_and_bytes_are_accepted() -> None:
    tools = Tools()

    @tools.action("Nothing")
    def nothing(word: str = "default") -> str:
        return word

    for arguments in ("", "   ", None, "{}", b""):
        assert (await call(tools, "nothing", arguments)).output == "default"
    assert (await call(tools, "nothing", b'{"word": "b"}')).output == "b"


async def test_signature_tools_get_only_the_keys_sent_so_their_own_defaults_apply() -> None:
    sentinel = object()
    tools = Tools()

    @tools.action("Defaults")
    def defaults(a: int, marker: Any = sentinel, items: list[int] | None = None) -> str:
        return f"{a} {marker is sentinel} {items}"

    assert (await call(tools, "defaults", '{"a": 1}')).output == "1 True None"
    assert (await call(tools, "defaults", '{"a": 1, "items": [2]}')).output == "1 True [2]"


async def test_null_means_the_default_for_defaulted_fields_that_do_not_accept_none() -> None:
    # Strict schemas make every defaulted property nullable; the model sends null for "default".
    tools = Tools()

    @tools.action("Order", param_model=Order)
    def order(params: Order) -> Order:
        return params

    @tools.action("Sig")
    def sig(count: int = 2, label: str | None = "x") -> str:
        return f"{count} {label}"

    arguments = {
        "item": "tea",
        "quantity": None,
        "note": None,  # accepts None: stays None
        "ship_to": {"city": "Oslo", "postcode": None},
        "extra_stops": [{"city": "Bergen", "postcode": None}],
    }
    result = await call(tools, "order", json.dumps(arguments))
    assert json.loads(result.output) == {
        "item": "tea",
        "quantity": 1,
        "ship_to": {"city": "Oslo", "postcode": "0000"},
        "extra_stops": [{"city": "Bergen", "postcode": "0000"}],
    }
    assert (await call(tools, "sig", '{"count": null, "label": null}')).output == "2 None"
    # A null for a required field is still an error.
    assert (await call(tools, "order", '{"item": null}')).error_kind is ToolErrorKind.INVALID_ARGUMENTS


async def test_unexpected_keys_are_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    tools = Tools()

    @tools.action("Play", param_model=PlaySongParams)
    def play(params: PlaySongParams) -> str:
        return params.song

    @tools.action("Sig")
    def sig(song: str) -> str:
        return song

    with caplog.at_level(logging.WARNING, logger="rtvoice.tools"):
        assert (await call(tools, "play", '{"song": "a", "bogus": 1}')).output == "a"
        assert (await call(tools, "sig", '{"song": "b", "bogus": 1}')).output == "b"
    assert caplog.text.count("ignoring arguments the tool does not take: 'bogus'") == 2


async def test_param_models_that_allow_extra_keys_keep_them() -> None:
    class Open(BaseModel, extra="allow"):
        name: str

    tools = Tools()

    @tools.action("Open", param_model=Open)
    def open_(params: Open) -> dict[str, Any]:
        return params.model_dump()

    assert json.loads((await call(tools, "open_", '{"name": "n", "more": 1}')).output) == {
        "name": "n",
        "more": 1,
    }


async def test_get_type_hints_is_not_called_per_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = Tools()

    @tools.action("Add")
    def add(a: int, b: int) -> int:
        return a + b

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("get_type_hints called during a call")

    monkeypatch.setattr(typing, "get_type_hints", refuse)
    assert (await call(tools, "add", '{"a": 1, "b": 2}')).output == "3"


# -- failures ---------------------------------------------------------------------------------------------


async def test_unknown_tools_list_the_available_ones() -> None:
    tools = Tools()
    empty = await call(tools, "ghost")
    assert not empty.ok and empty.error_kind is ToolErrorKind.UNKNOWN_TOOL
    assert empty.output == "Error: there is no tool named 'ghost'; no tools are available."

    @tools.action("A")
    def alpha() -> None: ...

    @tools.action("B")
    def beta() -> None: ...

    result = await call(tools, "gamma", "not even json")
    assert result.output == "Error: there is no tool named 'gamma'. Available tools: alpha, beta."
    assert result.error == result.output and result.holding_instruction is None


@pytest.mark.parametrize(
    ("arguments", "detail"),
    [
        ('{"city": ', "Expecting value at position 9"),
        ("{'city': 'x'}", "Expecting property name enclosed in double quotes at position 1"),
        ("[1, 2]", "got list"),
        ('"Oslo"', "got str"),
        ("null", "got NoneType"),
    ],
)
async def test_arguments_that_are_not_a_json_object_give_an_error_output(arguments: str, detail: str) -> None:
    tools = Tools()

    @tools.action("Weather", holding_instruction="One moment.")
    def weather(city: str = "x") -> str:
        raise AssertionError("must not run")

    result = await call(tools, "weather", arguments)
    assert not result.ok and result.error_kind is ToolErrorKind.INVALID_JSON
    assert result.output == f"Error: the arguments for tool 'weather' are not a valid JSON object ({detail})."
    assert result.holding_instruction == "One moment." and result.duration_s == 0.0


async def test_invalid_arguments_name_each_problem() -> None:
    tools = Tools()

    @tools.action("Order", param_model=Order)
    def order(params: Order) -> None: ...

    result = await call(tools, "order", '{"quantity": "many", "ship_to": {"postcode": "1"}}')
    assert result.error_kind is ToolErrorKind.INVALID_ARGUMENTS
    assert result.output == (
        "Error: invalid arguments for tool 'order': item: Field required; quantity: Input should be a valid "
        "integer, unable to parse string as an integer; ship_to.city: Field required."
    )


async def test_many_problems_are_capped() -> None:
    tools = Tools()

    @tools.action("Many")
    def many(a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> None: ...

    result = await call(tools, "many", "{}")
    assert result.output.endswith("e: Field required; and 2 more.")


async def test_exceptions_become_short_error_outputs_and_the_traceback_goes_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = Tools()

    @tools.action("Boom", result_instruction="Say it nicely.", holding_instruction="Hold on.")
    async def boom(kind: Literal["value", "empty", "long", "sync"]) -> str:
        if kind == "value":
            raise ValueError("no such city:\n  Atlantis")
        if kind == "empty":
            raise KeyError
        raise RuntimeError("x" * 1000)

    @tools.action("Sync boom")
    def sync_boom() -> None:
        raise OSError("disk full")

    with caplog.at_level(logging.ERROR, logger="rtvoice.tools"):
        value = await call(tools, "boom", '{"kind": "value"}')
        empty = await call(tools, "boom", '{"kind": "empty"}')
        long = await call(tools, "boom", '{"kind": "long"}')
        sync = await call(tools, "sync_boom")
    assert value.output == "Error: tool 'boom' failed: ValueError: no such city: Atlantis"
    assert value.error_kind is ToolErrorKind.TOOL_FAILED and not value.ok
    assert value.result_instruction is None and value.holding_instruction == "Hold on."
    assert empty.output == "Error: tool 'boom' failed: KeyError"
    assert long.output.startswith("Error: tool 'boom' failed: RuntimeError: xxx") and long.output.endswith(
        "…"
    )
    assert len(long.output) < 400
    assert sync.output == "Error: tool 'sync_boom' failed: OSError: disk full"
    for result in (value, empty, long, sync):
        assert "Traceback" not in result.output
    assert caplog.text.count("Traceback") == 4 and "raise ValueError" in caplog.text


async def test_a_tool_error_is_a_deliberate_message_for_the_model(caplog: pytest.LogCaptureFixture) -> None:
    tools = Tools()

    @tools.action("Book")
    async def book(restaurant: str) -> str:
        raise ToolError(f"{restaurant} is closed on Mondays")

    with caplog.at_level(logging.INFO, logger="rtvoice.tools"):
        result = await call(tools, "book", '{"restaurant": "Noma"}')
    assert result.output == "Error: tool 'book' failed: Noma is closed on Mondays"
    assert result.error_kind is ToolErrorKind.TOOL_FAILED
    assert "Traceback" not in caplog.text and "reported an error" in caplog.text


async def test_an_async_tool_that_overruns_is_cancelled_and_reported() -> None:
    cancelled = asyncio.Event()
    tools = Tools()

    @tools.action("Hang", holding_instruction="Still looking.")
    async def hang() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    result = await call(tools, "hang", limit=0.05)
    assert result.output == "Error: tool 'hang' timed out after 0.05 s"
    assert result.error_kind is ToolErrorKind.TIMEOUT and result.holding_instruction == "Still looking."
    assert cancelled.is_set()


async def test_a_sync_tool_that_overruns_is_reported_and_its_thread_finishes_later() -> None:
    release, finished = threading.Event(), threading.Event()
    tools = Tools()

    @tools.action("Stuck")
    def stuck() -> str:
        release.wait(SAFETY_S)
        finished.set()
        return "late"

    result = await call(tools, "stuck", limit=0.05)
    assert result.error_kind is ToolErrorKind.TIMEOUT
    assert result.output == "Error: tool 'stuck' timed out after 0.05 s"
    assert not finished.is_set()  # the thread cannot be stopped; it is still waiting
    release.set()
    assert await asyncio.to_thread(finished.wait, SAFETY_S)


def test_timeout_texts_read_naturally() -> None:
    assert timeout_text("x", 5.0) == "Error: tool 'x' timed out after 5.0 s"
    assert timeout_text("x", 12) == "Error: tool 'x' timed out after 12.0 s"
    assert timeout_text("x", 0.25) == "Error: tool 'x' timed out after 0.25 s"


async def test_a_tools_own_timeout_error_is_a_failure_not_a_timeout() -> None:
    tools = Tools()

    @tools.action("Fetch")
    async def fetch() -> str:
        raise TimeoutError("upstream took too long")

    result = await call(tools, "fetch")
    assert result.error_kind is ToolErrorKind.TOOL_FAILED
    assert result.output == "Error: tool 'fetch' failed: TimeoutError: upstream took too long"


async def test_a_result_that_cannot_be_serialised_gives_an_error_output() -> None:
    tools = Tools()

    @tools.action("Loop")
    def loop() -> list[object]:
        data: list[object] = []
        data.append(data)
        return data

    result = await call(tools, "loop")
    assert result.error_kind is ToolErrorKind.INVALID_RESULT
    assert (
        result.output
        == "Error: tool 'loop' returned a result that cannot be sent: ValueError: Circular reference detected"
    )


async def test_cancellation_propagates_and_cancels_the_tool() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()
    tools = Tools()

    @tools.action("Wait")
    async def wait() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    task = asyncio.create_task(call(tools, "wait", limit=None))
    await asyncio.wait_for(started.wait(), SAFETY_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


@pytest.mark.parametrize("limit", [0.0, -1.0, math.nan, math.inf])
async def test_a_timeout_that_is_not_a_positive_number_is_the_callers_bug(limit: float) -> None:
    tools = Tools()

    @tools.action("Noop")
    def noop() -> None: ...

    with pytest.raises(ValueError, match="timeout must be a positive number"):
        await call(tools, "noop", limit=limit)


# -- status, instructions, prepare -------------------------------------------------------------------------


async def test_status_template_is_rendered_from_the_validated_arguments() -> None:
    tools = Tools()

    @tools.action("Play a song by name", param_model=PlaySongParams, status="Playing {song} now.")
    async def play_song(params: PlaySongParams) -> str:
        return f"Now playing: {params.song}"

    @tools.action("Signature", status="Setting volume to {level:>3} for {song!r}.")
    def volume(song: str, level: int = 7) -> None: ...

    result = await call(tools, "play_song", '{"song": "Yesterday"}')
    assert result.status == "Playing Yesterday now." and result.output == "Now playing: Yesterday"
    assert (await call(tools, "volume", '{"song": "x"}')).status == "Setting volume to   7 for 'x'."


async def test_status_callable_receives_the_validated_model() -> None:
    tools = Tools()
    seen: list[object] = []

    def status(params: PlaySongParams) -> str:
        seen.append(params)
        return f"Playing {params.song} at {params.volume}."

    @tools.action("Play", param_model=PlaySongParams, status=status)
    async def play_song(params: PlaySongParams) -> str:
        return params.song

    @tools.action("Sig", status=lambda args: f"Looking up {args.city}.")
    def sig(city: str) -> str:
        return city

    assert (await call(tools, "play_song", '{"song": "Help", "volume": "9"}')).status == "Playing Help at 9."
    assert seen == [PlaySongParams(song="Help", volume=9)]
    assert (await call(tools, "sig", '{"city": "Rome"}')).status == "Looking up Rome."


async def test_a_failing_status_is_logged_and_none_and_the_tool_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = Tools()

    def broken(params: PlaySongParams) -> str:
        raise RuntimeError("status bug")

    @tools.action("Raises", param_model=PlaySongParams, status=broken)
    def raises(params: PlaySongParams) -> str:
        return "ran"

    @tools.action("Not text", param_model=PlaySongParams, status=lambda p: 42)  # type: ignore[arg-type]
    def not_text(params: PlaySongParams) -> str:
        return "ran"

    @tools.action("Bad spec", param_model=PlaySongParams, status="{song:d}")
    def bad_spec(params: PlaySongParams) -> str:
        return "ran"

    with caplog.at_level(logging.ERROR, logger="rtvoice.tools"):
        for name in ("raises", "not_text", "bad_spec"):
            result = await call(tools, name, '{"song": "s"}')
            assert result.ok and result.output == "ran" and result.status is None
    assert "status bug" in caplog.text and "returned int, not a string" in caplog.text
    assert "Unknown format code 'd'" in caplog.text


def test_status_templates_are_checked_at_registration() -> None:
    def play(params: PlaySongParams) -> None: ...

    def sig(song: str) -> None: ...

    cases: list[tuple[Callable[..., None], dict[str, Any], str]] = [
        (play, {"param_model": PlaySongParams, "status": "Playing {title}"}, r"uses \{title\}.*song, volume"),
        (play, {"param_model": PlaySongParams, "status": "Playing {}"}, "positional placeholder"),
        (play, {"param_model": PlaySongParams, "status": "Playing {0}"}, "positional placeholder"),
        (play, {"param_model": PlaySongParams, "status": "Playing {song"}, "malformed"),
        (play, {"param_model": PlaySongParams, "status": "{song:{width}}"}, r"uses \{width\}"),
        (sig, {"status": "Playing {title}"}, r"uses \{title\}.*arguments: song"),
        (sig, {"status": 42}, "string template or a callable"),
    ]
    for function, options, message in cases:
        with pytest.raises(ConfigurationError, match=message):
            Tools().action("d", **options)(function)
    tools = Tools()
    tools.action("d", param_model=PlaySongParams, status="{song.upper} {volume:>{volume}} {{literal}}")(play)
    assert tools.names == ["play"]


async def test_status_is_kept_when_the_tool_fails_but_not_when_the_arguments_are_invalid() -> None:
    tools = Tools()

    @tools.action("Play", param_model=PlaySongParams, status="Playing {song}.")
    def play(params: PlaySongParams) -> str:
        raise RuntimeError("speaker unplugged")

    failed = await call(tools, "play", '{"song": "s"}')
    assert not failed.ok and failed.status == "Playing s."
    assert (await call(tools, "play", "{}")).status is None


async def test_instructions_are_passed_through() -> None:
    tools = Tools()

    @tools.action(
        "Fetch the latest headlines",
        holding_instruction="Fetching the news...",
        result_instruction="Summarise the headlines in two sentences.",
    )
    async def get_headlines() -> str:
        return "Headline one. Headline two."

    result = await call(tools, "get_headlines")
    assert result.holding_instruction == "Fetching the news..."
    assert result.result_instruction == "Summarise the headlines in two sentences."


async def test_prepare_gives_status_and_holding_instruction_before_the_tool_runs() -> None:
    ran = asyncio.Event()
    tools = Tools()

    @tools.action(
        "Play", param_model=PlaySongParams, status="Playing {song}.", holding_instruction="One moment."
    )
    async def play(params: PlaySongParams) -> str:
        ran.set()
        return "done"

    prepared = tools.prepare("play", '{"song": "Hey Jude"}')
    assert (
        prepared.ok
        and prepared.status == "Playing Hey Jude."
        and prepared.holding_instruction == "One moment."
    )
    assert not ran.is_set()
    result = await prepared.run(context=CTX, timeout=SAFETY_S)
    assert ran.is_set() and result.output == "done" and result.status == "Playing Hey Jude."

    bad = tools.prepare("play", "{}")
    assert not bad.ok and bad.failure is not None and bad.holding_instruction == "One moment."
    assert await bad.run(context=CTX, timeout=SAFETY_S) is bad.failure
    unknown = tools.prepare("nope", "{}")
    assert unknown.tool is None and unknown.holding_instruction is None and not unknown.ok


class Item(BaseModel):
    name: str
    size: int = Field(default=1, validation_alias=AliasChoices("sizeValue", "size"))


class Basket(BaseModel):
    by_key: dict[str, Item]
    described: list[Annotated[Item, Field(description="An item")]] = []
    either: Item | Address | None = None


async def test_nulls_take_defaults_inside_dicts_annotated_lists_and_under_aliases() -> None:
    tools = Tools()

    @tools.action("Basket", param_model=Basket)
    def basket(params: Basket) -> Basket:
        return params

    arguments = {
        "by_key": {"a": {"name": "apple", "sizeValue": None}},
        "described": [{"name": "pear", "sizeValue": None}],
        "either": {"city": "Oslo"},  # a union of two models: left to pydantic as is
    }
    result = await call(tools, "basket", json.dumps(arguments))
    assert json.loads(result.output) == {
        "by_key": {"a": {"name": "apple", "size": 1}},
        "described": [{"name": "pear", "size": 1}],
        "either": {"city": "Oslo", "postcode": "0000"},
    }
    schema = tools.definitions()[0].parameters
    assert (
        isinstance(schema, dict) and "sizeValue" in schema["properties"]["described"]["items"]["properties"]
    )


async def test_partials_can_be_tools() -> None:
    def scale(factor: int, value: int) -> int:
        return factor * value

    tools = Tools()
    tools.action("Double a number", name="double")(functools.partial(scale, 2))
    assert (await call(tools, "double", '{"value": 21}')).output == "42"
