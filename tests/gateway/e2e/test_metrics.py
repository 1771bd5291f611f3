"""``GET /metrics`` and ``GET /readyz`` over a real socket while real calls run through the gateway."""

from __future__ import annotations

import asyncio
import json

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from rtvoice import RealtimeAgent, ServerVAD, Tools
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails, NumberConfig, NumberEntry
from support.gateway import NUMBER, live_gateway, mulaw_speech, open_call, quiet_spans, wait_until
from support.timing import seconds

tools = Tools()


@tools.action("Look up an order's delivery date")
async def order_status(order: str) -> str:
    return f"Order {order} arrives on Friday."


@tools.action("Check the stock")
async def stock() -> str:
    raise RuntimeError("the stock service is down")


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", tools=tools, turn_detection=ServerVAD())


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(base_url: str) -> Samples:
    """Every sample of ``/metrics``: (name, sorted labels) → value."""
    async with httpx2.AsyncClient(timeout=seconds(5)) as client:
        response = await client.get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_a_call_from_the_webhook_to_its_end() -> None:
    brain = ScriptedBrain(
        [
            Say("Hello, thanks for calling."),
            CallFunction("order_status", {"order": "42"}),
            CallFunction("stock", {}),
        ]
    )  # the default brain reads each tool's output back
    async with (
        RealtimeSimulator(brain=brain, user_transcripts=["Where is my order?", "Anything in stock?"]) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        before = await scrape(live.base_url)
        assert value(before, "rtvoice_calls_active", number=NUMBER) == 0
        assert value(before, "rtvoice_calls_total", number=NUMBER, outcome="caller_hung_up") == 0

        call, runner = await open_call(live, speed=2)
        await wait_until(lambda: quiet_spans(call, 1), 20, "the greeting")
        during = await scrape(live.base_url)
        assert value(during, "rtvoice_calls_active", number=NUMBER) == 1
        assert value(during, "rtvoice_first_audio_seconds_count", number=NUMBER) == 1

        call.say(mulaw_speech("Where is my order?"))
        await wait_until(lambda: quiet_spans(call, 2, quiet_ms=600), 20, "the first tool's result")
        await call.send_raw("{not json")  # refused and counted: the call goes on
        await call.send_raw(json.dumps({"event": "party", "streamSid": call.stream_sid}))
        call.say(mulaw_speech("Anything in stock?"))
        await wait_until(lambda: quiet_spans(call, 3, quiet_ms=600), 20, "the second tool's result")
        call.hang_up()
        async with asyncio.timeout(seconds(5)):
            await runner
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")

        # A call to a number nobody answers, and a forged webhook: counted, no call runs.
        stranger = live.call(to_number="+15550109876")
        assert (await stranger.dial()).hangup
        async with httpx2.AsyncClient(timeout=seconds(5)) as client:
            response = await client.post(
                f"{live.base_url}/twilio/voice", data={"CallSid": "CA1", "To": NUMBER}
            )
        assert response.status_code == 403
        after = await scrape(live.base_url)

    assert value(after, "rtvoice_calls_active", number=NUMBER) == 0
    assert value(after, "rtvoice_calls_total", number=NUMBER, outcome="caller_hung_up") == 1
    assert value(after, "rtvoice_calls_total", number="other", outcome="refused") == 1
    assert value(after, "rtvoice_call_duration_seconds_count", number=NUMBER) == 1
    assert value(after, "rtvoice_call_duration_seconds_sum", number=NUMBER) > 0
    # Two caller turns, each answered: two response latencies; one first audio for the call.
    assert value(after, "rtvoice_response_latency_seconds_count", number=NUMBER) == 2
    assert value(after, "rtvoice_response_latency_seconds_sum", number=NUMBER) > 0
    assert value(after, "rtvoice_first_audio_seconds_count", number=NUMBER) == 1
    assert value(after, "rtvoice_tool_duration_seconds_count", tool="order_status") == 1
    assert value(after, "rtvoice_tool_duration_seconds_count", tool="stock") == 1
    assert value(after, "rtvoice_tool_failures_total", tool="stock") == 1
    assert value(after, "rtvoice_tool_failures_total", tool="order_status") == 0
    assert value(after, "rtvoice_frames_dropped_total", reason="malformed") == 1
    assert value(after, "rtvoice_frames_dropped_total", reason="unknown_event") == 1
    assert value(after, "rtvoice_tokens_total", direction="input", modality="audio") > 0
    assert value(after, "rtvoice_tokens_total", direction="output", modality="audio") > 0
    assert value(after, "rtvoice_cost_usd_total") > 0
    assert value(after, "rtvoice_requests_refused_total", reason="bad webhook signature") == 1
    assert value(after, "rtvoice_barge_ins_total", number=NUMBER) == 0
    assert value(after, "rtvoice_upstream_errors_total", type="server_error") == 0


async def test_readyz_is_503_for_a_config_that_cannot_answer_and_while_draining() -> None:
    async with RealtimeSimulator() as sim, live_gateway(factory, sim=sim) as live:
        async with httpx2.AsyncClient(timeout=seconds(5)) as client:
            ready = await client.get(f"{live.base_url}/readyz")
            assert (ready.status_code, ready.text) == (200, "ready")
            gateway = live.gateway
            answering = gateway.numbers
            gateway.numbers = NumberConfig(numbers={NUMBER: NumberEntry(agent="missing:factory")})
            broken = await client.get(f"{live.base_url}/readyz")
            assert broken.status_code == 503 and "missing:factory" in broken.text
            gateway.numbers = NumberConfig()
            empty = await client.get(f"{live.base_url}/readyz")
            assert empty.status_code == 503 and "answers no number" in empty.text
            gateway.numbers = answering
            assert (await client.get(f"{live.base_url}/readyz")).status_code == 200
            assert await gateway.drain(0) == 0  # no call to end
            draining = await client.get(f"{live.base_url}/readyz")
            assert (draining.status_code, draining.text) == (503, "not ready: draining")
            alive = await client.get(f"{live.base_url}/healthz")
            assert (alive.status_code, alive.text) == (200, "ok")
