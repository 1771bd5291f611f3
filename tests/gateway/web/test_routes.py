"""The dashboard's and the softphone's HTTP and WebSocket routes on a live gateway: off without a token,
refused without a session, the token only ever in a form body or a header, recordings only of known calls."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx2
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.web import Dashboard
from rtvoice_gateway.web.auth import COOKIE
from support.gateway import NUMBER, LiveGateway, live_gateway, open_call, quiet_spans, wait_until

TOKEN = "routes-test-dashboard-token"


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


def simulator() -> RealtimeSimulator:
    return RealtimeSimulator(brain_factory=lambda: ScriptedBrain([Say("Hello.")]))


async def logged_in(client: httpx2.AsyncClient) -> str:
    answer = await client.post("/dashboard/login", data={"token": TOKEN, "next": "/phone"})
    assert answer.status_code == 303 and answer.headers["location"] == "/phone"
    return answer.cookies[COOKIE]


def ws_url(live: LiveGateway, path: str) -> str:
    return live.base_url.replace("http://", "ws://") + path


async def test_without_a_dashboard_token_the_routes_do_not_exist() -> None:
    async with simulator() as sim, live_gateway(factory, sim=sim) as live:
        async with httpx2.AsyncClient(base_url=live.base_url) as client:
            for path in ("/dashboard", "/phone", "/phone/numbers", "/dashboard/recordings/CA1"):
                assert (await client.get(path)).status_code == 404, path
            assert (await client.post("/dashboard/login", data={"token": TOKEN})).status_code == 404
        assert live.gateway.observers == []


async def test_a_session_comes_only_from_the_token_in_a_form_or_a_header(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        simulator() as sim,
        live_gateway(factory, sim=sim, settings={"dashboard_token": TOKEN}) as live,
    ):
        async with httpx2.AsyncClient(base_url=live.base_url) as client:
            for path in ("/dashboard", "/phone"):
                refused = await client.get(path)
                assert refused.status_code == 401 and 'name="token"' in refused.text, path
            assert (await client.get("/phone/numbers")).status_code == 401
            assert (await client.post("/phone/call", json={"number": NUMBER})).status_code == 401
            assert (await client.get("/dashboard/recordings/CA1")).status_code == 401

            wrong = await client.post("/dashboard/login", data={"token": TOKEN + "x"})
            assert wrong.status_code == 401 and COOKIE not in wrong.cookies
            assert live.gateway.refused == {"dashboard login with a wrong token": 1}

            answer = await client.post(
                "/dashboard/login", data={"token": TOKEN, "next": "https://evil.example"}
            )
            assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
            cookie = answer.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
            assert "secure" not in cookie  # plain http on loopback; over https it is Secure
            assert TOKEN not in answer.headers["set-cookie"]
            assert (await client.get("/dashboard")).status_code == 200
            numbers = await client.get("/phone/numbers")
            assert numbers.json() == [{"number": NUMBER, "agent": "tests:factory"}]
            client.cookies.clear()
            client.cookies.set(COOKIE, "99999999999.forged")
            assert (await client.get("/dashboard")).status_code == 401

        async with httpx2.AsyncClient(base_url=live.base_url) as client:
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert (await client.get("/dashboard", headers=bearer)).status_code == 200
            assert (
                await client.get("/dashboard", headers={"Authorization": "Bearer nope"})
            ).status_code == 401
    assert TOKEN not in caplog.text


async def test_websockets_need_the_session_and_a_same_origin_page() -> None:
    async with (
        simulator() as sim,
        live_gateway(factory, sim=sim, settings={"dashboard_token": TOKEN}) as live,
    ):
        async with httpx2.AsyncClient(base_url=live.base_url) as client:
            session = await logged_in(client)
        cookie = {"Cookie": f"{COOKIE}={session}"}
        url = ws_url(live, "/dashboard/events")
        for headers, origin in [
            ({}, Origin(live.base_url)),
            (cookie, Origin("https://evil.example")),
            (cookie, None),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, additional_headers=headers, origin=origin)
            assert refused.value.response.status_code == 403
        async with connect(url, additional_headers=cookie, origin=Origin(live.base_url)) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["type"] == "snapshot" and first["live"] == [] and first["finished"] == []
        with pytest.raises(InvalidStatus):
            await connect(
                ws_url(live, "/phone/stream/not-a-token"),
                additional_headers=cookie,
                origin=Origin(live.base_url),
            )
        assert live.gateway.refused["stream token: MalformedToken"] == 1


async def test_the_softphone_answers_only_configured_numbers_from_its_own_origin() -> None:
    async with (
        simulator() as sim,
        live_gateway(factory, sim=sim, settings={"dashboard_token": TOKEN}) as live,
    ):
        async with httpx2.AsyncClient(base_url=live.base_url) as client:
            await logged_in(client)
            assert (await client.post("/phone/call", json={"number": "+15559999999"})).status_code == 400
            assert (await client.post("/phone/call", content=b"not json")).status_code == 400
            foreign = await client.post(
                "/phone/call", json={"number": NUMBER}, headers={"Origin": "https://evil.example"}
            )
            assert foreign.status_code == 403
            answer = (await client.post("/phone/call", json={"number": NUMBER})).json()
        assert answer["path"].startswith("/phone/stream/") and answer["call_sid"].startswith("WB")
        assert list(live.gateway.pending) == [answer["call_sid"]]
        await wait_until(lambda: len(sim.sessions) == 1, 5, "the pre-warmed session")


async def test_a_carrier_call_is_on_the_board_and_its_recording_is_served(tmp_path: Path) -> None:
    async with (
        simulator() as sim,
        live_gateway(
            factory,
            sim=sim,
            entry={"greeting": "Greet.", "recording_dir": str(tmp_path)},
            settings={"dashboard_token": TOKEN},
        ) as live,
        httpx2.AsyncClient(base_url=live.base_url) as client,
    ):
        session = await logged_in(client)
        async with connect(
            ws_url(live, "/dashboard/events"),
            additional_headers={"Cookie": f"{COOKIE}={session}"},
            origin=Origin(live.base_url),
        ) as events:
            assert json.loads(await events.recv())["type"] == "snapshot"
            call, runner = await open_call(live, speed=4)
            await wait_until(lambda: quiet_spans(call, 1), 10, "the greeting")
            call.hang_up()
            async with asyncio.timeout(5):
                await runner
            seen: list[dict[str, object]] = []
            async with asyncio.timeout(5):
                while not seen or seen[-1]["type"] != "ended":
                    seen.append(json.loads(await events.recv()))
        ended = seen[-1]["call"]
        assert isinstance(ended, dict)
        assert ended["call_sid"] == call.call_sid and ended["recording"] is True
        assert ("agent", "Hello.") in [(line["role"], line["text"]) for line in ended["lines"]]
        answer = await client.get(f"/dashboard/recordings/{call.call_sid}")
        assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
        assert (
            answer.content == (tmp_path / f"{call.call_sid}.wav").read_bytes()
            and answer.content[:4] == b"RIFF"
        )
        (tmp_path / "other.wav").write_bytes(b"RIFF")
        for sid in ("other", "CA0", "..%2Fother.wav", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"):
            assert (await client.get(f"/dashboard/recordings/{sid}")).status_code == 404, sid


async def test_a_browser_that_falls_behind_loses_updates_and_gets_a_fresh_snapshot() -> None:
    async with (
        simulator() as sim,
        live_gateway(factory, sim=sim, settings={"dashboard_token": TOKEN}) as live,
    ):
        dashboard = next(o for o in live.gateway.observers if isinstance(o, Dashboard))
        dashboard.hub.queue_size = 2
        async with httpx2.AsyncClient(base_url=live.base_url) as client:
            session = await logged_in(client)
        async with connect(
            ws_url(live, "/dashboard/events"),
            additional_headers={"Cookie": f"{COOKIE}={session}"},
            origin=Origin(live.base_url),
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            await wait_until(lambda: len(dashboard.hub.subscribers) == 1, 5, "the subscriber")
            (subscriber,) = dashboard.hub.subscribers
            # Five updates at once while the sender waits: two fit the queue, three are dropped.
            dashboard.hub.publish([{"type": "line", "now": 0, "call_sid": "CA1", "line": {}}] * 5)
            assert subscriber.dropped == 3 and dashboard.hub.dropped == 3
            resync = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert resync["type"] == "snapshot"
            assert not subscriber.behind and subscriber.queue.empty()
