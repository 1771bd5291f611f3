"""The fault matrix's harness: a live gateway with a healthy call beside the faulty one, and the checks every
row makes when it is over.

Every row of ``tests/gateway/faults`` runs in a :func:`fault_row`:

* a :class:`~rtvoice.testing.RealtimeSimulator` (``Timing.fast()``, tone voices, a short greeting) whose
  faults, if any, hit only the **faulty** call's session (``Faults(sessions=...)``: the healthy call is
  dialled first, so it is connection 0);
* a :class:`~support.gateway.LiveGateway` recording every call to ``tmp_path/recordings``, with a 500 ms
  tone as its apology (easy to recognise in what the caller heard);
* when the block ends: the healthy call completed its turn (greeting heard, caller spoke, answer heard,
  hung up normally), the gateway and the simulator are closed, and then **nothing is left behind**: no task
  that was not there before, no more open file descriptors and threads than before, and every recording is
  a valid WAV file whose header matches its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import threading
import wave
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import BrainContext, EchoBrain, Faults, RealtimeSimulator, Say, Step
from rtvoice.testing.phone_line import ulaw_from_pcm
from rtvoice_gateway.call import CallSummary
from rtvoice_gateway.call_control import dtmf_tones
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.testing import SimulatedCall
from rtvoice_gateway.testing.carrier import FRAME_BYTES
from support.gateway import (
    SILENT,
    LiveGateway,
    dominant_hz,
    live_gateway,
    quiet_spans,
    sounding,
    tone_voice,
    wait_until,
)
from support.timing import seconds

__all__ = [
    "APOLOGY",
    "FAULTY_FROM",
    "HEALTHY_FROM",
    "GREETING",
    "SPEED",
    "FaultRow",
    "RowBrain",
    "Snapshot",
    "assert_nothing_left",
    "assert_valid_wavs",
    "caller_speech",
    "fault_row",
    "heard_apology",
    "phone_agent",
]

#: How much faster than real time the simulated carrier (and the gateway's pacer) run.
SPEED = 4.0
#: What the agent says first (a 300 Hz ``tone_voice``, about 1.7 s of audio).
GREETING = "Hello, thanks for calling Luigi's."
#: What the agent says after a tool's output.
AFTER_TOOL = "Thanks for waiting."
#: The gateway's apology: 500 ms of DTMF 5 (770 + 1336 Hz), unlike any agent voice.
APOLOGY = dtmf_tones("5" * 5, tone_ms=100, gap_ms=0)


def caller_speech(ms: int = 700, hz: float = 220.0) -> bytes:
    """A loud tone the simulator's server VAD hears as a caller's utterance, as 8 kHz μ-law."""
    t = np.arange(ms * 24) / 24000
    pcm = (np.sin(2 * math.pi * hz * t) * 10000).astype("<i2").tobytes()
    return ulaw_from_pcm(pcm)


#: Who the faulty call is from (the healthy one is ``HEALTHY_FROM``): factories and brains tell them apart.
HEALTHY_FROM, FAULTY_FROM = "+15550100000", "+15550100001"
#: In the faulty call's instructions: the simulator's brain follows the row's script for it.
FAULTY_MARK = "[faulty call]"


def phone_agent(**options: object) -> Callable[[CallDetails], RealtimeAgent]:
    """A factory of phone agents with server VAD; ``options`` go to the faulty call's :class:`RealtimeAgent`
    only (the healthy call's agent is always the plain one)."""

    def factory(details: CallDetails) -> RealtimeAgent:
        faulty = details.from_number == FAULTY_FROM
        instructions = "You answer the phone." + (f" {FAULTY_MARK}" if faulty else "")
        return RealtimeAgent(
            instructions=instructions,
            turn_detection=ServerVAD(),
            **(options if faulty else {}),  # type: ignore[arg-type]
        )

    return factory


class RowBrain:
    """The simulator's brain for one session: the greeting, then for the faulty call the row's script
    (one turn per response), then :class:`EchoBrain`; after a function output a short fixed answer (reading
    a long error text back would take seconds of tone; tests read the output from the simulator)."""

    def __init__(self, greeting: str, script: Sequence[Step]) -> None:
        self.greeting = greeting
        self.script = list(script)
        self.echo = EchoBrain()

    def __call__(self, ctx: BrainContext) -> list[Step]:
        if ctx.response_index == 0:
            return [Say(self.greeting)]
        if ctx.last_item_type == "function_call_output":
            return [Say(AFTER_TOOL)]
        if FAULTY_MARK in ctx.instructions and self.script:
            return [self.script.pop(0)]
        return list(self.echo(ctx))


def heard_apology(call: SimulatedCall) -> bool:
    """The last 500 ms of sound the caller heard were the apology.

    Gaps inside it are allowed, up to 500 ms in all: on a loaded test machine the carrier simulator's
    clock can tick before a frame arrives and play silence there. What matters is that the apology came
    whole, and came last: counted back from the last sound heard, in 20 ms frames that are not wholly
    silent, the last 500 ms lie within one second and sound like the apology.
    """
    heard = sounding(call)
    if not heard:
        return False
    end = heard[-1] + 1
    frames = [
        bytes(call.heard[start : start + FRAME_BYTES])
        for start in range(end - FRAME_BYTES, max(-1, end - 1000 * 8 - 1), -FRAME_BYTES)
        if start >= 0 and sounding(call, start, start + FRAME_BYTES)
    ][: 500 * 8 // FRAME_BYTES][::-1]
    tail = b"".join(frames)
    return (
        len(tail) == 500 * 8
        and sum(byte not in SILENT for byte in tail) > 8 * 450
        and min(abs(dominant_hz(tail) - hz) for hz in (770, 1336)) < 30
    )


@dataclass(frozen=True)
class Snapshot:
    """What the process holds: tasks, open file descriptors, threads."""

    tasks: frozenset[asyncio.Task[object]]
    fds: int
    threads: int

    @classmethod
    def take(cls) -> Snapshot:
        return cls(frozenset(asyncio.all_tasks()), len(os.listdir("/proc/self/fd")), _threads())


def _threads() -> int:
    """Threads, less the event loop's default executor (the loop's own, shut down with it: DNS look-ups of
    HTTP clients start it; the project never submits work to it)."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


async def assert_nothing_left(before: Snapshot, *, slack_fds: int = 0) -> None:
    """No task, fd or thread beyond ``before`` survives (stragglers get a moment to finish)."""
    current = asyncio.current_task()

    def extra_tasks() -> set[asyncio.Task[object]]:
        return {t for t in asyncio.all_tasks() if t not in before.tasks and t is not current and not t.done()}

    with contextlib.suppress(AssertionError):
        await wait_until(
            lambda: (
                not extra_tasks()
                and len(os.listdir("/proc/self/fd")) <= before.fds + slack_fds
                and _threads() <= before.threads
            ),
            3,
            "tasks, fds and threads to go",
        )
    left = extra_tasks()
    assert not left, f"tasks left behind: {sorted(f'{t.get_name()}: {t.get_coro()}' for t in left)}"
    fds = os.listdir("/proc/self/fd")
    assert len(fds) <= before.fds + slack_fds, (
        f"{len(fds) - before.fds} file descriptors left open: {_fds(fds)}"
    )
    assert _threads() <= before.threads, [t.name for t in threading.enumerate()]


def _fds(fds: list[str]) -> list[str]:
    out = []
    for fd in fds:
        with contextlib.suppress(OSError):
            out.append(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
    return out


def assert_valid_wavs(folder: Path, *, expected: int) -> None:
    """``expected`` recordings in ``folder``, each a WAV the ``wave`` module reads, header matching data."""
    files = sorted(p for p in folder.glob("*.wav") if not p.is_symlink())
    assert len(files) == expected, files
    for path in files:
        with wave.open(str(path), "rb") as wav:
            frames = wav.getnframes()
            width, channels = wav.getsampwidth(), wav.getnchannels()
            data = wav.readframes(frames)
        assert frames > 0, f"{path.name} is empty"
        assert len(data) == frames * width * channels, f"{path.name}: the header does not match the data"
        assert path.stat().st_size == 44 + len(data), f"{path.name}: bytes beyond the data chunk"


@dataclass
class FaultRow:
    """One row of the matrix while it runs (see :func:`fault_row`)."""

    live: LiveGateway
    sim: RealtimeSimulator
    recordings: Path
    runners: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    calls: dict[str, SimulatedCall] = field(default_factory=dict)

    async def dial(
        self,
        name: str,
        *,
        connect: bool = True,
        run: bool = True,
        prepare: Callable[[SimulatedCall], None] | None = None,
    ) -> SimulatedCall:
        """Dial a call (and open its stream and run it), waiting until its Realtime session is open;
        ``prepare`` gets the call before it is dialled (its ``call_sid`` is known)."""
        sessions = len(self.sim.sessions)
        call = self.live.call(speed=SPEED, from_number=HEALTHY_FROM if name == "healthy" else FAULTY_FROM)
        self.calls[name] = call
        if prepare is not None:
            prepare(call)
        await call.dial()
        await wait_until(lambda: len(self.sim.sessions) > sessions, 5, f"{name}'s pre-warmed session")
        if connect:
            await call.connect()
            if run:
                self.runners[name] = asyncio.create_task(call.run(), name=f"caller-{name}")
        return call

    async def healthy(self) -> SimulatedCall:
        """The healthy call: dial it first (its session is connection 0, which no fault targets)."""
        return await self.dial("healthy")

    async def faulty(
        self,
        *,
        connect: bool = True,
        run: bool = True,
        prepare: Callable[[SimulatedCall], None] | None = None,
    ) -> SimulatedCall:
        """The call the fault hits (connection 1)."""
        return await self.dial("faulty", connect=connect, run=run, prepare=prepare)

    async def converse(self, name: str, *, answers: int = 1) -> None:
        """``name`` hears the greeting, then speaks and hears an answer, ``answers`` times."""
        call = self.calls[name]
        await wait_until(lambda: quiet_spans(call, 1, quiet_ms=200), 15, f"{name}'s greeting")
        for k in range(answers):
            call.say(caller_speech())
            await wait_until(_answered(call, 2 + k), 15, f"{name}'s answer {k + 1}")

    async def hang_up(self, name: str) -> None:
        """``name`` hangs up and its call ends."""
        self.calls[name].hang_up()
        await self.ended(name)

    async def ended(self, name: str) -> None:
        """Wait until ``name``'s call is over on both sides."""
        async with asyncio.timeout(seconds(15)):
            await self.runners[name]
        await wait_until(lambda: self.summary(name) is not None, 5, f"{name}'s summary")

    def summary(self, name: str) -> CallSummary | None:
        """How the gateway says ``name``'s call ended (None while it runs)."""
        sid = self.calls[name].call_sid
        return next((s for s in self.live.gateway.finished if s.call_sid == sid), None)


def _answered(call: SimulatedCall, spans: int) -> Callable[[], bool]:
    return lambda: quiet_spans(call, spans, quiet_ms=200)


@contextlib.asynccontextmanager
async def fault_row(
    tmp_path: Path,
    *,
    faults: Faults | None = None,
    factory: Callable[[CallDetails], RealtimeAgent] | None = None,
    entry: Mapping[str, object] | None = None,
    settings: Mapping[str, object] | None = None,
    greeting: str = GREETING,
    script: Sequence[Step] = (),
    recordings: int = 2,
    healthy_turn: bool = True,
    before: Snapshot | None = None,
) -> AsyncIterator[FaultRow]:
    """Run one row: the body dials the faulty call (and the healthy one, via :meth:`FaultRow.healthy`).

    ``script``: what the faulty call's agent does after its greeting, one step per response (e.g. a
    :class:`CallFunction`); ``factory``: default :func:`phone_agent`.

    On exit: the healthy call completes its turn and hangs up (``healthy_turn``), everything is closed, and
    nothing may be left behind (compared with ``before``, default: now); ``recordings`` valid WAV files
    must be in the recording folder.
    """
    before = before or Snapshot.take()
    folder = tmp_path / "recordings"
    folder.mkdir(exist_ok=True)
    faults = faults if faults is not None else Faults()
    if faults.sessions is None:
        faults = dataclasses.replace(faults, sessions=frozenset({1}))
    sim = RealtimeSimulator(
        brain_factory=lambda: RowBrain(greeting, script), synthesize=tone_voice, faults=faults
    )
    async with (
        sim,
        live_gateway(
            factory or phone_agent(),
            sim=sim,
            entry={"greeting": "Greet the caller.", "recording_dir": folder, **(entry or {})},
            settings=settings,
            apology_audio=APOLOGY,
        ) as live,
    ):
        row = FaultRow(live, sim, folder)
        try:
            yield row
            if healthy_turn:
                assert "healthy" in row.calls, "every row runs a healthy call beside the faulty one"
                await row.converse("healthy")
                await row.hang_up("healthy")
                summary = row.summary("healthy")
                assert summary is not None and summary.ended_by == "caller" and summary.line_end == "stop"
                assert summary.result is not None and summary.result.error is None
                assert summary.violations == {}
                assert row.calls["healthy"].violations == {}
        finally:
            for runner in row.runners.values():
                if not runner.done():
                    runner.cancel()
            await asyncio.gather(*row.runners.values(), return_exceptions=True)
    assert live.gateway.calls_active == 0 and not live.gateway.pending
    await assert_nothing_left(before)
    assert_valid_wavs(folder, expected=recordings)
