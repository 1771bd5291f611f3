"""The outbound API and the status callbacks over real loopback sockets: who may place a call (no token,
a wrong one, the right one, the API switched off), what bad input gets, carrier refusals, and signed
status callbacks (refused when the signature is wrong, recorded when it is right)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

import httpx2
import pytest
from pydantic import ValidationError

from rtvoice import RealtimeAgent
from rtvoice.testing import RealtimeSimulator
from rtvoice_gateway.numbers import CallDetails, NumberEntry
from rtvoice_gateway.settings import Settings, SettingsError
from rtvoice_gateway.testing import twilio_signature
from support.gateway import PUBLIC, TOKEN, LiveGateway, live_gateway
from support.timing import seconds

NUMBER = "+15550100001"
CALLEE = "+15550100777"
API_TOKEN = "test-api-token-0123456789abcdef"


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You call people.")


@pytest.fixture
async def live() -> AsyncIterator[LiveGateway]:
    async with (
        RealtimeSimulator() as sim,
        live_gateway(factory, sim=sim, settings={"gateway_api_token": API_TOKEN}) as live,
    ):
        live.api.outcome = "busy"  # placed calls end at once: these tests are about the API
        yield live


async def post_call(
    live: LiveGateway, body: Mapping[str, object] | None = None, *, auth: str | None = f"Bearer {API_TOKEN}"
) -> httpx2.Response:
    headers = {"Authorization": auth} if auth is not None else {}
    async with httpx2.AsyncClient(timeout=seconds(10)) as client:
        return await client.post(
            f"{live.base_url}/calls", json=dict(body or {"to": CALLEE, "from": NUMBER}), headers=headers
        )


async def test_placing_a_call_needs_the_bearer_token(
    live: LiveGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    missing = await post_call(live, auth=None)
    wrong = await post_call(live, auth="Bearer not-the-token-0123456789")
    basic = await post_call(live, auth=f"Basic {API_TOKEN}")
    assert [r.status_code for r in (missing, wrong, basic)] == [401, 401, 401]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert live.api.placed == []  # nothing reached the carrier
    assert live.gateway.refused["bad API token"] == 3

    good = await post_call(live)
    assert good.status_code == 201, good.text
    call_sid = good.json()["call_sid"]
    assert [placed.sid for placed in live.api.placed] == [call_sid]
    assert good.json()["agent"] == "tests:factory"
    assert API_TOKEN not in caplog.text  # the token is never logged


async def test_the_api_does_not_exist_without_a_token_setting() -> None:
    async with RealtimeSimulator() as sim, live_gateway(factory, sim=sim) as live:
        response = await post_call(live)
        async with httpx2.AsyncClient(timeout=seconds(10)) as client:
            status = await client.get(f"{live.base_url}/calls/CA123", headers={"Authorization": "Bearer x"})
    assert (response.status_code, status.status_code) == (404, 404)
    assert live.api.placed == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"to": "5550100777", "from": NUMBER}, "to: Value error, '5550100777' is not an E.164 number"),
        ({"to": CALLEE, "from": "+1"}, "from: Value error, '+1' is not an E.164 number"),
        ({"to": CALLEE}, "from: Field required"),
        ({"to": CALLEE, "from": NUMBER, "agent": "os:system"}, "unknown agent 'os:system'"),
        ({"to": CALLEE, "from": "+15550100999"}, "no agent for +15550100999"),
        (
            {"to": CALLEE, "from": NUMBER, "machine_detection": "Always"},
            """machine_detection: must be true, false, "Enable" or "DetectMessageEnd", not 'Always'""",
        ),
        ({"to": CALLEE, "from": NUMBER, "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
async def test_bad_requests_are_refused_with_the_reason(
    live: LiveGateway, body: dict[str, object], error: str
) -> None:
    response = await post_call(live, body)
    assert response.status_code == 400
    assert error.replace("Value error, ", "") in response.json()["error"]
    assert live.api.placed == []


async def test_a_body_that_is_not_json_is_a_400(live: LiveGateway) -> None:
    async with httpx2.AsyncClient(timeout=seconds(10)) as client:
        response = await client.post(
            f"{live.base_url}/calls", content=b"to=+1", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
    assert response.status_code == 400 and "body" in response.json()["error"]


async def test_another_agent_of_the_config_and_detection_are_passed_on() -> None:
    async with (
        RealtimeSimulator() as sim,
        live_gateway(
            factory, sim=sim, entry={"on_machine": "voicemail"}, settings={"gateway_api_token": API_TOKEN}
        ) as live,
    ):
        live.api.outcome = "busy"
        live.gateway.factories = {**live.gateway.factories, "other:factory": factory}
        response = await post_call(
            live, {"to": CALLEE, "from": NUMBER, "agent": "other:factory", "machine_detection": True}
        )
        forced = await post_call(live, {"to": CALLEE, "from": NUMBER, "machine_detection": "Enable"})
    assert response.status_code == 201, response.text
    assert response.json()["agent"] == "other:factory"
    assert response.json()["machine_detection"] == "DetectMessageEnd"
    assert forced.json()["machine_detection"] == "Enable"
    assert [p.param("MachineDetection") for p in live.api.placed] == ["DetectMessageEnd", "Enable"]


async def test_a_carrier_refusal_is_a_502_with_the_carriers_reason(live: LiveGateway) -> None:
    live.api.auth_token = "rotated-token"  # the gateway's credentials no longer work
    response = await post_call(live)
    assert response.status_code == 502
    assert response.json()["error"] == "the carrier refused the call: HTTP 401 (code 20003): Authenticate"
    assert len(live.gateway.outbound_plans) == 0


async def test_without_carrier_credentials_placing_a_call_is_a_503() -> None:
    async with (
        RealtimeSimulator() as sim,
        live_gateway(
            factory, sim=sim, settings={"gateway_api_token": API_TOKEN, "twilio_account_sid": None}
        ) as live,
    ):
        response = await post_call(live)
    assert response.status_code == 503 and "TWILIO_ACCOUNT_SID" in response.json()["error"]


def signed(url: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": twilio_signature(token, url, form)}


async def test_status_callbacks_must_be_signed_and_are_recorded(
    live: LiveGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rtvoice_gateway.outbound")
    form = {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": live.api.account_sid,
        "CallStatus": "ringing",
        "Direction": "outbound-api",
        "From": NUMBER,
        "To": CALLEE,
        "SequenceNumber": "1",
        "Timestamp": "Thu, 03 Dec 2026 21:00:00 +0000",
    }
    url = f"{PUBLIC}/twilio/status"
    async with httpx2.AsyncClient(timeout=seconds(10)) as client:
        post = f"{live.base_url}/twilio/status"
        unsigned = await client.post(post, data=form)
        forged = await client.post(post, data=form, headers=signed(url, form, "another-token"))
        other_url = await client.post(post, data=form, headers=signed(f"{PUBLIC}/elsewhere", form))
        assert [r.status_code for r in (unsigned, forged, other_url)] == [403, 403, 403]
        assert form["CallSid"] not in live.gateway.call_statuses

        good = await client.post(post, data=form, headers=signed(url, form))
        verdict = {"CallSid": form["CallSid"], "AccountSid": form["AccountSid"], "AnsweredBy": "human"}
        amd = await client.post(post, data=verdict, headers=signed(url, verdict))
        done = form | {"CallStatus": "completed", "SequenceNumber": "2", "CallDuration": "42"}
        final = await client.post(post, data=done, headers=signed(url, done))
        no_sid = await client.post(
            post, data={"CallStatus": "ringing"}, headers=signed(url, {"CallStatus": "ringing"})
        )
        status = await client.get(
            f"{live.base_url}/calls/{form['CallSid']}", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
        anonymous = await client.get(f"{live.base_url}/calls/{form['CallSid']}")
        unknown = await client.get(
            f"{live.base_url}/calls/CA404", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
    assert [r.status_code for r in (good, amd, final, no_sid)] == [204, 204, 204, 400]
    record = live.gateway.call_statuses[form["CallSid"]]
    assert record.statuses == ["ringing", "completed"]
    assert (record.status, record.answered_by, record.duration_s) == ("completed", "human", 42)
    assert record.events[0].timestamp == form["Timestamp"] and record.events[0].sequence == 1
    assert live.gateway.refused["bad status callback signature"] == 3
    assert status.status_code == 200
    assert status.json()["status"] == "completed" and len(status.json()["events"]) == 3
    assert (anonymous.status_code, unknown.status_code) == (401, 404)
    logged = [r.getMessage() for r in caplog.records if r.name == "rtvoice_gateway.outbound"]
    assert logged == ["call status ringing", "answered by human", "call status completed after 42 s"]


async def test_a_final_status_for_an_answered_call_whose_stream_never_came_closes_its_session(
    live: LiveGateway,
) -> None:
    live.api.outcome = "answer"
    live.api.gateway_url = "http://127.0.0.1:9"  # the callbacks go nowhere: the test plays the carrier
    response = await post_call(live)
    call_sid = response.json()["call_sid"]
    (placed,) = live.api.placed
    await asyncio.wait_for(placed.finished.wait(), seconds(10))
    answer_url = placed.param("Url") or ""
    answer = {"CallSid": call_sid, "AccountSid": live.api.account_sid, "Direction": "outbound-api"}
    done = answer | {"CallStatus": "failed"}
    async with httpx2.AsyncClient(timeout=seconds(10)) as client:
        local = answer_url.replace(PUBLIC, live.base_url)
        twiml = await client.post(local, data=answer, headers=signed(answer_url, answer))
        again = await client.post(local, data=answer, headers=signed(answer_url, answer))
        assert call_sid in live.gateway.pending  # answered: the agent is pre-warming for the stream
        url = f"{PUBLIC}/twilio/status"
        await client.post(f"{live.base_url}/twilio/status", data=done, headers=signed(url, done))
    assert "<Connect><Stream" in twiml.text and "/twilio/stream/" in twiml.text
    assert "<Hangup" in again.text  # a second answer for the same plan gets no second agent
    assert call_sid not in live.gateway.pending
    assert live.gateway.outbound_plans.by_call_sid(call_sid) is None


async def test_an_answer_url_for_no_call_we_placed_hangs_up(live: LiveGateway) -> None:
    url = f"{PUBLIC}/twilio/outbound/unknown-ref"
    form = {"CallSid": "CA" + "2" * 32, "AccountSid": live.api.account_sid}
    async with httpx2.AsyncClient(timeout=seconds(10)) as client:
        unsigned = await client.post(f"{live.base_url}/twilio/outbound/unknown-ref", data=form)
        response = await client.post(
            f"{live.base_url}/twilio/outbound/unknown-ref", data=form, headers=signed(url, form)
        )
    assert unsigned.status_code == 403
    assert response.status_code == 200 and "<Hangup" in response.text and "<Stream" not in response.text
    assert live.gateway.pending == {}


def test_the_api_token_setting_is_secret_and_must_not_be_short() -> None:
    settings = Settings.from_env({"GATEWAY_API_TOKEN": API_TOKEN})
    assert settings.gateway_api_token is not None
    assert settings.gateway_api_token.get_secret_value() == API_TOKEN
    assert API_TOKEN not in repr(settings) and API_TOKEN not in str(settings.model_dump())
    with pytest.raises(SettingsError, match="GATEWAY_API_TOKEN: must be at least 16 characters"):
        Settings.from_env({"GATEWAY_API_TOKEN": "short"})
    assert Settings.from_env({}).gateway_api_token is None


def test_on_machine_is_checked_with_the_number_config() -> None:
    assert NumberEntry(agent="a:b").on_machine == "continue"
    assert NumberEntry(agent="a:b", on_machine="voicemail").voicemail  # a default message
    with pytest.raises(ValidationError, match="on_machine"):
        NumberEntry(agent="a:b", on_machine="ignore")


async def test_a_body_over_16_kib_is_refused(live: LiveGateway) -> None:
    response = await post_call(live, {"to": CALLEE, "from": NUMBER, "agent": "x" * 20_000})
    assert response.status_code == 413 and live.api.placed == []


async def test_a_machine_reported_with_the_answer_is_hung_up_on_without_an_agent() -> None:
    """Synchronous detection (the verdict comes with the answer URL's request) and on_machine = hangup."""
    async with (
        RealtimeSimulator() as sim,
        live_gateway(
            factory, sim=sim, entry={"on_machine": "hangup"}, settings={"gateway_api_token": API_TOKEN}
        ) as live,
    ):
        live.api.gateway_url = "http://127.0.0.1:9"  # the test plays the carrier's callbacks itself
        call_sid = (await post_call(live)).json()["call_sid"]
        (placed,) = live.api.placed
        await asyncio.wait_for(placed.finished.wait(), seconds(10))
        answer_url = placed.param("Url") or ""
        form = {"CallSid": call_sid, "AccountSid": live.api.account_sid, "AnsweredBy": "machine_start"}
        async with httpx2.AsyncClient(timeout=seconds(10)) as client:
            response = await client.post(
                answer_url.replace(PUBLIC, live.base_url), data=form, headers=signed(answer_url, form)
            )
        pending = dict(live.gateway.pending)
    assert "<Hangup" in response.text and "<Stream" not in response.text
    assert pending == {} and sim.sessions == []
    assert live.gateway.call_statuses[call_sid].answered_by == "machine_start"


async def test_a_draining_gateway_places_no_new_call(live: LiveGateway) -> None:
    drain = asyncio.create_task(live.gateway.drain(grace_s=0))
    try:
        response = await post_call(live)
    finally:
        await drain
    assert response.status_code == 503, response.text
    assert "draining" in response.json()["error"]
    assert live.api.placed == []
