"""The fake carrier's ``Calls.create``: Twilio's checks and error JSON, and a placed call played out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice_gateway.carrier_rest import CarrierREST, CarrierRESTError
from rtvoice_gateway.testing import FakeCarrierAPI, twilio_signature
from support.timing import seconds

TOKEN = "fake-auth-token"


@pytest.fixture
async def api() -> AsyncIterator[FakeCarrierAPI]:
    async with FakeCarrierAPI(auth_token=TOKEN) as api:
        yield api


async def create(api: FakeCarrierAPI, form: list[tuple[str, str]], *, token: str = TOKEN) -> httpx2.Response:
    async with httpx2.AsyncClient(auth=(api.account_sid, token), timeout=seconds(10)) as client:
        return await client.post(
            f"{api.base_url}/2010-04-01/Accounts/{api.account_sid}/Calls.json", data=dict(form)
        )


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ([("From", "+15550100001"), ("Url", "https://x.example/a")], 21201),
        ([("To", "+15550100777"), ("Url", "https://x.example/a")], 21213),
        ([("To", "+15550100777"), ("From", "+15550100001")], 21205),
        ([("To", "+15550100777"), ("From", "+15550100001"), ("Url", "ftp://x.example/a")], 21205),
        ([("To", "call me"), ("From", "+15550100001"), ("Url", "https://x.example/a")], 21211),
    ],
)
async def test_bad_parameters_get_twilios_400_and_error_json(
    api: FakeCarrierAPI, form: list[tuple[str, str]], code: int
) -> None:
    response = await create(api, form)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["status"]) == (code, 400)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}" and body["message"]
    assert api.placed == []


async def test_wrong_credentials_get_401(api: FakeCarrierAPI) -> None:
    response = await create(api, [("To", "+15550100777"), ("From", "+15550100001")], token="nope")
    assert response.status_code == 401 and response.json()["code"] == 20003
    assert api.refused == 1


async def test_a_placed_call_gets_a_sid_and_signed_callbacks_with_twiml_fetched_at_answer() -> None:
    seen: list[tuple[str, dict[str, str], bool]] = []

    async def endpoint(request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        url = f"https://public.example{request.url.path}"
        good = request.headers.get("X-Twilio-Signature") == twilio_signature(TOKEN, url, form)
        seen.append((request.url.path, form, good))
        if request.url.path == "/answer":
            return Response("<Response><Say>Hello</Say><Hangup/></Response>", media_type="application/xml")
        return Response(status_code=204)

    server = EmbeddedServer(Starlette(routes=[Route("/{path}", endpoint, methods=["POST"])]))
    await server.start()
    try:
        async with FakeCarrierAPI(auth_token=TOKEN, gateway_url=f"http://127.0.0.1:{server.port}") as api:
            rest = CarrierREST(api.account_sid, TOKEN, base_url=api.base_url)
            try:
                call_sid = await rest.create_call(
                    [
                        ("To", "+15550100777"),
                        ("From", "+15550100001"),
                        ("Url", "https://public.example/answer"),
                        ("StatusCallback", "https://public.example/status"),
                        ("StatusCallbackEvent", "initiated"),
                        ("StatusCallbackEvent", "answered completed"),  # both forms are accepted
                    ]
                )
                with pytest.raises(CarrierRESTError, match=r"HTTP 400 \(code 21201\): No 'To' number"):
                    await rest.create_call([("From", "+15550100001"), ("Url", "https://public.example/a")])
            finally:
                await rest.aclose()
            (placed,) = api.placed
            await asyncio.wait_for(placed.finished.wait(), seconds(10))
    finally:
        await server.aclose()

    assert call_sid == placed.sid and call_sid.startswith("CA") and len(call_sid) == 34
    assert [(path, form.get("CallStatus"), good) for path, form, good in seen] == [
        ("/status", "initiated", True),
        ("/status", "in-progress", True),  # ringing was not asked for
        ("/answer", "in-progress", True),
        ("/status", "completed", True),
    ]
    assert all(form["CallSid"] == call_sid and form["Direction"] == "outbound-api" for _, form, _ in seen)
    assert [form.get("SequenceNumber") for path, form, _ in seen if path == "/status"] == ["0", "1", "2"]
    assert placed.twiml is not None and placed.twiml.says == ["Hello"] and placed.callee is None
    assert placed.statuses == ["initiated", "in-progress", "completed"]
