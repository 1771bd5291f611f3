"""Suite-wide fixtures and the check that every client event the project sends is valid."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import hypothesis
import pytest

from rtvoice.testing import add_client_message_observer, remove_client_message_observer
from support.client_events import CLIENT_MESSAGES, check_client_message

# CI runs the same hypothesis examples every time (a red build is then reproducible, never a roll of the
# dice); local runs keep exploring new examples. Set HYPOTHESIS_PROFILE=ci to reproduce CI locally.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis.settings.register_profile("dev", print_blob=True)
hypothesis.settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)

# hypothesis is imported up front on purpose: its pytest plugin imports it lazily at the terminal
# summary, through pytest's assertion rewriting (ast.parse). On CPython 3.11, ast's recursion counter is
# not thread-safe, and the SDK's worker threads (DNS lookups) leave it skewed, so that late parse fails
# with "SystemError: AST constructor recursion depth mismatch" after every test has passed.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The suite-wide validation of client events must run after every test that feeds it.
    last = [item for item in items if item.get_closest_marker("runs_last")]
    others = [item for item in items if not item.get_closest_marker("runs_last")]
    items[:] = others + last


@pytest.fixture(autouse=True)
def record_client_messages(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every client event a simulator received during the test is accepted by the SDK's own models.

    Checked at the test's teardown (so that it holds under pytest-xdist too, where each worker sees only
    its own tests); ``test_client_events_are_valid.py`` then checks that the run sent the events the
    project relies on.
    """
    if request.node.get_closest_marker("sends_invalid_events") or request.node.get_closest_marker(
        "leak_check"
    ):
        yield
        return
    seen: list[str] = []
    add_client_message_observer(seen.append)
    try:
        yield
    finally:
        remove_client_message_observer(seen.append)
    for message in seen:
        kind = check_client_message(message)
        CLIENT_MESSAGES.append((request.node.nodeid, kind))


@pytest.fixture(autouse=True)
def sigint_left_as_found() -> Iterator[None]:
    """No test leaves a SIGINT handler behind: the library never keeps one, and a leaked handler makes a
    later test on the same worker see a host that owns SIGINT."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    assert after is before or after == before, f"SIGINT handler left changed: {before!r} -> {after!r}"
