"""Per-call log context: which session (and, in the gateway, which phone call) a log line belongs to.

The library logs through the standard :mod:`logging` module and never configures it. What it adds is a
*context*: ``RealtimeAgent.run()`` binds ``session_id`` (the gateway adds ``call_sid``) in a
:class:`contextvars.ContextVar`, and every task the session starts inherits it, so every line logged while
the call runs can carry it. Hosts choose how to show it:

* stdlib logging: add :class:`LogContextFilter` to a handler; records gain the fields as attributes
  (``%(session_id)s`` in a format string) and as one ``log_context`` dict;
* structlog: put :func:`add_log_context` in the processor chain (``rtvoice-gateway serve`` does).

Nothing here touches process-wide state: binding is a context variable, reset when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

__all__ = ["LogContextFilter", "add_log_context", "current_log_context", "log_context"]

_context: ContextVar[Mapping[str, str]] = ContextVar("rtvoice_log_context", default=MappingProxyType({}))


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Bind ``fields`` (merged over what is bound already) for the code in the block and the tasks it starts.

    ``None`` values are left out, so ``log_context(call_sid=maybe_sid)`` binds nothing when there is none.
    """
    merged = {**_context.get(), **{key: value for key, value in fields.items() if value is not None}}
    # Read-only, so what current_log_context() hands out cannot be changed behind the block's back.
    token = _context.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> Mapping[str, str]:
    """What is bound in the current context (read-only)."""
    return _context.get()


class LogContextFilter(logging.Filter):
    """A handler filter that copies the bound fields onto every record (it never drops a record).

    Fields missing from the context are set to ``"-"`` when listed in ``defaults``, so a format string such
    as ``"%(session_id)s %(message)s"`` works for lines logged outside any call too.
    """

    def __init__(self, defaults: tuple[str, ...] = ("session_id",)) -> None:
        super().__init__()
        self.defaults = defaults

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get()
        for key in self.defaults:
            if key not in bound and not hasattr(record, key):
                setattr(record, key, "-")
        for key, value in bound.items():
            setattr(record, key, value)
        record.log_context = dict(bound)
        return True


def add_log_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: adds the bound fields to the event (fields already in it win)."""
    for key, value in _context.get().items():
        event_dict.setdefault(key, value)
    return event_dict
