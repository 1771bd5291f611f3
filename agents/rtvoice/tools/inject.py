"""Context injection: ``Inject[T]`` parameters and the :class:`ToolContext` that fills them.

A tool parameter annotated ``Inject[T]`` is filled by the framework, never by the model:

* It never appears in the tool's JSON schema.
* A key of the same name in the model's arguments is ignored (rtvoice 0.7.0 let the model's value win,
  so the model could replace, say, the application state with a string).
* Its value is the first injectable in the :class:`ToolContext` that is an instance of ``T``, searched in
  this order: ``event_bus``, ``context``, ``conversation_history``, then ``extras`` (where an entry
  whose key *is* ``T`` also matches, for types ``isinstance`` cannot check).
* When nothing matches, the parameter's default is used; ``Inject[T | None]`` without a default gets
  None; otherwise the call fails with an error output naming the parameter (the registry cannot know at
  registration which objects the agent will provide, so this is found at call time).

This module is pure: no asyncio, no clock.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeAlias, TypeVar, get_args, get_origin

from rtvoice.conversation import ConversationHistory
from rtvoice.event_bus import EventBus
from rtvoice.exceptions import ConfigurationError

__all__ = ["Inject", "InjectedParameter", "ToolContext", "injected_type"]

T = TypeVar("T")


class _InjectMarker:
    """The ``Annotated`` metadata that marks a parameter as injected (one shared instance)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Inject"


INJECT_MARKER = _InjectMarker()

Inject: TypeAlias = Annotated[T, INJECT_MARKER]
"""``Inject[T]`` marks a tool parameter of type ``T`` that the framework fills from the :class:`ToolContext`.

It is ``Annotated[T, <marker>]``, so type checkers see a plain ``T``.
"""


def injected_type(annotation: object) -> object | None:
    """Return ``T`` when ``annotation`` is ``Inject[T]`` (possibly with more ``Annotated`` metadata), else None.

    ``Inject[T] | None`` is read as ``Inject[T | None]``.
    """
    members = _union_members(annotation)
    if members is not None:
        inner = [m for m in members if m is not type(None)]
        if len(inner) == 1 and len(members) == 2:
            base = injected_type(inner[0])
            return None if base is None else base | None  # type: ignore[operator]
        return None
    if get_origin(annotation) is not Annotated:
        return None
    base, *metadata = get_args(annotation)
    if any(item is INJECT_MARKER for item in metadata):
        return typing.cast(object, base)
    return None


def _union_members(tp: object) -> tuple[object, ...] | None:
    if get_origin(tp) in (typing.Union, types.UnionType):
        return get_args(tp)
    return None


def _checkable(tp: object) -> type[Any] | None:
    """The class ``isinstance`` can test for ``tp`` (the origin of ``list[int]``), or None."""
    origin = get_origin(tp)
    if isinstance(origin, type):
        return origin
    if isinstance(tp, type):
        return tp
    return None


@dataclass(frozen=True, slots=True)
class InjectedParameter:
    """One ``Inject[T]`` parameter of a tool, analysed at registration.

    Args:
        name: the parameter's name.
        types: the classes a value may be an instance of (several for ``Inject[A | B]``).
        keys: the ``extras`` keys that match (the annotated types themselves).
        optional: ``Inject[T | None]``: None is an acceptable value when nothing matches.
        has_default: the parameter has a default, used when nothing matches.
        display: the annotation as written, for messages.
    """

    name: str
    types: tuple[type[Any], ...]
    keys: tuple[object, ...]
    optional: bool
    has_default: bool
    display: str

    @classmethod
    def from_annotation(cls, name: str, tp: object, *, has_default: bool) -> InjectedParameter:
        """Analyse ``Inject[tp]`` for parameter ``name``.

        Raises:
            ConfigurationError: ``tp`` is not a class (or a union of classes), so no value could match.
        """
        members = _union_members(tp) or (tp,)
        optional = any(m is type(None) or m is None for m in members)
        wanted = tuple(m for m in members if m is not type(None) and m is not None)
        classes = []
        for member in wanted:
            checkable = _checkable(member)
            if checkable is None:
                raise ConfigurationError(
                    f"parameter {name!r}: Inject[{_display(tp)}] needs a class to match injectables against"
                )
            classes.append(checkable)
        if not classes:
            raise ConfigurationError(f"parameter {name!r}: Inject[None] can never be filled")
        return cls(name, tuple(classes), wanted, optional, has_default, _display(tp))


def _display(tp: object) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp).replace("typing.", "")


@dataclass(frozen=True, slots=True)
class ToolContext:
    """The objects tools can receive through ``Inject[T]``; the agent builds one per session.

    Args:
        event_bus: the agent's event bus.
        context: the application's own object (``RealtimeAgent(context=...)``).
        conversation_history: the conversation so far.
        extras: further injectables keyed by type (the gateway adds the phone call here). A value
            matches ``Inject[T]`` when its key is ``T`` or when it is an instance of ``T``.

    Example::

        ToolContext(context=AppState("Alice"), extras={CallControl: call})
    """

    event_bus: EventBus | None = None
    context: object | None = None
    conversation_history: ConversationHistory | None = None
    extras: Mapping[object, object] = field(default_factory=dict)

    def with_extras(self, extras: Mapping[object, object]) -> ToolContext:
        """Return a copy with ``extras`` added (replacing entries with the same key)."""
        return ToolContext(self.event_bus, self.context, self.conversation_history, {**self.extras, **extras})

    def find(self, parameter: InjectedParameter) -> tuple[bool, object]:
        """Look up the first injectable matching ``parameter``.

        Returns:
            ``(True, value)``, or ``(False, None)`` when nothing matches. None values never match.
        """
        for value in (self.event_bus, self.context, self.conversation_history):
            if value is not None and _isinstance(value, parameter.types):
                return True, value
        for key, value in self.extras.items():
            if value is None:
                continue
            if any(key == k for k in parameter.keys) or _isinstance(value, parameter.types):
                return True, value
        return False, None

    def get(self, tp: type[T]) -> T | None:
        """Return the injectable ``Inject[tp]`` would receive, or None when there is none.

        Raises:
            ConfigurationError: ``tp`` is not a class.
        """
        _, value = self.find(InjectedParameter.from_annotation("value", tp, has_default=False))
        return typing.cast(T | None, value)


def _isinstance(value: object, classes: tuple[type[Any], ...]) -> bool:
    for cls in classes:
        try:
            if isinstance(value, cls):
                return True
        except TypeError:  # a Protocol without @runtime_checkable: only its extras key can match
            continue
    return False
