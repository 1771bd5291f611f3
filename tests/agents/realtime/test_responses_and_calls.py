"""ResponseLedger (one response at a time) and CallBook (function-call batches), directly."""

from __future__ import annotations

import pytest
from openai.types.realtime import RealtimeResponseCreateParams, ResponseCreateEvent

from rtvoice.exceptions import LocalProtocolError
from rtvoice.realtime.calls import Call, CallBook
from rtvoice.realtime.responses import ResponseLedger, counter_ids


def test_counter_ids() -> None:
    new_id = counter_ids("x_")
    assert [new_id(), new_id()] == ["x_1", "x_2"]


def test_not_ready_means_queued() -> None:
    ledger = ResponseLedger(counter_ids())
    assert ledger.request(None, ready=False) is None
    assert (ledger.queued, ledger.active) == (1, False)
    assert ledger.flush(ready=False) is None
    assert ledger.flush(ready=True) == ResponseCreateEvent(type="response.create", event_id="rtvoice_1")
    assert (ledger.active, ledger.flush(ready=True)) == (True, None)


def test_a_response_taken_for_ours_may_be_refused_later() -> None:
    ledger = ResponseLedger(counter_ids())
    assert ledger.request(None, ready=True) is not None  # rtvoice_1, pending
    first = ledger.created("resp_a")  # taken as the answer to rtvoice_1
    other = ledger.created("resp_b")  # a second response (out of band): answers nothing
    assert (first.create_event_id, other.create_event_id) == ("rtvoice_1", None)
    assert ledger.failed("rtvoice_1", refused=True)
    assert first.create_event_id is None
    assert not ledger.failed("rtvoice_1", refused=True)  # handled once
    assert not ledger.failed("someone_else", refused=True)
    assert ledger.queued == 1
    ledger.done("resp_a")
    assert ledger.flush(ready=True) is None  # resp_b is still open
    ledger.done("resp_b")
    ledger.done("resp_unknown")
    assert ledger.flush(ready=True) == ResponseCreateEvent(type="response.create", event_id="rtvoice_2")


def test_interrupting() -> None:
    ledger = ResponseLedger(counter_ids())
    ledger.created("resp_a")
    assert (ledger.any_live, ledger.is_live("resp_a")) == (True, True)
    ledger.server_interrupted()
    assert (ledger.any_live, ledger.is_live("resp_a"), ledger.is_live("resp_x")) == (False, False, False)
    assert ledger.interrupt_all() == []  # the server already cancels it
    ledger.done("resp_a")
    params = RealtimeResponseCreateParams(instructions="hi")
    ledger.request(params, ready=True)
    assert ledger.interrupt_all() == []  # pending: cancelled once created
    created = ledger.created("resp_b")
    assert created.interrupted
    ledger.done("resp_b")
    ledger.created("resp_c")
    assert ledger.interrupt_all() == ["resp_c"]
    assert ledger.get("resp_c") is not None and ledger.get("resp_b") is None


def test_queue_coalesces_and_is_bounded() -> None:
    ledger = ResponseLedger(counter_ids())
    ledger.created("resp_busy")
    same = RealtimeResponseCreateParams(instructions="same")
    assert ledger.request(same, ready=True) is None
    assert ledger.request(RealtimeResponseCreateParams(instructions="same"), ready=True) is None
    assert ledger.queued == 1
    for n in range(7):
        ledger.request(RealtimeResponseCreateParams(instructions=str(n)), ready=True)
    with pytest.raises(LocalProtocolError):
        ledger.request(None, ready=True)


def test_callbook_reports_each_call_once_and_completes_batches() -> None:
    book = CallBook()
    book.record("r", Call("c1", "f", "{}", "i1"))
    book.record("r", Call("c1", "f", '{"late": true}', "i1"))  # seen again in response.done: ignored
    book.record("r", Call("c2", "g", "{}", "i2"))
    calls = book.take("r")
    assert calls == [Call("c1", "f", "{}", "i1"), Call("c2", "g", "{}", "i2")]
    assert book.take("r") == []
    book.open_batch("r", calls)
    assert book.outstanding == {"c1", "c2"}
    assert book.answer("c1", respond=False, follow_up=None) is None
    batch = book.answer("c2", respond=True, follow_up=None)
    assert batch is not None and batch.respond and batch.pending == set() and batch.response_id == "r"
    with pytest.raises(LocalProtocolError):
        book.answer("c2", respond=True, follow_up=None)
