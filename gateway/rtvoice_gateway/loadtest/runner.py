"""The load test's shell: processes, callers, the stopwatch on the process under test, the progress line.

For each step (N concurrent calls) and each event loop, :func:`run_loadtest` runs every system under test
in turn, each as a fresh process beside a fresh measuring Realtime simulator process
(:mod:`rtvoice_gateway.loadtest.upstream`); the N callers run here. Once every call is up and a short
warm-up has passed, the process's CPU time and resident memory are read over the window. The ramp stops
when the transcoding gateway's p99 breaks the limit, a step's calls cannot all connect, or the list ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, cast

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from rtvoice_gateway.heap import collector_paused
from rtvoice_gateway.loadtest.analysis import MODES, CallData, Process, RunResult, SessionData, analyse
from rtvoice_gateway.loadtest.caller import CallerScript, TimedCall, converse
from rtvoice_gateway.loadtest.report import Targets, plot, render_markdown
from rtvoice_gateway.loadtest.stats import Reply
from rtvoice_gateway.metrics import UNDERRUN_CAUSES

__all__ = ["LoadOptions", "LoadTestError", "run_loadtest"]

#: Calls dialled per second while a step ramps up (a burst of hundreds in one instant is not a phone load).
ARRIVALS_PER_S = 25.0
WARMUP_S = 3.0
TAIL_S = 1.5
START_LIMIT_S = 60.0
#: A load generator process above this share of a core delays what it stamps.
SATURATED_PERCENT = 80.0


class LoadTestError(RuntimeError):
    """A process under test did not start, or a run could not be measured."""


@dataclass(frozen=True)
class LoadOptions:
    """What to run."""

    calls: tuple[int, ...]
    seconds: float
    out: Path
    command: str
    loops: tuple[str, ...] = ("asyncio",)
    modes: tuple[str, ...] = tuple(MODES)
    limit_ms: float = 20.0
    recording: bool = True
    input_batch_ms: float | None = None
    """The gateway's ``input_batch_ms`` for every call (None: the agent's default)."""
    keep_going: bool = False
    repeat: int = 1
    """Runs of each system per step and loop, interleaved (system by system, then again): the CPU ratio to
    the floor is then the median of the pairs run side by side, and a slower or faster spell of a shared
    machine moves one pair, not the figure."""
    pin: bool = False
    """Run the system under test on the first CPU this process may use, the load generators on the rest."""


def pinned_cpus() -> tuple[set[int], set[int]]:
    """(the CPU for the system under test, the CPUs for the load generators) for ``--pin``.

    Raises:
        LoadTestError: not Linux, or fewer than two CPUs available to this process.
    """
    if not hasattr(os, "sched_getaffinity"):
        raise LoadTestError("--pin needs Linux (os.sched_setaffinity)")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise LoadTestError(f"--pin needs at least two CPUs; this process may use {len(cpus)}")
    return {cpus[0]}, set(cpus[1:])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (every thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU of the machine so far (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def rss_mib(pid: int) -> float:
    """Resident memory of a process."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextlib.asynccontextmanager
async def server_process(args: list[str], env: dict[str, str]) -> AsyncIterator[tuple[int, str]]:
    """Start a server that prints ``listening on URL`` first; yields (pid, URL); SIGTERM at the end."""
    log: IO[bytes] = tempfile.TemporaryFile()
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    try:
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), START_LIMIT_S)).decode().strip()
        except TimeoutError:
            line = ""
        if not line.startswith("listening on "):
            log.seek(0)
            tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
            raise LoadTestError(f"{' '.join(args[2:4])} did not start: {line!r} {' / '.join(tail)}")
        yield proc.pid, line.removeprefix("listening on ")
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the simulator binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    drop = (
        "TWILIO_AUTH_TOKEN",
        "PUBLIC_URL",
        "NUMBERS_CONFIG",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "EVENT_LOOP",
    )
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def _config(folder: Path, mode: str, recording: bool, input_batch_ms: float | None = None) -> Path:
    path = folder / f"numbers-{mode}.toml"
    lines = ["[default]", 'agent = "rtvoice_gateway.loadtest.agent:make_agent"', f'audio = "{mode}"']
    if input_batch_ms is not None:
        lines.append(f"input_batch_ms = {input_batch_ms:g}")
    if recording:
        lines.append(f'recording_dir = "{folder / "recordings"}"')
    path.write_text("\n".join(lines) + "\n")
    return path


class Progress:
    """One line per second on stderr: step, system, calls up, elapsed, the process's CPU."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.label = ""
        self.pid: int | None = None
        self.up = 0
        self.calls = 0
        self.started = time.monotonic()

    async def run(self) -> None:
        """Print until cancelled."""
        last: tuple[int, float, float] | None = None
        while True:
            await asyncio.sleep(1.0)
            cpu = "–"
            if self.pid is not None:
                with contextlib.suppress(OSError):
                    now = (self.pid, time.monotonic(), cpu_seconds(self.pid))
                    if last is not None and last[0] == now[0] and now[1] > last[1]:
                        cpu = f"{(now[2] - last[2]) * 100 / (now[1] - last[1]):.0f}%"
                    last = now
            self.write(
                f"{self.label}: calls up {self.up}/{self.calls}, elapsed {time.monotonic() - self.started:.0f} s, "
                f"CPU {cpu}"
            )


async def _one_call(
    call: TimedCall, delay: float, script: CallerScript, stop: asyncio.Event, progress: Progress
) -> None:
    await asyncio.sleep(delay)
    if stop.is_set():
        return
    await call.dial()
    await call.connect()
    progress.up += 1
    runner = asyncio.create_task(call.run())
    try:
        talk = asyncio.create_task(converse(call, script, stop))
        done, _ = await asyncio.wait({runner, talk}, return_when=asyncio.FIRST_COMPLETED)
        if talk in done:
            talk.result()
        else:
            talk.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await talk
    finally:
        call.hang_up()
        await runner


async def underruns_over_10ms(url: str) -> dict[str, int]:
    """The gateway's ``rtvoice_outbound_underrun_seconds`` observations over 10 ms so far, by cause (its
    ``/metrics``; one scrape in the run, outside the measured CPU window's hot path).

    Raises:
        LoadTestError: the gateway did not answer with its metrics.
    """
    try:
        async with httpx2.AsyncClient(timeout=10) as client:
            response = await client.get(f"{url}/metrics")
            response.raise_for_status()
    except httpx2.HTTPError as exc:
        raise LoadTestError(f"the gateway's /metrics could not be read: {exc}") from exc
    counts = dict.fromkeys(UNDERRUN_CAUSES, 0.0)
    for family in text_string_to_metric_families(response.text):
        if family.name != "rtvoice_outbound_underrun_seconds":
            continue
        for sample in family.samples:
            cause = sample.labels.get("cause", "")
            if cause in counts and sample.name.endswith("_bucket"):
                if sample.labels.get("le") == "+Inf":
                    counts[cause] += sample.value
                elif sample.labels.get("le") == "0.01":
                    counts[cause] -= sample.value
    return {cause: round(value) for cause, value in counts.items()}


async def _run(
    mode: str,
    loop: str,
    n: int,
    options: LoadOptions,
    script: CallerScript,
    work: Path,
    progress: Progress,
    under_test: set[int] | None,
) -> RunResult:
    records = work / f"upstream-{mode}-{loop}-{n}.json"
    py = sys.executable
    port = free_port()
    sim_url = f"ws://127.0.0.1:{port}/v1"
    upstream = [py, "-m", "rtvoice_gateway.loadtest.upstream", "--records", str(records), "--port", str(port)]
    launch = [py, "-m", "rtvoice_gateway.loadtest.launch", "--loop", loop]
    if under_test is not None:
        launch += ["--cpus", ",".join(map(str, sorted(under_test)))]
    if mode == "floor":
        command = [*launch, "--bridge", "--", "--upstream", sim_url]
        env = _env()
    else:
        config = _config(work, mode, options.recording, options.input_batch_ms)
        command = [*launch, "--", "--log-level", "WARNING", "serve", "--port", "0", "--config", str(config)]
        # EVENT_LOOP: for a serve that picks its loop itself (``serve --loop``); the launcher's policy otherwise.
        env = _env(
            OPENAI_API_KEY="sk-loadtest", OPENAI_BASE_URL=sim_url.replace("ws://", "http://"), EVENT_LOOP=loop
        )
    calls = [TimedCall("http://placeholder", from_number=f"+1555{index:07d}") for index in range(n)]
    ended: dict[int, float] = {}
    async with contextlib.AsyncExitStack() as stack:
        # Both start at once (the gateway connects upstream only when a call comes).
        started = await asyncio.gather(
            stack.enter_async_context(server_process(upstream, _env())),
            stack.enter_async_context(server_process(command, env)),
            return_exceptions=True,
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        sim_pid = cast(tuple[int, str], started[0])[0]
        pid, url = cast(tuple[int, str], started[1])
        for call in calls:
            call.base_url = call.public_url = url
        progress.pid, progress.up, progress.calls = pid, 0, n
        rss_idle = rss_mib(pid)
        cpus = sorted(os.sched_getaffinity(pid)) if hasattr(os, "sched_getaffinity") else None
        stop = asyncio.Event()
        failures: list[str] = []

        async def guarded(index: int, call: TimedCall) -> None:
            try:
                await _one_call(call, index / ARRIVALS_PER_S, script, stop, progress)
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            finally:
                ended[index] = time.monotonic()

        # The callers are instruments: a collection in them would count as latency the gateway added.
        with collector_paused():
            async with asyncio.TaskGroup() as tasks:
                for index, call in enumerate(calls):
                    tasks.create_task(guarded(index, call))
                ramp_deadline = time.monotonic() + n / ARRIVALS_PER_S + 15
                while progress.up + len(failures) < n and time.monotonic() < ramp_deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                await asyncio.sleep(WARMUP_S)
                underruns0 = await underruns_over_10ms(url) if mode != "floor" else None
                cpu0, t0 = cpu_seconds(pid), time.monotonic()
                driver0, sim0, box0 = time.process_time(), cpu_seconds(sim_pid), machine_ticks()
                await asyncio.sleep(options.seconds)
                cpu1, t1 = cpu_seconds(pid), time.monotonic()
                driver1, sim1, box1 = time.process_time(), cpu_seconds(sim_pid), machine_ticks()
                rss_loaded = rss_mib(pid)
                underruns1 = await underruns_over_10ms(url) if mode != "floor" else None
                await asyncio.sleep(TAIL_S)
                stop.set()
        progress.pid = None
    with contextlib.suppress(OSError):
        shutil.rmtree(work / "recordings")
    try:
        raw = json.loads(records.read_text())
    except (OSError, ValueError) as exc:
        raise LoadTestError(f"the Realtime simulator left no records: {exc}") from exc
    sessions = [
        SessionData(
            caller=s["caller"],
            pcmu=s["pcmu"],
            appends=[(float(t), int(tag)) for t, tag in s["appends"]],
            replies=[
                Reply(r["first_delta_at"], r["audio_ms"], r["status"] == "completed") for r in s["responses"]
            ],
            function_calls=s["function_calls"],
        )
        for s in raw["sessions"]
    ]
    data = [
        CallData(
            caller=c.from_number,
            connected_at=c.connected_at,
            ended_at=ended.get(i, time.monotonic()),
            sent_at=c.sent_at,
            sound=c.sound,
            media=c.media,
            clears=c.clear_times,
            audio_ticks=c.audio_ticks,
            gaps=c.gaps.gaps,
            caller_stops=c.caller_stops,
            barge_ins=c.barge_ins,
            violations=sum(c.violations.values()),
        )
        for i, c in enumerate(calls)
    ]
    result = analyse(
        mode=mode,
        loop=loop,
        calls=data,
        sessions=sessions,
        window=(t0, t1),
        process=Process(cpu1 - cpu0, t1 - t0, rss_idle, rss_loaded, driver1 - driver0, sim1 - sim0),
    )
    result.cpus = cpus
    if underruns0 is not None and underruns1 is not None:
        result.underruns_over_10ms = {cause: underruns1[cause] - underruns0[cause] for cause in underruns1}
    if raw["syntheses_during_run"]:
        result.notes.append(f"the simulator synthesised {raw['syntheses_during_run']} replies during the run")
    busy, total = box1[0] - box0[0], box1[1] - box0[1]
    result.machine_busy_percent = busy * 100 / total if total else math.nan
    if result.machine_busy_percent > SATURATED_PERCENT:
        result.notes.append(
            f"the machine's CPUs were {result.machine_busy_percent:.0f}% busy (every process, other work "
            "included): the system under test waited for a CPU, so its latencies are the machine's"
        )
    for name, share in (
        ("callers' process", result.driver_cpu_percent),
        ("simulator", result.upstream_cpu_percent),
    ):
        if share > SATURATED_PERCENT:
            result.notes.append(
                f"the load generator was near its limit ({name} at {share:.0f}% of a core): "
                "latencies are an upper bound"
            )
    if failures:
        result.notes.append(f"{len(failures)} call(s) failed, first: {failures[0]}")
    return result


def machine() -> str:
    """A line about where the report ran."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load} at the start, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


async def run_loadtest(options: LoadOptions, write: Callable[[str], None]) -> list[RunResult]:
    """Ramp through ``options.calls``; write the report, the plots and ``results.json`` into ``options.out``."""
    options.out.mkdir(parents=True, exist_ok=True)
    where = machine()
    own_cpus = os.sched_getaffinity(0) if options.pin else None
    under_test: set[int] | None = None
    if options.pin:
        under_test, generators = pinned_cpus()
        # The callers run here and the simulator is started from here: both inherit the generators' CPUs.
        os.sched_setaffinity(0, generators)
        where += (
            f"; pinned (--pin): the system under test on CPU {', '.join(map(str, sorted(under_test)))}, "
            f"the load generators (callers, simulator) on CPU {', '.join(map(str, sorted(generators)))}"
        )
    try:
        return await _ramp(options, write, where, under_test)
    finally:
        if own_cpus is not None:
            os.sched_setaffinity(0, own_cpus)


async def _ramp(
    options: LoadOptions, write: Callable[[str], None], where: str, under_test: set[int] | None
) -> list[RunResult]:
    script = await asyncio.to_thread(CallerScript.synthesize)
    results: list[RunResult] = []
    stopped: str | None = None
    progress = Progress(write)
    ticker = asyncio.create_task(progress.run())
    try:
        with tempfile.TemporaryDirectory(prefix="rtvoice-loadtest-") as folder:
            for number, n in enumerate(options.calls, 1):
                for loop in options.loops:
                    for repeat, mode in itertools.product(range(1, options.repeat + 1), options.modes):
                        progress.label = (
                            f"step {number}/{len(options.calls)} ({n} calls) {MODES[mode]}, {loop}"
                            + (f", run {repeat}/{options.repeat}" if options.repeat > 1 else "")
                        )
                        results.append(
                            await _run(mode, loop, n, options, script, Path(folder), progress, under_test)
                        )
                        last = results[-1]
                        last.repeat = repeat
                        write(
                            f"{progress.label}: inbound p99 {last.inbound.p99:.2f} ms, outbound p99 "
                            f"{last.outbound.p99:.2f} ms, CPU {last.cpu_ms_per_call_s:.2f} ms per call-s"
                        )
                step = [r for r in results if r.calls == n and r.mode == "transcode"]
                broken = [r for r in step if r.worst_p99_ms > options.limit_ms or r.calls_up < r.calls]
                if broken and n != options.calls[-1] and not options.keep_going:
                    r = broken[0]
                    stopped = (
                        f"at {n} calls ({r.loop}) the transcoding gateway's p99 was {r.worst_p99_ms:.1f} ms "
                        f"(limit {options.limit_ms:g} ms), {r.calls_up}/{r.calls} calls up"
                    )
                    break
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    targets = Targets(limit_p99_ms=options.limit_ms)
    text = render_markdown(
        results,
        command=options.command,
        machine=where,
        seconds=options.seconds,
        targets=targets,
        stopped_early=stopped,
        input_batch_ms=options.input_batch_ms,
    )
    (options.out / "report.md").write_text(text, encoding="utf-8")
    (options.out / "results.json").write_text(
        json.dumps([asdict(r) for r in results], indent=1, default=str), encoding="utf-8"
    )
    await asyncio.to_thread(plot, results, options.out)
    return results
