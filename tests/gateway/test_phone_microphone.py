"""The phone line's microphone: the caller's frames in order, bounded to 2 s, and an end that drains."""

from __future__ import annotations

import asyncio

import pytest

from rtvoice_gateway.phone import MIC_QUEUE_FRAMES, PhoneMicrophone


def frame(index: int) -> bytes:
    return index.to_bytes(2, "big") * 80


async def test_frames_come_in_order_and_the_end_comes_after_what_is_queued() -> None:
    mic = PhoneMicrophone("transcode")
    got: list[bytes] = []

    async def read() -> None:
        async for chunk in mic.stream_chunks():
            got.append(chunk)

    mic.feed(frame(0))
    reader = asyncio.create_task(read())
    await asyncio.sleep(0.01)
    assert got == [frame(0)]  # and now it waits
    for index in (1, 2, 3):
        mic.feed(frame(index))
    mic.end()  # queued frames still come
    await asyncio.wait_for(reader, 1)
    assert got == [frame(k) for k in range(4)]


async def test_a_waiting_reader_is_woken_by_the_end() -> None:
    mic = PhoneMicrophone("passthrough")
    reader = asyncio.create_task(anext(mic.stream_chunks(), None))
    await asyncio.sleep(0.01)
    assert not reader.done()
    await mic.stop()
    assert await asyncio.wait_for(reader, 1) is None
    assert not mic.is_active


async def test_an_agent_that_does_not_read_loses_the_oldest_frames_past_two_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mic = PhoneMicrophone("transcode")
    for index in range(MIC_QUEUE_FRAMES + 5):
        mic.feed(frame(index))
    mic.end()
    got = [chunk async for chunk in mic.stream_chunks()]
    assert mic.dropped_frames == 5
    assert got == [frame(k) for k in range(5, MIC_QUEUE_FRAMES + 5)]
    assert len([r for r in caplog.records if "dropping the oldest frames" in r.message]) == 1
