"""TwilioMediaStream and OutboundPacer driven together, against a model of Twilio's playback.

The model receives our messages after a one-way delay, plays ``media`` back to back in real time, echoes
each ``mark`` once everything before it has played, and on ``clear`` drops every frame not yet started
and echoes all pending marks at once (as Twilio does). Time runs in 1 ms ticks; the shell polls the
pacer every tick, as a busy call would.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from dataclasses import dataclass, field

import pytest

from rtvoice_gateway.carrier import MarkPlayed, OutboundPacer, ProtocolViolation, TwilioMediaStream

SID = "MZ1"
START = json.dumps({"event": "start", "streamSid": SID, "start": {"callSid": "CA1", "accountSid": "AC1"}})


@dataclass
class TwilioModel:
    delay_ms: int
    inbox: deque[tuple[int, str]] = field(default_factory=deque)  # (arrives at, message)
    queue: deque[tuple[str, bytes]] = field(default_factory=deque)  # ("media", audio) | ("mark", name)
    playing_until: int = 0
    heard: list[tuple[int, bytes]] = field(default_factory=list)  # (start ms, frame)
    outbox: deque[tuple[int, str]] = field(default_factory=deque)  # echoes to us: (arrives at, message)
    most_queued_ms: int = 0

    def echo(self, name: str, now: int) -> None:
        message = {"event": "mark", "streamSid": SID, "mark": {"name": name}}
        self.outbox.append((now + self.delay_ms, json.dumps(message)))

    def tick(self, now: int) -> None:
        while self.inbox and self.inbox[0][0] <= now:
            message = json.loads(self.inbox.popleft()[1])
            if message["event"] == "media":
                audio = base64.b64decode(message["media"]["payload"])
                assert audio and len(audio) % 160 == 0, "whole 20 ms frames only"
                self.queue.extend(("media", audio[i : i + 160]) for i in range(0, len(audio), 160))
            elif message["event"] == "mark":
                self.queue.append(("mark", message["mark"]["name"].encode()))
            else:  # clear: drop what has not started, echo every pending mark now
                for kind, value in self.queue:
                    if kind == "mark":
                        self.echo(value.decode(), now)
                self.queue.clear()
        while self.queue and self.playing_until <= now:  # a mark waits for the frame before it to end
            kind, value = self.queue.popleft()
            if kind == "mark":
                self.echo(value.decode(), now)
            else:
                self.heard.append((now, value))
                self.playing_until = now + 20
        queued = sum(20 for kind, _ in self.queue if kind == "media") + max(0, self.playing_until - now)
        self.most_queued_ms = max(self.most_queued_ms, queued)


@pytest.mark.parametrize(
    ("lead_ms", "release_ms", "delay_ms"),
    [(160, 20, 0), (160, 20, 25), (100, 20, 40), (200, 20, 10), (160, 60, 0), (160, 60, 25), (100, 80, 40)],
)
def test_barge_in_then_a_new_reply(lead_ms: int, release_ms: int, delay_ms: int) -> None:
    twilio, stream = TwilioModel(delay_ms), TwilioMediaStream()
    pacer = OutboundPacer(lead_ms, release_ms=release_ms)
    stream.receive_text(START)
    pacer.push(b"\x01" * 16000)  # reply 1: two seconds
    pacer.end_of_audio()
    barge_at, cleared_at = 700, None
    echoes: list[MarkPlayed] = []
    played_at_barge = sent_at_barge = 0
    for now in range(3000):
        while twilio.outbox and twilio.outbox[0][0] <= now:
            for event in stream.receive_text(twilio.outbox.popleft()[1]):
                assert not isinstance(event, ProtocolViolation)
                assert isinstance(event, MarkPlayed)
                echoes.append(event)
                if not event.stale:
                    pacer.receive_played(event.position_ms, now / 1000)
        outgoing: list[str] = []
        if now == barge_at:
            played_at_barge, sent_at_barge = stream.played_ms, stream.sent_ms
            outgoing += stream.clear()
            cleared = pacer.clear(now / 1000)
            cleared_at = now
            pacer.push(b"\x02" * 4000)  # reply 2: half a second
            pacer.end_of_audio()
        release = pacer.poll(now / 1000)
        audio = b"".join(release.frames)
        outgoing += (
            stream.send_audio(audio, frames_per_message=max(1, len(release.frames))) + stream.send_mark()
        )
        twilio.inbox.extend((now + delay_ms, message) for message in outgoing)
        twilio.tick(now)
    assert cleared_at is not None

    # What the caller heard of reply 1 after the barge-in: at most the frame in progress when the clear
    # arrived, which started before it arrived (so at most delay + 20 ms after the barge-in).
    late = [start for start, frame in twilio.heard if frame[0] == 1 and start + 20 > barge_at]
    assert all(start < barge_at + delay_ms for start in late)
    assert len(late) <= 1 + delay_ms // 20
    # Reply 2 was heard whole, without a gap, and the carrier never held more than the lead.
    reply2 = [start for start, frame in twilio.heard if frame[0] == 2]
    assert len(reply2) == 25
    assert reply2 == list(range(reply2[0], reply2[0] + 500, 20))
    assert twilio.most_queued_ms <= lead_ms
    # Every echo of reply 1 that came back after the barge-in was reported stale and moved nothing (those
    # the clear flushed, and any that were in flight), up to reply 1's last mark.
    stale = [echo for echo in echoes if echo.stale]
    assert max(echo.position_ms for echo in stale) == sent_at_barge
    assert all(echo.generation == 0 for echo in stale)
    assert all(
        echo.generation == 1 for echo in echoes if not echo.stale and echo.position_ms > played_at_barge
    )
    # The played position from marks never runs ahead of what was heard, and at the barge-in lags it by at
    # most a round trip plus one release step (a mark per step); the pacer's estimate is never behind the marks.
    heard_by_barge = 20 * sum(1 for start, frame in twilio.heard if frame[0] == 1 and start + 20 <= barge_at)
    assert heard_by_barge - (2 * delay_ms + release_ms) <= played_at_barge <= heard_by_barge
    assert cleared.played_ms >= played_at_barge - 1e-6
    assert stream.played_ms == stream.sent_ms  # reply 2's last mark came back
