"""Running a tool call: injection, the thread or the loop, the timeout, and every failure turned into output.

This is the asyncio shell around the pure parts (:mod:`rtvoice.tools.tool`, :mod:`rtvoice.tools.result`).
A call happens in two steps, so that the agent can speak the status *before* the result exists:

1. :func:`prepare_call` (sync, instant): find the tool, decode and validate the arguments, render the
   status. Failures here give a :class:`PreparedCall` that already carries its failed result.
2. :meth:`PreparedCall.run` (async): inject, run, serialise. It never raises for a tool's sake; only
   ``asyncio.CancelledError`` (the agent shutting down) propagates.

**Where tools run.** ``async def`` tools are awaited on the event loop, bounded by ``asyncio.timeout``.
Plain ``def`` tools run in the registry's own bounded thread pool (:class:`~rtvoice.tools.threads.ToolThreads`,
never the loop's default executor, which DNS look-ups need; context variables are carried over) so they
never block the loop, as they did in rtvoice 0.7.0. The timeout bounds the *wait*, including the wait for a
free thread: a thread cannot be stopped, so a sync tool that overruns keeps running in its thread and its
late result is discarded. Keep sync tools bounded themselves (give their HTTP clients a timeout).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from rtvoice.exceptions import ToolError
from rtvoice.tools.inject import ToolContext
from rtvoice.tools.result import (
    ToolErrorKind,
    ToolResult,
    busy_text,
    exception_text,
    failure,
    invalid_result_text,
    missing_injectable_text,
    serialise_result,
    timeout_text,
    unknown_tool_text,
)
from rtvoice.tools.status import render_status
from rtvoice.tools.threads import ToolThreads, ToolThreadsBusy
from rtvoice.tools.tool import ArgumentsError, Tool

__all__ = ["PreparedCall", "prepare_call"]

_log = logging.getLogger(__name__)

#: The clock ``ToolResult.duration_s`` is measured with (a module attribute so tests can drive it).
_clock = time.perf_counter


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A tool call whose arguments are checked, ready to :meth:`run`.

    Args:
        name: the name the model called.
        tool: the tool, or None for an unknown name.
        arguments: the validated arguments model, or None when they were unusable.
        status: the rendered status text, when the tool has one and it rendered.
        failure: the result to send when the call cannot run (unknown tool, bad arguments), else None.
        threads: where a sync tool runs (its registry's pool).
    """

    name: str
    tool: Tool | None
    arguments: BaseModel | None
    status: str | None
    failure: ToolResult | None
    threads: ToolThreads

    @property
    def ok(self) -> bool:
        """The call can run (``failure`` is None)."""
        return self.failure is None

    @property
    def holding_instruction(self) -> str | None:
        """What the assistant should say while the tool runs, if the tool has a holding instruction."""
        return None if self.tool is None else self.tool.holding_instruction

    @property
    def holding_delay(self) -> float:
        """Seconds to wait before saying the holding instruction (0: at once)."""
        return 0.0 if self.tool is None else self.tool.holding_delay

    # ASYNC109: the timeout is not the caller's to apply: an overrun must become a timeout *result*
    # (output for the model), which a caller's asyncio.timeout around this await could not produce.
    async def run(self, *, context: ToolContext, timeout: float | None) -> ToolResult:  # noqa: ASYNC109
        """Run the call and return its result; never raises for a failing tool.

        Args:
            context: what ``Inject[T]`` parameters are filled from.
            timeout: seconds the tool may take; None for no limit.

        Returns:
            The result; on any failure ``ok`` is False and ``output`` says what went wrong.

        Raises:
            ValueError: ``timeout`` is not a positive number (a bug in the caller, not the tool).
            asyncio.CancelledError: the calling task was cancelled; the tool is cancelled with it.
        """
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
        if self.failure is not None:
            return self.failure
        tool, arguments = self.tool, self.arguments
        assert tool is not None and arguments is not None  # guaranteed by prepare_call when failure is None
        name, status, holding = self.name, self.status, tool.holding_instruction

        kwargs = tool.call_arguments(arguments)
        for parameter in tool.injected:
            found, value = context.find(parameter)
            if found:
                kwargs[parameter.name] = value
            elif parameter.optional and not parameter.has_default:
                kwargs[parameter.name] = None
            elif not parameter.has_default:
                _log.error(
                    "tool %r: nothing in the ToolContext matches Inject[%s] for parameter %r",
                    name,
                    parameter.display,
                    parameter.name,
                )
                text = missing_injectable_text(name, parameter.name, parameter.display)
                return failure(
                    name, ToolErrorKind.MISSING_INJECTABLE, text, status=status, holding_instruction=holding
                )

        started = _clock()
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                value = await _call(tool, kwargs, self.threads)
        except ToolThreadsBusy as exc:
            _log.warning("tool %r not run: %s", name, exc)
            text = busy_text(name, str(exc))
            return failure(name, ToolErrorKind.BUSY, text, status=status, holding_instruction=holding)
        except TimeoutError as exc:
            elapsed = _clock() - started
            if scope.expired():
                _log.warning("tool %r timed out after %.3f s", name, elapsed)
                kind, text = ToolErrorKind.TIMEOUT, timeout_text(name, timeout or elapsed)
            else:  # the tool's own TimeoutError (say, from its HTTP client) is an ordinary failure
                _log.error("tool %r failed", name, exc_info=exc)
                kind, text = ToolErrorKind.TOOL_FAILED, exception_text(name, exc, deliberate=False)
            return failure(name, kind, text, status=status, holding_instruction=holding, duration_s=elapsed)
        except Exception as exc:
            elapsed = _clock() - started
            deliberate = isinstance(exc, ToolError)
            if deliberate:  # raised on purpose, with a message for the model: no traceback needed
                _log.info("tool %r reported an error: %s", name, exc)
            else:
                _log.error("tool %r failed", name, exc_info=exc)
            text = exception_text(name, exc, deliberate=deliberate)
            return failure(
                name,
                ToolErrorKind.TOOL_FAILED,
                text,
                status=status,
                holding_instruction=holding,
                duration_s=elapsed,
            )
        elapsed = _clock() - started

        try:
            output = serialise_result(value)
        except Exception as exc:
            _log.error("tool %r returned a result that cannot be serialised", name, exc_info=exc)
            return failure(
                name,
                ToolErrorKind.INVALID_RESULT,
                invalid_result_text(name, exc),
                status=status,
                holding_instruction=holding,
                duration_s=elapsed,
            )
        return ToolResult(
            call_name=name,
            output=output,
            ok=True,
            status=status,
            result_instruction=tool.result_instruction,
            holding_instruction=holding,
            duration_s=elapsed,
        )


async def _call(tool: Tool, kwargs: dict[str, Any], threads: ToolThreads) -> object:
    if tool.is_async:
        result: object = await tool.function(**kwargs)
    else:
        result = await threads.run(tool.function, kwargs)
    if inspect.isawaitable(result):  # a plain function that returned a coroutine (a wrapper, a lambda)
        result = await result
    return result


def prepare_call(
    tool: Tool | None,
    name: str,
    arguments_json: str | bytes | None,
    available: Sequence[str],
    *,
    threads: ToolThreads,
) -> PreparedCall:
    """Check one call: the tool exists, its arguments validate; render its status.

    Args:
        tool: the tool registered under ``name``, or None.
        name: the name the model called.
        arguments_json: the call's arguments as the model sent them.
        available: every registered name, for the unknown-tool message.
        threads: the pool a sync tool will run in.
    """
    if tool is None:
        _log.warning("the model called an unknown tool %r", name)
        text = unknown_tool_text(name, list(available))
        return PreparedCall(name, None, None, None, failure(name, ToolErrorKind.UNKNOWN_TOOL, text), threads)
    try:
        arguments = tool.parse_arguments(arguments_json)
    except ArgumentsError as exc:
        _log.warning("tool %r: unusable arguments: %s", name, exc.text)
        result = failure(name, exc.kind, exc.text, holding_instruction=tool.holding_instruction)
        return PreparedCall(name, tool, None, None, result, threads)
    status = render_status(tool.status, arguments, tool.argument_values(arguments), name)
    return PreparedCall(name, tool, arguments, status, None, threads)
