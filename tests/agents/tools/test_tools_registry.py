"""Tools registry: registration returns the function, names are unique (merge too), bad tools fail early."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import BaseModel

from rtvoice.exceptions import ConfigurationError
from rtvoice.tools import Inject, Tool, ToolContext, Tools


class SongParams(BaseModel):
    song: str


def test_action_returns_the_function_unchanged_and_it_stays_callable() -> None:
    tools = Tools()

    async def get_weather(city: str) -> str:
        return f"sunny in {city}"

    def add(a: int, b: int = 1) -> int:
        return a + b

    assert tools.action("weather")(get_weather) is get_weather
    assert tools.action("add")(add) is add
    assert add(2) == 3
    assert asyncio.run(get_weather("Oslo")) == "sunny in Oslo"


def test_len_iteration_get_contains_and_names_follow_registration_order() -> None:
    tools = Tools()

    @tools.action("first")
    def one() -> None: ...

    @tools.action("second", name="zwei")
    async def two() -> None: ...

    assert len(tools) == 2
    assert [tool.name for tool in tools] == ["one", "zwei"]
    assert tools.names == ["one", "zwei"]
    assert "zwei" in tools and "two" not in tools
    got = tools.get("zwei")
    assert isinstance(got, Tool)
    assert got.function is two and got.description == "second" and got.is_async
    assert tools.get("one") is not None and not tools.get("one").is_async  # type: ignore[union-attr]
    assert tools.get("missing") is None
    assert repr(tools) == "Tools(one, zwei)"
    assert repr(Tools()) == "Tools(empty)"


def test_duplicate_name_raises_configuration_error_which_is_a_value_error() -> None:
    tools = Tools()

    @tools.action("a")
    def same() -> None: ...

    def other() -> None: ...

    with pytest.raises(ConfigurationError, match="'same' is already registered"):
        tools.action("b", name="same")(other)
    with pytest.raises(ValueError):
        tools.action("b", name="same")(other)
    assert tools.get("same") is not None and tools.get("same").function is same  # type: ignore[union-attr]


def test_merge_adds_tools_and_refuses_duplicates_without_adding_anything() -> None:
    base, extra, clash = Tools(), Tools(), Tools()

    @base.action("a")
    def a() -> None: ...

    @extra.action("b")
    def b() -> None: ...

    @clash.action("c")
    def c() -> None: ...

    @clash.action("a again", name="a")
    def a2() -> None: ...

    base.merge(extra)
    assert base.names == ["a", "b"]
    with pytest.raises(ConfigurationError, match="already registered: a"):
        base.merge(clash)
    assert base.names == ["a", "b"]  # the clash left nothing half-merged
    assert base.get("a").function is a  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["has space", "", "x" * 65, "ünïcode", "dot.ted"])
def test_invalid_names_are_refused(name: str) -> None:
    def f() -> None: ...

    with pytest.raises(ConfigurationError, match="must be 1 to 64"):
        Tools().action("d", name=name)(f)


def test_a_lambda_needs_an_explicit_name() -> None:
    tools = Tools()
    with pytest.raises(ConfigurationError, match="<lambda>"):
        tools.action("d")(lambda: None)
    tools.action("d", name="noop")(lambda: None)
    assert tools.names == ["noop"]


def test_parameters_that_cannot_be_named_arguments_are_refused() -> None:
    def star(*cities: str) -> None: ...

    def kw(**options: str) -> None: ...

    def positional(city: str, /) -> None: ...

    for function in (star, kw, positional):
        with pytest.raises(ConfigurationError, match="ordinary named parameter"):
            Tools().action("d")(function)


def test_generators_are_refused() -> None:
    def gen() -> Iterator[str]:
        yield "x"

    async def agen() -> AsyncIterator[str]:
        yield "x"

    for function in (gen, agen):
        with pytest.raises(ConfigurationError, match="generators"):
            Tools().action("d")(function)


def test_param_model_must_be_a_pydantic_model_with_one_receiving_parameter() -> None:
    class NotAModel:
        song: str

    def play(params: SongParams) -> None: ...

    def two(params: SongParams, other: str) -> None: ...

    def none(ctx: Inject[ToolContext]) -> None: ...

    def defaulted(params: SongParams, volume: int = 5, ctx: Inject[ToolContext] | None = None) -> None: ...

    with pytest.raises(ConfigurationError, match="BaseModel subclass"):
        Tools().action("d", param_model=NotAModel)(play)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="exactly one parameter.*it has 2"):
        Tools().action("d", param_model=SongParams)(two)
    with pytest.raises(ConfigurationError, match="it has 0"):
        Tools().action("d", param_model=SongParams)(none)
    tools = Tools()
    tools.action("d", param_model=SongParams)(defaulted)  # defaulted extras do not compete
    assert tools.names == ["defaulted"]


def test_types_without_a_json_schema_are_refused_at_registration() -> None:
    class Opaque:
        pass

    def f(thing: Opaque) -> None: ...

    with pytest.raises(ConfigurationError, match="no JSON schema"):
        Tools().action("d")(f)


def test_unresolvable_annotations_are_a_configuration_error() -> None:
    def f(city: Missing) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ConfigurationError, match="cannot resolve its type hints"):
        Tools().action("d")(f)


def test_classes_defined_in_a_function_resolve_under_postponed_annotations() -> None:
    # This module uses ``from __future__ import annotations``: ``Local`` is only a string here.
    class Local(BaseModel):
        value: int

    tools = Tools()

    @tools.action("d")
    def f(item: Local) -> int:
        return item.value

    assert tools.get("f") is not None


def test_inject_needs_a_class() -> None:
    def f(x: Inject[list[int]]) -> None: ...  # a generic alias: matched by its origin, list

    def g(x: Inject[None]) -> None: ...

    tools = Tools()
    tools.action("d")(f)
    assert tools.get("f").injected[0].types == (list,)  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="can never be filled"):
        Tools().action("d")(g)


def test_option_types_are_checked() -> None:
    def f() -> None: ...

    with pytest.raises(ConfigurationError, match="description must be a string"):
        Tools().action(42)(f)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="result_instruction must be a string"):
        Tools().action("d", result_instruction=1)(f)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="holding_instruction must be a string"):
        Tools().action("d", holding_instruction=b"x")(f)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not callable"):
        Tools().action("d", name="x")(42)  # type: ignore[type-var]
    for delay in (-1.0, float("inf"), float("nan"), True, "1"):
        with pytest.raises(ConfigurationError, match="holding_delay must be a finite number"):
            Tools().action("d", holding_delay=delay)(f)  # type: ignore[arg-type]


def only_delay(tools: Tools, name: str) -> float:
    tool = tools.get(name)
    assert tool is not None
    return tool.holding_delay


def test_holding_instruction_is_said_at_once_unless_a_holding_delay_is_given() -> None:
    tools = Tools()

    @tools.action("Search", holding_instruction="One moment.")
    async def search(query: str) -> str:
        return query

    @tools.action("Slow search", holding_instruction="Still looking.", holding_delay=2)
    async def slow_search(query: str) -> str:
        return query

    assert (tools.prepare("search", '{"query": "x"}').holding_delay, only_delay(tools, "search")) == (
        0.0,
        0.0,
    )
    prepared = tools.prepare("slow_search", '{"query": "x"}')
    assert (prepared.holding_instruction, prepared.holding_delay) == ("Still looking.", 2.0)
    assert tools.prepare("nope", "").holding_delay == 0.0


def test_callable_objects_and_methods_can_be_tools() -> None:
    class Counter:
        def __init__(self) -> None:
            self.n = 0

        def bump(self, by: int) -> int:
            self.n += by
            return self.n

    class AsyncCallable:
        async def __call__(self, word: str) -> str:
            return word.upper()

    counter = Counter()
    tools = Tools()
    tools.action("bump", name="bump")(counter.bump)
    tools.action("shout", name="shout")(AsyncCallable())
    bump, shout = tools.get("bump"), tools.get("shout")
    assert bump is not None and not bump.is_async and list(bump.parameters["properties"]) == ["by"]
    assert shout is not None and shout.is_async and list(shout.parameters["properties"]) == ["word"]
