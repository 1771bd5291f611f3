"""JSON schemas for tool parameters, strict where the schema allows it, and the null rule that goes with them.

Theory of operation
-------------------
Every tool validates its arguments with a pydantic model: the user's ``param_model``, or one built from
the function's signature (:mod:`rtvoice.tools.tool`). :func:`parameters_schema` turns that model into the
``parameters`` of a Realtime function tool:

1. ``model_json_schema(mode="validation")``, the schema pydantic validates against.
2. ``$defs`` are inlined: the Realtime API documents ``parameters`` only as "JSON Schema" and every
   example it gives is a self-contained schema, so inlining is the form every endpoint (OpenAI, Azure,
   proxies) accepts. A recursive model cannot be inlined; its ``$defs`` stay, with ``$ref`` pointers.
3. Noise is removed: pydantic's ``title`` on every node (tokens the model pays for on every turn), and a
   single-value ``const`` becomes a one-member ``enum`` (older validators know only ``enum``).
4. **Strict form**, when the schema can be written strictly (the rules of OpenAI's strict function
   calling): every object gets ``additionalProperties: false`` and lists *all* its properties in
   ``required``; a property that had a default becomes nullable, keeps a non-null ``default`` keyword
   (as the openai SDK's own strict schemas do; a ``None`` default is dropped) and also says it in its
   description (``(default: 5)``), which every model reads. The model then always sends every key, with
   ``null`` for "use the default". A schema that cannot be strict (a ``dict[str, X]``, an ``Any``, a
   ``oneOf`` from a discriminated union, keywords outside the strict subset) is left in the normal form,
   with its defaults.

The SDK's ``RealtimeFunctionTool`` has no ``strict`` flag (0.7.0 put a non-standard ``strict: true``
inside ``parameters``; we do not), so "strict" here is the shape of the schema, which steers the model
just the same.

**Nulls.** Because strict schemas make defaulted properties nullable, the model sends ``null`` where it
means "the default". :func:`null_plan` compiles, once per model, which fields (at any depth: nested
models, lists and dicts of them) have a default but do not accept None; :func:`drop_nulls` removes
``null`` values for exactly those keys before validation, so the default applies. A field that accepts
None (``str | None = "x"``) takes the null as None.

This module is pure: no asyncio, no clock.
"""

from __future__ import annotations

import collections.abc
import json
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin

from pydantic import AliasChoices, BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaWarningKind

__all__ = ["JsonSchema", "NullPlan", "drop_nulls", "null_plan", "parameters_schema"]

JsonSchema = dict[str, Any]

# Keys whose value is one sub-schema, a map of sub-schemas, or a list of sub-schemas.
_ONE = ("items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames")
_MAP = ("properties", "$defs", "patternProperties", "dependentSchemas")
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")

# What OpenAI's strict function-calling mode accepts; anything else keeps a schema in the normal form.
_STRICT_KEYS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "anyOf",
        "description",
        "default",
        "$ref",
        "$defs",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
_DEFAULT_NOTE_LIMIT = 80


def _map_children(node: JsonSchema, fn: typing.Callable[[JsonSchema], JsonSchema]) -> JsonSchema:
    """Return a copy of ``node`` with ``fn`` applied to each direct sub-schema."""
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _ONE and isinstance(value, dict):
            out[key] = fn(value)
        elif key in _MAP and isinstance(value, dict):
            out[key] = {name: fn(sub) if isinstance(sub, dict) else sub for name, sub in value.items()}
        elif key in _LIST and isinstance(value, list):
            out[key] = [fn(sub) if isinstance(sub, dict) else sub for sub in value]
        else:
            out[key] = value
    return out


def _walk(node: JsonSchema) -> Iterator[JsonSchema]:
    """Yield ``node`` and every sub-schema below it."""
    yield node
    for key, value in node.items():
        if key in _ONE and isinstance(value, dict):
            yield from _walk(value)
        elif key in _MAP and isinstance(value, dict):
            for sub in value.values():
                if isinstance(sub, dict):
                    yield from _walk(sub)
        elif key in _LIST and isinstance(value, list):
            for sub in value:
                if isinstance(sub, dict):
                    yield from _walk(sub)


def _ref_name(ref: object) -> str | None:
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return ref.removeprefix("#/$defs/")
    return None


def _is_recursive(defs: Mapping[str, JsonSchema]) -> bool:
    """True when some definition refers back to itself, directly or through others."""

    def refs(name: str) -> set[str]:
        names = (_ref_name(node.get("$ref")) for node in _walk(defs[name]))
        return {n for n in names if n is not None and n in defs}

    graph = {name: refs(name) for name in defs}
    done: set[str] = set()

    def cycles_from(name: str, path: set[str]) -> bool:
        if name in path:
            return True
        if name in done:
            return False
        path.add(name)
        found = any(cycles_from(nxt, path) for nxt in graph[name])
        path.discard(name)
        done.add(name)
        return found

    return any(cycles_from(name, set()) for name in graph)


def _inline(node: JsonSchema, defs: Mapping[str, JsonSchema]) -> JsonSchema:
    name = _ref_name(node.get("$ref"))
    if name is not None and name in defs:
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        # The field's own keywords (its description, default) win over the referenced model's.
        return _inline({**defs[name], **siblings}, defs)
    return _map_children(node, lambda sub: _inline(sub, defs))


def _clean(node: JsonSchema) -> JsonSchema:
    node = _map_children(node, _clean)
    node.pop("title", None)
    if "const" in node and "enum" not in node:
        node["enum"] = [node.pop("const")]
    return node


def _is_nullable(node: JsonSchema) -> bool:
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if None in node.get("enum", ()):
        return True
    return any(isinstance(sub, dict) and _is_nullable(sub) for sub in node.get("anyOf", ()))


def _nullable(node: JsonSchema) -> JsonSchema:
    if _is_nullable(node):
        return node
    outer = {k: node[k] for k in ("description",) if k in node}
    inner = {k: v for k, v in node.items() if k != "description"}
    members = inner["anyOf"] if set(inner) == {"anyOf"} else [inner]
    return {"anyOf": [*members, {"type": "null"}], **outer}


def _default_note(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > _DEFAULT_NOTE_LIMIT:
        text = text[: _DEFAULT_NOTE_LIMIT - 1] + "…"
    return f"(default: {text})"


def _strict_blockers(schema: JsonSchema) -> list[str]:
    """Why ``schema`` cannot be written strictly; empty when it can."""
    why: list[str] = []
    for node in _walk(schema):
        extra = set(node) - _STRICT_KEYS
        if extra:
            why.append(f"keywords {sorted(extra)}")
        if not node.keys() & {"type", "anyOf", "enum", "$ref"}:
            why.append("a value of any type")
        kinds = node.get("type")
        is_object = kinds == "object" or (isinstance(kinds, list) and "object" in kinds)
        if is_object and ("properties" not in node or node.get("additionalProperties", False) is not False):
            why.append("an object with free-form keys")
    return why


def _strictify(node: JsonSchema) -> JsonSchema:
    # Top-down: a property's default must be read (and noted) before its own node drops it.
    node = dict(node)
    properties = node.get("properties")
    defaults: dict[str, object] = {}
    if isinstance(properties, dict):
        properties = node["properties"] = dict(properties)
        required = set(node.get("required", ()))
        for name, prop in list(properties.items()):
            if name in required or not isinstance(prop, dict):
                continue
            prop = dict(prop)
            default = prop.pop("default", None)
            if default is not None:
                defaults[name] = default
                note = _default_note(default)
                prop["description"] = f"{prop['description']} {note}" if "description" in prop else note
            properties[name] = _nullable(prop)
        node["required"] = list(properties)
        node["additionalProperties"] = False
    # Defaults anywhere but on a property (rare) mean nothing once all keys are required.
    node.pop("default", None)
    out = _map_children(node, _strictify)
    if defaults:
        # A non-null default stays beside the nullable union, as in the openai SDK's strict schemas
        # (it drops only null defaults); a None default goes (null already means "the default").
        out["properties"] = {
            name: {**sub, "default": defaults[name]} if name in defaults else sub
            for name, sub in out["properties"].items()
        }
    return out


class _Generator(GenerateJsonSchema):
    def emit_warning(self, kind: JsonSchemaWarningKind, detail: str) -> None:
        # A default with no JSON form (a sentinel object) simply stays out of the schema; not worth a warning.
        if kind != "non-serializable-default":
            super().emit_warning(kind, detail)


def parameters_schema(model: type[BaseModel]) -> tuple[JsonSchema, bool]:
    """Build the ``parameters`` JSON schema of a tool from its arguments model.

    Args:
        model: the pydantic model the arguments are validated with.

    Returns:
        ``(schema, strict)``: the schema, and whether it is in the strict form (see the module docstring).
    """
    raw = model.model_json_schema(mode="validation", schema_generator=_Generator)
    defs: dict[str, JsonSchema] = raw.pop("$defs", {})
    root = _ref_name(raw.get("$ref"))
    if root is not None and root in defs:  # a recursive root model is all "$ref" at the top
        raw = {**defs[root], **{k: v for k, v in raw.items() if k != "$ref"}}
    if defs and _is_recursive(defs):
        schema = _clean({**raw, "$defs": defs})
    else:
        schema = _clean(_inline(raw, defs))
    schema = {"type": "object", "properties": {}, **{k: v for k, v in schema.items() if k != "type"}}
    if _strict_blockers(schema):
        schema.setdefault("required", [])
        return schema, False
    return _strictify(schema), True


# -- nulls ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class NullPlan:
    """Where a ``null`` from the model means "use the default", for one pydantic model.

    Args:
        drop: input keys (aliases where set) whose field has a default and does not accept None.
        nested: input keys whose value holds further models, with the walker for that value.
    """

    drop: frozenset[str] = frozenset()
    nested: dict[str, _Walker] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Walker:
    kind: typing.Literal["model", "list", "dict"]
    plan: NullPlan | None = None  # kind == "model"
    inner: _Walker | None = None  # kind in ("list", "dict")


def _strip_annotated(tp: object) -> object:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _accepts_none(tp: object) -> bool:
    tp = _strip_annotated(tp)
    if tp is None or tp is type(None) or tp is Any or tp is object:
        return True
    if get_origin(tp) in (typing.Union, types.UnionType):
        return any(_accepts_none(member) for member in get_args(tp))
    if get_origin(tp) is typing.Literal:
        return None in get_args(tp)
    return False


def _input_key(name: str, info: Any) -> str:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and alias.choices and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    return info.alias if isinstance(info.alias, str) else name


def _walker(tp: object, cache: dict[type[BaseModel], NullPlan]) -> _Walker | None:
    tp = _strip_annotated(tp)
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        walkers = [w for m in get_args(tp) if m is not type(None) and (w := _walker(m, cache)) is not None]
        others = [m for m in get_args(tp) if m is not type(None)]
        # Only an unambiguous union (X | None) says which model a value is meant for.
        return walkers[0] if len(walkers) == 1 and len(others) == 1 else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _Walker("model", plan=null_plan(tp, cache))
    args = get_args(tp)
    if origin in (list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.Set):
        if not args or (origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)):
            return None
        inner = _walker(args[0], cache)
        return None if inner is None else _Walker("list", inner=inner)
    if origin in (dict, collections.abc.Mapping):
        inner = _walker(args[1], cache) if len(args) == 2 else None
        return None if inner is None else _Walker("dict", inner=inner)
    return None


def null_plan(model: type[BaseModel], cache: dict[type[BaseModel], NullPlan] | None = None) -> NullPlan:
    """Compile the :class:`NullPlan` of ``model`` (once, at registration).

    Args:
        model: the arguments model.
        cache: plans compiled so far (recursive models refer back to their own plan).
    """
    cache = {} if cache is None else cache
    if model in cache:
        return cache[model]
    plan = cache[model] = NullPlan()
    drop: set[str] = set()
    for name, info in model.model_fields.items():
        key = _input_key(name, info)
        if not info.is_required() and not _accepts_none(info.annotation):
            drop.add(key)
        walker = _walker(info.annotation, cache)
        if walker is not None:
            plan.nested[key] = walker
    plan.drop = frozenset(drop)
    return plan


def _apply(value: object, walker: _Walker) -> object:
    if walker.kind == "model" and walker.plan is not None and isinstance(value, dict):
        return drop_nulls(value, walker.plan)
    if walker.kind == "list" and walker.inner is not None and isinstance(value, list):
        return [_apply(item, walker.inner) for item in value]
    if walker.kind == "dict" and walker.inner is not None and isinstance(value, dict):
        return {key: _apply(item, walker.inner) for key, item in value.items()}
    return value


def drop_nulls(arguments: Mapping[str, object], plan: NullPlan) -> dict[str, object]:
    """Return ``arguments`` without the nulls that mean "use the default" (see the module docstring).

    Args:
        arguments: decoded arguments (or a nested object of them).
        plan: the plan of the model they are for.
    """
    out: dict[str, object] = {}
    for key, value in arguments.items():
        if value is None and key in plan.drop:
            continue
        walker = plan.nested.get(key)
        out[key] = value if walker is None else _apply(value, walker)
    return out
