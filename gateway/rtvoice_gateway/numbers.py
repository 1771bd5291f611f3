"""Per-number agents: which agent answers which phone number, read from a TOML file.

```toml
[default]                                   # any number not listed below (leave out: apology + hang-up)
agent = "examples/receptionist.py:make_agent"
greeting = "Greet the caller and ask how you can help."

[numbers."+15550101234"]
agent = "examples/supervised.py:make_agent"  # or a module path: "mypackage.agents:make_agent"
voice = "cedar"
audio = "passthrough"                        # μ-law straight through (default: "transcode")
recording_dir = "recordings"
transfer_targets = { sales = "+15550109999" }
dtmf = "model"                               # tell the model the keys pressed (default: tools only)
on_machine = "voicemail"                     # outbound calls from this number that a machine answers
```

``agent`` names a factory, ``module:function`` or ``file.py:function`` (a relative file is found next to
the config file), called once per call with the call's :class:`CallDetails` and returning a
:class:`rtvoice.RealtimeAgent` without devices (the gateway attaches the phone line). Everything is
checked when the file is loaded, so a bad file fails at start-up with the file, the key and what is wrong.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rtvoice import NoiseReduction, RealtimeAgent, ServerVAD
from rtvoice.options import validate_voice
from rtvoice.realtime.protocol import MAX_INPUT_BATCH_MS

__all__ = [
    "AgentFactory",
    "CallDetails",
    "ConfigError",
    "NumberConfig",
    "NumberEntry",
    "load_numbers",
    "resolve_factory",
]

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
#: Turn detection for 8 kHz phone lines: line noise needs a higher threshold than a headset, and callers
#: pause mid-sentence, so a turn ends after 600 ms of silence.
PHONE_VAD = ServerVAD(threshold=0.6, prefix_padding_ms=300, silence_duration_ms=600)


class ConfigError(ValueError):
    """The number config is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class CallDetails:
    """What the gateway knows about a call when it builds its agent (and what tools can inject)."""

    call_sid: str
    from_number: str
    to_number: str
    account_sid: str = ""
    direction: str = "inbound"
    parameters: Mapping[str, str] = field(default_factory=dict)
    """The stream's custom ``<Parameter>`` values."""


AgentFactory = Callable[[CallDetails], RealtimeAgent]


class NumberEntry(BaseModel):
    """One number's agent and options (``[default]`` or ``[numbers."+1..."]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str = Field(description="the factory: module:function or file.py:function")
    greeting: str | None = Field(
        default="Greet the caller briefly and ask how you can help.",
        description="instructions for the first response, spoken as soon as the call connects; "
        "empty for none (the agent waits for the caller)",
    )
    voice: str | None = Field(default=None, description="overrides the factory's voice")
    audio: Literal["transcode", "passthrough"] = Field(
        default="transcode",
        description="transcode: μ-law 8 kHz ↔ PCM16 24 kHz in the gateway; passthrough: μ-law upstream",
    )
    recording_dir: Path | None = Field(default=None, description="record each call to DIR/<CallSid>.wav")
    transfer_targets: dict[str, str] = Field(default_factory=dict, description="name → E.164 number")
    noise_reduction: Literal["near_field", "far_field", "off", "agent"] = Field(
        default="near_field",
        description="input noise reduction: near_field suits a phone held to the ear; 'agent' keeps the "
        "factory's choice",
    )
    vad: Literal["phone", "agent"] = Field(
        default="phone",
        description="turn detection: 'phone' is server VAD tuned for 8 kHz lines (threshold 0.6, 300 ms "
        "of prefix, 600 ms of silence ends a turn) unless the factory chose server VAD itself; 'agent' "
        "keeps the factory's",
    )
    input_batch_ms: float | None = Field(
        default=None,
        ge=0,
        le=MAX_INPUT_BATCH_MS,
        description="overrides the factory's input_batch_ms: while the caller is silent, their 20 ms frames "
        "are sent in appends of this many ms (the agent's default 60; 0 sends every frame at once, which "
        "costs CPU and saves the silence up to 40 ms of waiting)",
    )
    dtmf: Literal["tools", "model"] = Field(
        default="tools",
        description='keys the caller presses: "tools" keeps them for tools only (CallControl.digits); '
        '"model" also tells the model, as a user message "[The caller pressed 1 2 3]" sent once the caller '
        "presses # or pauses for a second, and asks for a response",
    )
    # -- outbound calls placed from this number (rtvoice_gateway.outbound) --
    on_machine: Literal["continue", "hangup", "voicemail"] = Field(
        default="continue",
        description="an outbound call placed with answering-machine detection that a machine answers: "
        '"continue" (only recorded), "hangup" (ended at once), or "voicemail" (the agent is asked to leave '
        "the `voicemail` message, then the call is hung up once it has played)",
    )
    voicemail: str = Field(
        default="An answering machine picked up and is recording now. Leave a short voicemail: who you "
        "are, why you called and how to call back. Do not ask questions.",
        description='instructions for the voicemail response (on_machine = "voicemail")',
    )

    @field_validator("agent")
    @classmethod
    def _factory_reference(cls, value: str) -> str:
        module, sep, function = value.rpartition(":")
        if not sep or not module or not function.isidentifier():
            raise ValueError(f"expected 'module:function' or 'file.py:function', got {value!r}")
        return value

    @field_validator("voice")
    @classmethod
    def _voice(cls, value: str | None) -> str | None:
        return None if value is None else validate_voice(value)

    @field_validator("transfer_targets")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, number in value.items():
            if not E164.match(number):
                raise ValueError(
                    f"transfer target {name!r}: {number!r} is not an E.164 number (+15550100000)"
                )
        return value


class NumberConfig(BaseModel):
    """The whole file: a default entry and entries per E.164 number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: NumberEntry | None = None
    numbers: dict[str, NumberEntry] = Field(default_factory=dict)

    @field_validator("numbers")
    @classmethod
    def _e164(cls, value: dict[str, NumberEntry]) -> dict[str, NumberEntry]:
        for number in value:
            if not E164.match(number):
                raise ValueError(f"{number!r} is not an E.164 number (a + and 7 to 15 digits)")
        return value

    def entry_for(self, to_number: str) -> NumberEntry | None:
        """The entry for the dialled number, else the default, else None (no agent answers)."""
        return self.numbers.get(to_number, self.default)


def load_numbers(path: str | Path) -> tuple[NumberConfig, dict[str, AgentFactory]]:
    """Read and check a number config, importing every factory it names.

    Returns:
        The config and the factories by reference (``entry.agent``).

    Raises:
        ConfigError: the file is missing or not TOML, a key is unknown or invalid, a factory cannot be
            imported or is not callable with one argument. The message names the file and the key.
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read it: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    try:
        config = NumberConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{file}: {where}: {message}{more}") from exc
    config = _with_paths_from(config, file.parent)
    factories: dict[str, AgentFactory] = {}
    entries = ([("default", config.default)] if config.default else []) + [
        (f'numbers."{number}"', entry) for number, entry in config.numbers.items()
    ]
    for key, entry in entries:
        if entry.agent not in factories:
            try:
                factories[entry.agent] = resolve_factory(entry.agent, base=file.parent)
            except ConfigError as exc:
                raise ConfigError(f"{file}: {key}.agent: {exc}") from exc
    return config, factories


def _with_paths_from(config: NumberConfig, base: Path) -> NumberConfig:
    """Relative recording folders are relative to the config file, like its agent paths."""

    def fix(entry: NumberEntry) -> NumberEntry:
        folder = entry.recording_dir
        if folder is None or folder.is_absolute():
            return entry
        return entry.model_copy(update={"recording_dir": (base / folder).resolve()})

    return config.model_copy(
        update={
            "default": fix(config.default) if config.default is not None else None,
            "numbers": {number: fix(entry) for number, entry in config.numbers.items()},
        }
    )


def resolve_factory(reference: str, *, base: Path) -> AgentFactory:
    """Import ``module:function`` or ``file.py:function`` (relative to ``base``) and check it.

    Raises:
        ConfigError: it cannot be imported, does not exist, or does not take one argument.
    """
    target, _, name = reference.rpartition(":")
    module = _load_module(target, base)
    factory = getattr(module, name, None)
    if factory is None:
        raise ConfigError(f"{target} has no {name!r}")
    if not callable(factory):
        raise ConfigError(f"{reference} is not callable")
    try:
        inspect.signature(factory).bind(None)
    except TypeError as exc:
        raise ConfigError(f"{reference} must take one argument (the call's CallDetails): {exc}") from exc
    except ValueError:  # no signature (a builtin): let the call tell
        pass
    return factory  # type: ignore[no-any-return]


def _load_module(target: str, base: Path) -> ModuleType:
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise ConfigError(f"no such file: {path}")
        name = f"rtvoice_gateway_agents.{re.sub(r'[^0-9A-Za-z_]', '_', str(path.resolve()))}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(target)
    except Exception as exc:
        raise ConfigError(f"cannot import {target!r}: {type(exc).__name__}: {exc}") from exc


def build_agent(factory: AgentFactory, entry: NumberEntry, details: CallDetails) -> RealtimeAgent:
    """Call the factory and apply the entry's overrides; a factory that returns no agent is an error.

    Raises:
        TypeError: the factory did not return a ``RealtimeAgent``.
    """
    agent: Any = factory(details)
    if not isinstance(agent, RealtimeAgent):
        raise TypeError(f"the agent factory returned {type(agent).__name__}, not a RealtimeAgent")
    if entry.voice is not None:
        agent.voice = entry.voice
    if entry.noise_reduction != "agent":
        agent.noise_reduction = (
            None if entry.noise_reduction == "off" else NoiseReduction(entry.noise_reduction)
        )
    if entry.vad == "phone" and not isinstance(agent.turn_detection, ServerVAD):
        agent.turn_detection = PHONE_VAD
    if entry.input_batch_ms is not None:
        agent.input_batch_ms = entry.input_batch_ms
    if entry.recording_dir is not None and agent.recording_path is None:
        agent.recording_path = entry.recording_dir / f"{details.call_sid}.wav"
    return agent
