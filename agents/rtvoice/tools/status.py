"""Status texts: a spoken update about a running tool, from a template or a callable.

``status="Playing {song} now."`` names arguments in ``{}``; the placeholders are checked when the tool is
registered, so a typo fails at import time, not in the middle of a call. rtvoice 0.7.0 allowed status
only with ``param_model``; here signature tools have it too, with their parameter names as placeholders
(the arguments are validated into a model either way). Format specs and attribute access work as in
``str.format``: ``{limit:>3}``, ``{address.city}``.

A callable status receives the validated arguments model (for a signature tool, a generated model whose
attributes are the parameters) and returns the text. It is not dry-run at registration (0.7.0 called it
on a made-up model, which runs user code on fake data); if it raises at call time the failure is logged
and the status is None, the tool still runs.

This module is pure: no asyncio, no clock.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeAlias

from pydantic import BaseModel

from rtvoice.exceptions import ConfigurationError

__all__ = ["Status", "check_status", "render_status"]

_log = logging.getLogger(__name__)

Status: TypeAlias = str | Callable[[Any], str]
"""A ``str.format`` template over the argument names, or a callable taking the validated arguments model."""


def _placeholders(template: str) -> list[str]:
    """The root names of the template's replacement fields (``song`` for ``{song.title!r:>5}``)."""
    names = []
    for _, field_name, spec, _ in string.Formatter().parse(template):
        if field_name is None:
            continue
        root = field_name.split(".", 1)[0].split("[", 1)[0]
        names.append(root)
        if spec:
            names.extend(_placeholders(spec))  # nested fields: "{value:{width}}"
    return names


def check_status(status: object, fields: Collection[str], tool: str) -> None:
    """Check a tool's ``status`` option at registration.

    Args:
        status: the option as given.
        fields: the argument names a template may use.
        tool: the tool's name, for messages.

    Raises:
        ConfigurationError: not a string or a callable; a malformed template; a positional or unknown
            placeholder.
    """
    if status is None or (callable(status) and not isinstance(status, str)):
        return
    if not isinstance(status, str):
        raise ConfigurationError(f"tool {tool!r}: status must be a string template or a callable")
    try:
        names = _placeholders(status)
    except ValueError as exc:
        raise ConfigurationError(f"tool {tool!r}: status template {status!r} is malformed: {exc}") from exc
    for name in names:
        if name == "" or name.isdigit():
            raise ConfigurationError(
                f"tool {tool!r}: status template {status!r} has a positional placeholder; name an argument"
            )
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigurationError(
                f"tool {tool!r}: status template {status!r} uses {{{name}}}, which is not an argument "
                f"(arguments: {known})"
            )


def render_status(
    status: Status | None, arguments: BaseModel, values: Mapping[str, object], tool: str
) -> str | None:
    """Render a status for one call; never raises.

    Args:
        status: the tool's status option.
        arguments: the validated arguments model (what a callable receives).
        values: the arguments by name (what a template formats).
        tool: the tool's name, for the log.

    Returns:
        The text, or None when there is no status or it failed (logged).
    """
    if status is None:
        return None
    try:
        # A callable is typed to return str, but it is user code: check what it really returned.
        text: object = status.format_map(values) if isinstance(status, str) else status(arguments)
    except Exception:
        _log.exception("tool %r: rendering its status failed", tool)
        return None
    if not isinstance(text, str):
        _log.error("tool %r: its status callable returned %s, not a string", tool, type(text).__name__)
        return None
    return text
