"""The client events the project sent during this test run are the ones it relies on.

The simulators of every test report the raw client messages they receive; ``conftest.py`` checks each one
against the openai SDK's own models at the end of its test (except in tests marked
``sends_invalid_events``, which send malformed events on purpose). This test runs last in its process and
checks that the run did exercise the events the project relies on, so that a broken observer cannot make
that check vacuous.
"""

from __future__ import annotations

import pytest

from support.client_events import CLIENT_MESSAGES, check_client_message


@pytest.mark.runs_last
@pytest.mark.serial
def test_the_run_sent_the_events_the_project_relies_on() -> None:
    if not CLIENT_MESSAGES:
        pytest.skip("no test that talks to a simulator ran in this process")
    kinds = {kind for _, kind in CLIENT_MESSAGES}
    assert {"session.update", "input_audio_buffer.append", "response.create"} <= kinds


def test_an_event_with_an_unknown_parameter_is_refused() -> None:
    with pytest.raises(AssertionError, match="input_audio_format"):
        check_client_message(
            '{"type": "session.update", "session": {"type": "realtime", "input_audio_format": "pcm16"}}'
        )


def test_an_event_of_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError):
        check_client_message('{"type": "session.frobnicate"}')


def test_a_valid_event_gives_its_type() -> None:
    assert check_client_message('{"type": "response.create"}') == "response.create"
