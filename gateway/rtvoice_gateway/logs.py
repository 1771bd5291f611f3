"""Logging for the ``rtvoice-gateway`` process: every line rendered by structlog, with the call it belongs to.

The library (``rtvoice``) logs through the standard :mod:`logging` module and never configures it; it binds
``session_id`` (and the gateway ``call_sid``) with :func:`rtvoice.logcontext.log_context`.
:func:`configure_logging` is for the command-line process only (a host, so it may configure the root
logger): one stdlib handler whose :class:`structlog.stdlib.ProcessorFormatter` renders both stdlib records
(the library's, websockets', ...) and structlog loggers the same way, with a timestamp, the level, the
logger name and the bound fields; JSON lines for servers, aligned text for people.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog
from structlog.typing import Processor

from rtvoice.logcontext import add_log_context

__all__ = ["LogFormat", "configure_logging"]

LogFormat = Literal["json", "console"]
"""``json``: one JSON object per line (servers, log shippers). ``console``: aligned text (people)."""

_HANDLER_NAME = "rtvoice_gateway"  # marks the one handler configure_logging owns on the root logger


def _shared_processors() -> list[Processor]:
    """What every line gets, whether it came from stdlib logging or from structlog."""
    return [
        structlog.contextvars.merge_contextvars,  # structlog's own bound context, if a caller uses it
        add_log_context,  # session_id, call_sid, ... bound with rtvoice.logcontext.log_context
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(fmt: LogFormat, stream: TextIO) -> list[Processor]:
    if fmt == "json":
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    isatty = getattr(stream, "isatty", None)
    colors = bool(isatty()) if callable(isatty) else False
    return [structlog.dev.ConsoleRenderer(colors=colors)]  # renders exc_info itself


def configure_logging(level: str = "INFO", fmt: LogFormat = "console", stream: TextIO | None = None) -> None:
    """Route all logging of this process through structlog, at ``level``, to ``stream`` (stderr).

    Call it once at start-up from the process's entry point; calling it again replaces its handler
    (never adds a second one) and leaves handlers installed by others alone.

    Args:
        level: a level name (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``; any case).
        fmt: ``json`` for servers, ``console`` for people.
        stream: where lines go; standard error by default.

    Raises:
        ValueError: an unknown level or format.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None or level.upper() == "NOTSET":
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    if fmt not in ("json", "console"):
        raise ValueError(f"unknown log format {fmt!r}; use 'json' or 'console'")
    out = sys.stderr if stream is None else stream
    shared = _shared_processors()
    formatter = structlog.stdlib.ProcessorFormatter(
        # stdlib records (the library's): the shared fields, plus anything passed with ``extra=``.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderer(fmt, out)],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
