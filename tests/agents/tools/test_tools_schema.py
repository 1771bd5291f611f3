"""Tool schemas: from signatures and param models, strict where possible, valid as the SDK's tool model."""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal, Optional

import pytest
from openai.types.realtime import RealtimeFunctionTool, RealtimeSessionCreateRequest, SessionUpdateEvent
from pydantic import BaseModel, Field

from rtvoice.testing.validation import parse_client_event
from rtvoice.tools import Inject, Tool, ToolContext, Tools
from rtvoice.tools.schema import JsonSchema, parameters_schema

NULL = {"type": "null"}


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Address(BaseModel):
    """A postal address."""

    city: str = Field(description="City name")
    postcode: str = ""


class Attendee(BaseModel):
    name: str
    address: Address | None = None


class CalendarSearchParams(BaseModel):
    """The README's pydantic model tool, with a nested model, a list, an enum and a literal added."""

    query: str = Field(description="What to search for")
    date: str | None = Field(default=None, description="Optional ISO date filter")
    limit: int = Field(default=5, description="Maximum number of matches")
    source: Literal["work", "personal"] = "work"
    priority: Priority = Priority.LOW
    attendees: list[Attendee] = Field(default_factory=list, description="Who takes part")
    where: Address


class Tree(BaseModel):
    label: str
    children: list[Tree] = []


def only_tool(tools: Tools) -> Tool:
    (tool,) = tools
    return tool


def schema_of(function: Any, **options: Any) -> tuple[JsonSchema, bool]:
    tools = Tools()
    tools.action("a tool", **options)(function)
    tool = only_tool(tools)
    return tool.parameters, tool.strict


def walk(node: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def test_signature_types_map_to_json_schema_types_and_required_means_no_default() -> None:
    def f(
        text: str,
        count: int,
        ratio: float,
        flag: bool,
        words: list[str],
        mode: Literal["fast", "slow"],
        priority: Priority,
        maybe: Optional[int],  # noqa: UP045 - the spelling under test
        either: int | None,
        where: Address,
        described: Annotated[str, "Text the model reads"],
        fielded: Annotated[int, Field(description="Counted things", ge=0)] = 3,
    ) -> None: ...

    schema, strict = schema_of(f)
    props = schema["properties"]
    assert strict
    assert props["text"] == {"type": "string"}
    assert props["count"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number"}
    assert props["flag"] == {"type": "boolean"}
    assert props["words"] == {"type": "array", "items": {"type": "string"}}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["priority"] == {"type": "string", "enum": ["low", "high"]}
    assert props["maybe"] == {"anyOf": [{"type": "integer"}, NULL]}
    assert props["either"] == props["maybe"]
    assert props["where"]["description"] == "A postal address."  # the model's docstring, inlined
    assert props["where"]["properties"]["city"] == {"type": "string", "description": "City name"}
    assert props["described"] == {"type": "string", "description": "Text the model reads"}
    assert props["fielded"] == {
        "anyOf": [{"type": "integer", "minimum": 0}, NULL],
        "description": "Counted things (default: 3)",
        "default": 3,
    }
    # Strict: every property required, including the defaulted one (now nullable).
    assert schema["required"] == list(props)
    assert schema["additionalProperties"] is False


def test_readme_param_model_schema_with_nested_model_list_enum_literal_defaults_and_descriptions() -> None:
    async def search_calendar(params: CalendarSearchParams) -> str:
        return params.query

    schema, strict = schema_of(search_calendar, param_model=CalendarSearchParams)
    props = schema["properties"]
    assert strict
    assert list(props) == ["query", "date", "limit", "source", "priority", "attendees", "where"]
    assert schema["required"] == list(props)
    assert props["query"] == {"type": "string", "description": "What to search for"}
    # Already nullable: unchanged, and its None default is not worth a note.
    assert props["date"] == {"anyOf": [{"type": "string"}, NULL], "description": "Optional ISO date filter"}
    assert props["limit"] == {
        "anyOf": [{"type": "integer"}, NULL],
        "description": "Maximum number of matches (default: 5)",
        "default": 5,
    }
    assert props["source"] == {
        "anyOf": [{"type": "string", "enum": ["work", "personal"]}, NULL],
        "description": '(default: "work")',
        "default": "work",
    }
    assert props["priority"]["anyOf"][0] == {"type": "string", "enum": ["low", "high"]}
    attendee = props["attendees"]["anyOf"][0]["items"]
    assert attendee["required"] == ["name", "address"] and attendee["additionalProperties"] is False
    nested_address = attendee["properties"]["address"]["anyOf"][0]
    assert nested_address["additionalProperties"] is False
    assert nested_address["properties"]["postcode"] == {
        "anyOf": [{"type": "string"}, NULL],
        "description": '(default: "")',
        "default": "",
    }
    assert props["where"]["required"] == ["city", "postcode"]
    # The param model's docstring describes the parameters object as a whole.
    assert schema["description"].startswith("The README's pydantic model tool")
    # Strict form: no titles, no $defs; every object closed; the README's promise that defaults are "included
    # in the generated tool schema": a non-null default keeps its keyword (None and factory defaults none).
    nodes = walk(schema)
    assert not any("title" in node and not isinstance(node.get("title"), dict) for node in nodes)
    assert not any("$ref" in node or "$defs" in node for node in nodes)
    assert {name: prop["default"] for name, prop in props.items() if "default" in prop} == {
        "limit": 5,
        "source": "work",
        "priority": "low",
    }
    assert sum("default" in node for node in nodes) == 5  # those three and both addresses' postcode
    objects = [n for n in nodes if n.get("type") == "object"]
    assert len(objects) == 4  # the parameters, an attendee, an attendee's address, where
    assert all(n["additionalProperties"] is False and n["required"] == list(n["properties"]) for n in objects)


def test_a_property_named_title_or_default_survives_the_clean_up() -> None:
    def f(title: str, default: int = 1) -> None: ...

    schema, strict = schema_of(f)
    assert list(schema["properties"]) == ["title", "default"]
    assert schema["properties"]["title"] == {"type": "string"}


def test_parameter_names_pydantic_reserves_keep_their_names_in_the_schema() -> None:
    def f(copy: bool, json: str, model_name: str, _private: int = 0) -> None: ...

    schema, strict = schema_of(f)
    assert strict and list(schema["properties"]) == ["copy", "json", "model_name", "_private"]


def test_injected_parameters_never_appear_in_the_schema() -> None:
    def f(city: str, ctx: Inject[ToolContext], history: Inject[Address] | None = None) -> None: ...

    schema, _ = schema_of(f)
    assert list(schema["properties"]) == ["city"]
    assert schema["required"] == ["city"]


def test_a_tool_without_arguments_has_an_empty_closed_object() -> None:
    def f() -> str:
        return "x"

    assert schema_of(f) == (
        {"type": "object", "properties": {}, "required": [], "additionalProperties": False},
        True,
    )


@pytest.mark.parametrize(
    ("annotation", "why"),
    [(dict[str, int], "free-form keys"), (Any, "any type"), (tuple[int, str], "prefixItems")],
)
def test_schemas_that_cannot_be_strict_stay_normal_with_their_defaults(annotation: Any, why: str) -> None:
    class Params(BaseModel):
        value: annotation
        limit: int = 5

    schema, strict = parameters_schema(Params)
    assert not strict, why
    assert "additionalProperties" not in schema
    assert schema["required"] == ["value"]
    assert schema["properties"]["limit"] == {"type": "integer", "default": 5}


def test_a_recursive_model_keeps_its_defs_and_is_still_strict() -> None:
    schema, strict = parameters_schema(Tree)
    assert strict
    assert schema["properties"]["children"]["anyOf"][0]["items"] == {"$ref": "#/$defs/Tree"}
    tree = schema["$defs"]["Tree"]
    assert tree["required"] == ["label", "children"] and tree["additionalProperties"] is False


def test_a_literal_with_none_is_already_nullable_and_a_plain_union_is_not_injected() -> None:
    def f(mode: Literal["a", None] = "a", value: int | str = 0) -> None: ...

    schema, strict = schema_of(f)
    assert strict
    assert schema["properties"]["mode"] == {
        "enum": ["a", None],
        "description": '(default: "a")',
        "default": "a",
    }
    assert schema["properties"]["value"]["anyOf"] == [{"type": "integer"}, {"type": "string"}, NULL]


def test_single_value_literals_become_one_member_enums() -> None:
    def f(kind: Literal["only"]) -> None: ...

    schema, _ = schema_of(f)
    assert schema["properties"]["kind"] == {"type": "string", "enum": ["only"]}


def test_long_default_notes_are_cut() -> None:
    def f(text: str = "x" * 200) -> None: ...

    schema, _ = schema_of(f)
    note = schema["properties"]["text"]["description"]
    assert note.startswith('(default: "xxx') and note.endswith("…)") and len(note) < 100


def test_definitions_validate_as_the_sdk_model_and_inside_a_session_update() -> None:
    tools = Tools()

    @tools.action("Search calendar events", param_model=CalendarSearchParams)
    async def search_calendar(params: CalendarSearchParams) -> str:
        return params.query

    @tools.action("Count tags")
    def count(tags: dict[str, int], ctx: Inject[ToolContext]) -> int:
        return len(tags)

    @tools.action("Walk a tree", param_model=Tree)
    def walk_tree(tree: Tree) -> str:
        return tree.label

    definitions = tools.definitions()
    assert [type(d) for d in definitions] == [RealtimeFunctionTool] * 3
    for definition, tool in zip(definitions, tools, strict=True):
        dumped = definition.model_dump(exclude_unset=True)
        assert set(dumped) == {"type", "name", "description", "parameters"}
        assert dumped["type"] == "function" and dumped["name"] == tool.name
        assert RealtimeFunctionTool.model_validate(dumped) == definition
        assert json.loads(json.dumps(dumped["parameters"])) == tool.parameters  # plain JSON data
    # The simulator's validator refuses what the API refuses (unknown parameters included).
    event = SessionUpdateEvent(
        type="session.update", session=RealtimeSessionCreateRequest(type="realtime", tools=list(definitions))
    )
    parsed = parse_client_event(event.model_dump_json(exclude_unset=True))
    assert isinstance(parsed, SessionUpdateEvent) and isinstance(parsed.session, RealtimeSessionCreateRequest)
    assert parsed.session.tools is not None and len(parsed.session.tools) == 3


def test_definitions_are_copies_the_caller_cannot_corrupt() -> None:
    tools = Tools()

    @tools.action("d")
    def f(city: str) -> None: ...

    first = tools.definitions()[0]
    assert isinstance(first.parameters, dict)
    first.parameters["properties"].clear()
    assert tools.definitions()[0].parameters == only_tool(tools).parameters
    assert only_tool(tools).parameters["properties"] == {"city": {"type": "string"}}


def test_defaults_are_kept_in_the_strict_schema_as_the_openai_sdk_keeps_them() -> None:
    from openai.lib._pydantic import to_strict_json_schema

    class Params(BaseModel):
        query: str
        limit: int = 5
        source: Literal["work", "personal"] = "work"
        date: str | None = None

    sdk = to_strict_json_schema(Params)["properties"]
    ours, strict = parameters_schema(Params)
    assert strict
    assert {name: prop.get("default") for name, prop in ours["properties"].items()} == {
        name: prop.get("default") for name, prop in sdk.items()
    }
    assert [ours["properties"][name].get("default") for name in ("query", "limit", "source", "date")] == [
        None,
        5,
        "work",
        None,
    ]
    assert "default" not in ours["properties"]["date"]  # a None default is dropped, as the SDK drops it
