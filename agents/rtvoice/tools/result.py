"""What a tool call produced: :class:`ToolResult`, the error texts the model reads, and result serialisation.

Every outcome, success or failure, has an ``output`` string for the ``function_call_output`` item. A
call that gets no output leaves the Realtime model waiting (about 30 s) and then silent, which is what
rtvoice 0.7.0 did on every failure; here a failure is a short sentence the model can speak about
("Error: tool 'x' timed out after 5.0 s"). Error texts never carry tracebacks: those go to the log.

This module is pure: no asyncio, no clock.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

__all__ = ["ToolErrorKind", "ToolResult", "serialise_result"]

_MESSAGE_LIMIT = 300
_MAX_VALIDATION_ERRORS = 5


class ToolErrorKind(enum.StrEnum):
    """Why a tool call failed (:attr:`ToolResult.error_kind`)."""

    UNKNOWN_TOOL = "unknown_tool"
    """The model called a name that is not registered."""
    INVALID_JSON = "invalid_json"
    """The arguments are not JSON, or not a JSON object."""
    INVALID_ARGUMENTS = "invalid_arguments"
    """The arguments do not validate (a missing required key, a wrong type)."""
    MISSING_INJECTABLE = "missing_injectable"
    """An ``Inject[T]`` parameter without a default found nothing to inject."""
    TOOL_FAILED = "tool_failed"
    """The tool raised."""
    TIMEOUT = "timeout"
    """The tool did not finish within the timeout."""
    INVALID_RESULT = "invalid_result"
    """The tool's return value could not be serialised."""
    BUSY = "busy"
    """A sync tool found every tool thread busy and the waiting line full; it did not run."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call.

    Args:
        call_name: the tool name the model called (also for unknown tools).
        output: the text for the ``function_call_output`` item: the serialised result, or the error text.
        ok: True when the tool ran and returned.
        error: the error text (the same as ``output``) when ``ok`` is False, else None.
        error_kind: why it failed, when it did.
        status: the tool's ``status`` rendered with the validated arguments; None when the tool has no
            status, the arguments were invalid, or rendering failed.
        result_instruction: the tool's ``result_instruction``; None on failure, because an instruction
            written for a result does not fit an error.
        holding_instruction: the tool's ``holding_instruction`` (None for unknown tools).
        duration_s: how long the tool itself ran (0.0 when it never started).
    """

    call_name: str
    output: str
    ok: bool
    error: str | None = None
    error_kind: ToolErrorKind | None = None
    status: str | None = None
    result_instruction: str | None = None
    holding_instruction: str | None = None
    duration_s: float = 0.0


def failure(
    name: str,
    kind: ToolErrorKind,
    text: str,
    *,
    status: str | None = None,
    holding_instruction: str | None = None,
    duration_s: float = 0.0,
) -> ToolResult:
    """Build a failed :class:`ToolResult` whose output is ``text``."""
    return ToolResult(
        call_name=name,
        output=text,
        ok=False,
        error=text,
        error_kind=kind,
        status=status,
        holding_instruction=holding_instruction,
        duration_s=duration_s,
    )


def shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    """One line of at most ``limit`` characters: error texts are read aloud by the model, keep them short."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def unknown_tool_text(name: str, available: list[str]) -> str:
    """The output for a call to a name that is not registered (the model hallucinated or misspelt it)."""
    if not available:
        return f"Error: there is no tool named {shorten(name, 64)!r}; no tools are available."
    return f"Error: there is no tool named {shorten(name, 64)!r}. Available tools: {', '.join(available)}."


def invalid_json_text(name: str, detail: str) -> str:
    """The output for arguments that are not a JSON object."""
    return f"Error: the arguments for tool {name!r} are not a valid JSON object ({detail})."


def validation_text(name: str, exc: ValidationError) -> str:
    """The output for arguments that do not validate, listing up to five problems by argument."""
    problems = []
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    for error in errors[:_MAX_VALIDATION_ERRORS]:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {error['msg']}")
    if len(errors) > _MAX_VALIDATION_ERRORS:
        problems.append(f"and {len(errors) - _MAX_VALIDATION_ERRORS} more")
    return shorten(f"Error: invalid arguments for tool {name!r}: {'; '.join(problems)}.", 2 * _MESSAGE_LIMIT)


def missing_injectable_text(name: str, parameter: str, display: str) -> str:
    """The output when an ``Inject[T]`` parameter found nothing (a configuration problem of the app)."""
    return (
        f"Error: tool {name!r} could not run: nothing to inject for its parameter {parameter!r} ({display})."
    )


def exception_text(name: str, exc: BaseException, *, deliberate: bool) -> str:
    """The output for a tool that raised: ``Error: tool 'x' failed: ValueError: message``.

    Args:
        name: the tool.
        exc: what it raised.
        deliberate: a :class:`~rtvoice.exceptions.ToolError`, whose message is meant for the model
            as is, without the class name.
    """
    message = shorten(str(exc))
    if deliberate and message:
        return f"Error: tool {name!r} failed: {message}"
    kind = type(exc).__name__
    return (
        f"Error: tool {name!r} failed: {kind}: {message}"
        if message
        else f"Error: tool {name!r} failed: {kind}"
    )


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.3g}"


def timeout_text(name: str, timeout: float) -> str:
    """The output for a tool that did not finish in time: ``Error: tool 'x' timed out after 5.0 s``."""
    return f"Error: tool {name!r} timed out after {_seconds(timeout)} s"


def busy_text(name: str, why: str) -> str:
    """The output when a sync tool could not get a thread: ``Error: tool 'x' could not run now: ...``."""
    return f"Error: tool {name!r} could not run now: {why}. Try again in a moment."


def invalid_result_text(name: str, exc: Exception) -> str:
    """The output for a return value that cannot be serialised."""
    return f"Error: tool {name!r} returned a result that cannot be sent: {type(exc).__name__}: {shorten(str(exc))}"


def _json_default(value: Any) -> Any:
    # Models, dataclasses, enums, datetimes, ...: their JSON form; anything else: its str().
    return to_jsonable_python(value, fallback=str, exclude_none=True)


def serialise_result(value: object) -> str:
    """Turn a tool's return value into the ``function_call_output`` text.

    ``str`` as is; a pydantic model as JSON without None fields; None as ``"OK"``; anything else as JSON
    (models, dataclasses, enums and datetimes inside converted, other objects as their ``str``).

    Raises:
        ValueError: the value cannot be written as JSON (a circular reference).
        TypeError: the value cannot be written as JSON.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "OK"
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_none=True)
    return json.dumps(value, ensure_ascii=False, default=_json_default)
