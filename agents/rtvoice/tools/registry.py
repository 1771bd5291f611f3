"""The :class:`Tools` registry: ``@tools.action(...)`` to register, ``definitions()`` and ``invoke()`` for the agent.

The agent's side of the API is three calls:

* :meth:`Tools.definitions` once per ``session.update`` (the SDK's ``RealtimeFunctionTool`` models);
* per function call, :meth:`Tools.invoke` (everything in one await), or :meth:`Tools.prepare` then
  :meth:`~rtvoice.tools.PreparedCall.run` when the status or holding instruction should be spoken
  before the result exists;
* the :class:`~rtvoice.tools.ToolResult`'s ``output`` goes into the ``function_call_output`` item,
  whatever happened: every failure is an ``"Error: ..."`` text.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from openai.types.realtime import RealtimeFunctionTool
from pydantic import BaseModel

from rtvoice.exceptions import ConfigurationError
from rtvoice.tools.inject import ToolContext
from rtvoice.tools.invoke import PreparedCall, prepare_call
from rtvoice.tools.result import ToolResult
from rtvoice.tools.status import Status
from rtvoice.tools.threads import DEFAULT_MAX_THREADS, DEFAULT_MAX_WAITING, ToolThreads
from rtvoice.tools.tool import Tool, build_tool

__all__ = ["Tools"]

F = TypeVar("F", bound=Callable[..., Any])


class Tools:
    """A set of tools the model may call, in registration order.

    Build it once and share it: every agent (one per call) and a supervisor can use the same registry at
    the same time. Registration is for start-up; afterwards nothing in it changes per call. Plain ``def``
    tools run in the registry's own bounded thread pool (see :mod:`rtvoice.tools.threads`), created at the
    first sync call and shut down by :meth:`close`.

    Args:
        max_threads: threads for sync tools (they run at most this many at a time; others wait).
        max_waiting: sync calls that may wait for a thread; a call beyond that is answered with a
            ``busy`` error output at once.

    Raises:
        ConfigurationError: a bound is out of range.

    Example::

        tools = Tools()

        @tools.action("Get the current weather for a given city")
        async def get_weather(city: str) -> str:
            return f"It's 18°C and partly cloudy in {city}."

        result = await tools.invoke("get_weather", '{"city": "Paris"}', context=ToolContext(), timeout=5.0)
        assert result.output == "It's 18°C and partly cloudy in Paris."
    """

    def __init__(
        self, *, max_threads: int = DEFAULT_MAX_THREADS, max_waiting: int = DEFAULT_MAX_WAITING
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self._threads = ToolThreads(max_threads, max_waiting)

    @property
    def threads(self) -> ToolThreads:
        """The pool sync tools run in (its ``running`` and ``waiting`` counts are live)."""
        return self._threads

    def close(self) -> None:
        """Shut the sync tools' thread pool down (at application exit; a later sync call starts a new one).

        Calls waiting for a thread are dropped; running tools finish in their threads (not waited for).
        """
        self._threads.close()

    def action(
        self,
        description: str,
        name: str | None = None,
        param_model: type[BaseModel] | None = None,
        result_instruction: str | None = None,
        holding_instruction: str | None = None,
        status: Status | None = None,
        *,
        holding_delay: float = 0.0,
    ) -> Callable[[F], F]:
        """Register the decorated function as a tool; the function itself is returned unchanged.

        Both ``async def`` and plain ``def`` functions work (plain ones run in a thread). Parameters
        annotated ``Inject[T]`` are filled by the framework; the others become the tool's arguments,
        required when they have no default.

        Args:
            description: what the tool does and when to use it, for the model.
            name: the name the model calls; the function's name by default.
            param_model: a pydantic model whose fields are the arguments; the function then receives a
                validated instance in its one parameter that has no default and is not injected.
            result_instruction: how the model should present the result (applied by the agent).
            holding_instruction: what the assistant says while the tool runs (applied by the agent): at
                once, right after the model called the tool and before the result arrives (the README's
                promise), unless ``holding_delay`` is set.
            status: a spoken update: a ``str.format`` template over the argument names
                (``"Playing {song} now."``), checked now, or a callable taking the validated arguments model.
            holding_delay: seconds to wait before saying ``holding_instruction``; the phrase is said only if
                the tool is still running then (so a quick tool is not announced). Default 0: at once.

        Raises:
            ConfigurationError: the name is taken or invalid, or the function cannot be a tool (see
                :func:`rtvoice.tools.tool.build_tool`).
        """

        def register(function: F) -> F:
            # The decorating frame's locals, so that classes defined inside a function resolve when
            # annotations are strings (``from __future__ import annotations``).
            localns = sys._getframe(1).f_locals
            tool = build_tool(
                function,
                description=description,
                name=name,
                param_model=param_model,
                result_instruction=result_instruction,
                holding_instruction=holding_instruction,
                status=status,
                holding_delay=holding_delay,
                localns=localns,
            )
            self._add(tool)
            return function

        return register

    def _add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ConfigurationError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def merge(self, other: Tools) -> None:
        """Add every tool of ``other`` (rtvoice 0.7.0 silently replaced same-named tools; this refuses).

        Raises:
            ConfigurationError: a name exists in both; nothing is added then.
        """
        clashes = sorted(self._tools.keys() & other._tools.keys())
        if clashes:
            raise ConfigurationError(f"cannot merge tools: already registered: {', '.join(clashes)}")
        self._tools.update(other._tools)

    def get(self, name: str) -> Tool | None:
        """The tool registered under ``name``, or None."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __repr__(self) -> str:
        return f"Tools({', '.join(self._tools) or 'empty'})"

    def definitions(self) -> list[RealtimeFunctionTool]:
        """The tools as the SDK's ``RealtimeFunctionTool`` models, for ``session.update``."""
        return [tool.definition() for tool in self._tools.values()]

    def prepare(self, name: str, arguments_json: str | bytes | None) -> PreparedCall:
        """Check a call without running it: the tool exists, the arguments validate, the status renders.

        Args:
            name: the function name the model called.
            arguments_json: the call's ``arguments`` string; empty means none.

        Returns:
            A :class:`~rtvoice.tools.PreparedCall`; ``await call.run(context=..., timeout=...)`` runs it.
        """
        return prepare_call(self._tools.get(name), name, arguments_json, self.names, threads=self._threads)

    # ASYNC109: see PreparedCall.run; an overrun is a result for the model, not an exception.
    async def invoke(
        self,
        name: str,
        arguments_json: str | bytes | None,
        *,
        context: ToolContext,
        timeout: float | None,  # noqa: ASYNC109
    ) -> ToolResult:
        """Run one call the model made and return what to answer it with. Never raises for a tool's sake.

        Args:
            name: the function name the model called.
            arguments_json: the call's ``arguments`` string; empty means none.
            context: what ``Inject[T]`` parameters are filled from.
            timeout: seconds the tool may run, counting a sync tool's wait for a free thread; None for no
                limit. A sync tool that overruns keeps its thread until it finishes; only the wait is
                bounded.

        Returns:
            The result. ``output`` is the text for the ``function_call_output`` item: the serialised
            return value, or an ``"Error: ..."`` sentence for an unknown tool, bad JSON, invalid
            arguments, nothing to inject, an exception, a timeout or an unserialisable result.

        Raises:
            ValueError: ``timeout`` is not a positive number.
            asyncio.CancelledError: the calling task was cancelled (at shutdown); the tool is cancelled too.
        """
        return await self.prepare(name, arguments_json).run(context=context, timeout=timeout)
