"""configure_logging: stdlib records and structlog loggers render through structlog with the call's fields."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from rtvoice.logcontext import log_context
from rtvoice_gateway.cli import build_parser
from rtvoice_gateway.logs import configure_logging

ROOT = Path(__file__).resolve().parents[2]
SAFETY_S = 60.0  # a stuck child fails the test instead of hanging it; nothing here is timed


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state (that is its job): put everything back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
        structlog.reset_defaults()


def ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.get_name() == "rtvoice_gateway"]


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_library_record_logged_from_a_task_carries_the_call_fields_as_json() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    library = logging.getLogger("rtvoice.agent")

    async def session() -> None:
        library.info("response %s done", "resp_1", extra={"tokens": 42})
        library.debug("below the level: not rendered")

    with log_context(session_id="s1", call_sid="CA1"):
        await asyncio.create_task(session())
    library.warning("no call")
    first, second = json_lines(out)
    assert first["event"] == "response resp_1 done" and first["tokens"] == 42
    assert (first["session_id"], first["call_sid"]) == ("s1", "CA1")
    assert (first["level"], first["logger"]) == ("info", "rtvoice.agent")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", first["timestamp"])
    assert second["event"] == "no call" and second["level"] == "warning"
    assert "session_id" not in second and "call_sid" not in second


def test_structlog_loggers_render_the_same_way_and_exceptions_are_kept() -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    log = structlog.stdlib.get_logger("rtvoice_gateway.server")
    with log_context(session_id="s2"):
        log.debug("media %s", "start", stream_sid="MZ1")
        try:
            raise ValueError("bad frame")
        except ValueError:
            log.exception("frame rejected")
    first, second = json_lines(out)
    assert first == {
        "event": "media start",
        "stream_sid": "MZ1",
        "session_id": "s2",
        "level": "debug",
        "logger": "rtvoice_gateway.server",
        "timestamp": first["timestamp"],
    }
    assert second["level"] == "error" and "ValueError: bad frame" in second["exception"]


def test_console_lines_show_level_logger_and_fields() -> None:
    out = io.StringIO()
    configure_logging("INFO", "console", stream=out)
    with log_context(session_id="s3", call_sid="CA3"):
        logging.getLogger("rtvoice.tool_calls").warning("tool %s timed out", "book_table")
    line = out.getvalue().strip()
    assert "\x1b[" not in line  # no colours on a stream that is not a terminal
    assert re.match(r"\d{4}-\d\d-\d\dT\S+Z \[warning\s*\] tool book_table timed out", line)
    assert "[rtvoice.tool_calls]" in line and "session_id=s3" in line and "call_sid=CA3" in line


def test_calling_twice_keeps_one_handler_and_leaves_others_alone() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", stream=first)
    configure_logging("WARNING", "json", stream=second)
    assert len(ours()) == 1 and other in logging.getLogger().handlers
    logging.getLogger("rtvoice").warning("once")
    logging.getLogger("rtvoice").info("filtered by the new level")
    assert first.getvalue() == "" and [line["event"] for line in json_lines(second)] == ["once"]
    assert logging.getLogger().level == logging.WARNING


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "json"), ("notset", "json"), ("INFO", "xml")])
def test_bad_levels_and_formats_are_refused(level: str, fmt: Any) -> None:
    with pytest.raises(ValueError):
        configure_logging(level, fmt, stream=io.StringIO())
    assert ours() == []


def test_the_cli_takes_a_global_log_level() -> None:
    parser = build_parser()
    assert parser.parse_args(["--log-level", "debug", "demo"]).log_level == "DEBUG"
    assert parser.parse_args(["demo"]).log_level is None  # without it, the CLI leaves logging alone
    with pytest.raises(SystemExit):
        parser.parse_args(["--log-level", "chatty", "demo"])


def test_the_cli_renders_the_libraries_logs_through_structlog() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("agents", "codecs", "gateway")),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rtvoice_gateway.cli",
            "--log-level",
            "INFO",
            "demo",
            "--speed",
            "50",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=SAFETY_S,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert lines, "no log line at INFO"
    # Every line on stderr went through the structlog renderer: timestamp, padded level, logger name.
    assert all(re.match(r"\d{4}-\d\d-\d\dT\S+Z \[\w+\s*\] ", line) for line in lines), lines[:5]


DOC = ROOT / "docs" / "logging.md"
EXAMPLES = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)
# What each example must write: (stream, text), the lines the page quotes.
EXPECTED = [
    (
        "stderr",
        "INFO rtvoice.agent [sess_A] session started\n"
        "INFO rtvoice.agent [sess_B] session started\n"
        "INFO rtvoice.agent [-] between calls\n",
    ),
    (
        "stdout",
        '"call_sid": "CA123", "event": "response resp_1 done", "level": "info", "logger": "rtvoice.agent"',
    ),
]


def test_the_logging_page_has_the_examples_it_describes() -> None:
    assert len(EXAMPLES) == len(EXPECTED)


@pytest.mark.parametrize(
    ("code", "expected"), list(zip(EXAMPLES, EXPECTED, strict=True)), ids=["stdlib", "structlog"]
)
def test_logging_docs_example_runs(code: str, expected: tuple[str, str], tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("agents", "codecs", "gateway")),
    }
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=SAFETY_S,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stream, text = expected
    assert text in (result.stderr if stream == "stderr" else result.stdout)
