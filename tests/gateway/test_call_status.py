"""The status records and the placed-call plans: pure bookkeeping, bounded."""

from __future__ import annotations

from rtvoice_gateway.call_status import CallStatuses, OutboundPlan, OutboundPlans, is_machine
from rtvoice_gateway.numbers import CallDetails, NumberEntry


def test_callbacks_are_recorded_per_call_and_the_latest_status_follows_the_sequence_numbers() -> None:
    statuses = CallStatuses()
    base = {"CallSid": "CA1", "Direction": "outbound-api", "From": "+15550100001", "To": "+15550100777"}
    statuses.record(base | {"CallStatus": "ringing", "SequenceNumber": "1"}, 10.0)
    statuses.record(base | {"CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "12"}, 11.0)
    statuses.record(base | {"CallStatus": "in-progress", "SequenceNumber": "2"}, 12.0)  # arrived late
    statuses.record({"CallSid": "CA1", "AnsweredBy": "machine_end_beep"}, 13.0)
    record = statuses["CA1"]
    assert record.statuses == ["ringing", "completed", "in-progress"]  # as they arrived
    assert record.status == "completed"  # by sequence number
    assert record.ended and record.duration_s == 12
    assert record.answered_by == "machine_end_beep"
    assert (record.direction, record.from_number, record.to_number) == (
        "outbound-api",
        "+15550100001",
        "+15550100777",
    )
    assert [event.received_at for event in record.events] == [10.0, 11.0, 12.0, 13.0]
    assert record.as_json()["status"] == "completed" and len(record.as_json()["events"]) == 4  # type: ignore[arg-type]


def test_without_sequence_numbers_the_last_status_to_arrive_is_the_status() -> None:
    statuses = CallStatuses()
    statuses.record({"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "x"}, 1.0)
    statuses.record({"CallSid": "CA1", "CallStatus": "busy"}, 2.0)
    assert statuses["CA1"].status == "busy" and statuses["CA1"].ended
    assert statuses["CA1"].events[0].sequence is None  # a bad number is dropped, not an error
    assert CallStatuses().open("CA2").status is None


def test_only_the_newest_calls_are_kept() -> None:
    statuses = CallStatuses(kept=3)
    for n in range(5):
        statuses.record({"CallSid": f"CA{n}", "CallStatus": "ringing"}, float(n))
    assert [record.call_sid for record in statuses.records()] == ["CA2", "CA3", "CA4"]
    assert "CA0" not in statuses and statuses.get("CA0") is None and len(statuses) == 3


def test_machine_answers() -> None:
    assert [
        is_machine(v) for v in ("machine_start", "machine_end_beep", "fax", "human", "unknown", None)
    ] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def _plan(ref: str, at: float) -> OutboundPlan:
    def factory(details: CallDetails) -> object:
        raise AssertionError("not called")

    return OutboundPlan(ref, "+15550100777", "+15550100001", NumberEntry(agent="a:b"), factory, at)  # type: ignore[arg-type]


def test_plans_are_found_by_ref_and_call_sid_and_expire_or_overflow() -> None:
    plans = OutboundPlans(kept=2, ttl_s=100)
    first = _plan("r1", 0.0)
    plans.add(first, 0.0)
    first.call_sid = "CA1"
    assert plans.by_ref("r1") is first and plans.by_call_sid("CA1") is first
    plans.add(_plan("r2", 50.0), 50.0)
    plans.add(_plan("r3", 120.0), 120.0)  # r1 has expired
    assert plans.by_ref("r1") is None and len(plans) == 2
    plans.add(_plan("r4", 121.0), 121.0)  # over the bound: the oldest goes
    assert plans.by_ref("r2") is None and plans.by_ref("r4") is not None
    plans.discard(plans.by_ref("r4"))  # type: ignore[arg-type]
    assert plans.by_ref("r4") is None and len(plans) == 1
