"""The per-number config: loading, every way a file can be wrong, and building a call's agent."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rtvoice import RealtimeAgent
from rtvoice_gateway.numbers import CallDetails, ConfigError, build_agent, load_numbers, resolve_factory

ROOT = Path(__file__).resolve().parents[2]
CALL = CallDetails(call_sid="CA123", from_number="+15550100123", to_number="+15550100001")

FACTORY = """
from rtvoice import RealtimeAgent

def make_agent(call):
    return RealtimeAgent(instructions=f"for {call.to_number}")

def no_args():
    return None

def not_an_agent(call):
    return "hello"

VALUE = 3
"""


def write(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "agents.py").write_text(FACTORY)
    path = tmp_path / "numbers.toml"
    path.write_text(textwrap.dedent(toml))
    return path


def test_the_example_config_loads_with_every_factory() -> None:
    config, factories = load_numbers(ROOT / "examples" / "numbers.toml")
    assert set(factories) == {"receptionist.py:make_agent", "supervised.py:make_agent"}
    support = config.entry_for("+15550100001")
    assert support is not None and support.voice == "cedar"
    assert support.recording_dir == (ROOT / "recordings").resolve()  # relative to the file
    assert config.entry_for("+15550100002").audio == "passthrough"  # type: ignore[union-attr]
    assert config.entry_for("+4930000000") is config.default  # not listed: the default


def test_every_example_factory_builds_an_agent_without_devices() -> None:
    config, factories = load_numbers(ROOT / "examples" / "numbers.toml")
    for reference, factory in factories.items():
        entry = config.default if config.default and config.default.agent == reference else None
        entry = entry or next(e for e in config.numbers.values() if e.agent == reference)
        agent = build_agent(factory, entry, CALL)
        assert isinstance(agent, RealtimeAgent)
        assert agent.audio_input is None and agent.audio_output is None


def test_overrides_apply_to_the_built_agent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [numbers."+15550100001"]
        agent = "agents.py:make_agent"
        voice = "cedar"
        recording_dir = "calls"
        input_batch_ms = 0
        """,
    )
    config, factories = load_numbers(path)
    entry = config.entry_for("+15550100001")
    assert entry is not None
    agent = build_agent(factories[entry.agent], entry, CALL)
    assert agent.voice == "cedar" and agent.instructions == "for +15550100001"
    assert agent.input_batch_ms == 0
    assert agent.recording_path == tmp_path.resolve() / "calls" / "CA123.wav"
    assert config.entry_for("+15550100002") is None  # no default: nobody answers


def test_a_module_path_reference_works_too() -> None:
    factory: object = resolve_factory("rtvoice_gateway.numbers:load_numbers", base=Path("."))
    assert factory is load_numbers


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[numbers."+15550100001"]\nagent = "agents.py:make_agent"\ncolour = "red"\n',
            "numbers.+15550100001.colour: Extra inputs are not permitted",
        ),
        (
            '[numbers."5550100001"]\nagent = "agents.py:make_agent"\n',
            "numbers: '5550100001' is not an E.164 number",
        ),
        ('[default]\nagent = "agents.py"\n', "default.agent: expected 'module:function'"),
        ('[default]\nagent = "agents.py:make_agent"\nvoice = "nova"\n', "default.voice:"),
        (
            '[default]\nagent = "agents.py:make_agent"\ninput_batch_ms = 500\n',
            "default.input_batch_ms: Input should be less than or equal to 200",
        ),
        (
            '[default]\nagent = "agents.py:make_agent"\naudio = "opus"\n',
            "default.audio: Input should be 'transcode' or 'passthrough'",
        ),
        (
            '[default]\nagent = "agents.py:make_agent"\ntransfer_targets = { boss = "0800" }\n',
            "transfer target 'boss': '0800' is not an E.164 number",
        ),
        ('[default]\nagent = "missing.py:make_agent"\n', "default.agent: no such file"),
        ('[default]\nagent = "agents.py:nothing"\n', "default.agent: agents.py has no 'nothing'"),
        ('[default]\nagent = "agents.py:VALUE"\n', "default.agent: agents.py:VALUE is not callable"),
        (
            '[default]\nagent = "agents.py:no_args"\n',
            "default.agent: agents.py:no_args must take one argument",
        ),
        (
            '[default]\nagent = "no_such_module_here:make"\n',
            "default.agent: cannot import 'no_such_module_here'",
        ),
        ("[default\n", "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_file_the_key_and_what_is_wrong(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_numbers(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_numbers(tmp_path / "nope.toml")


def test_a_factory_that_raises_on_import_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "numbers.toml").write_text('[default]\nagent = "broken.py:make_agent"\n')
    with pytest.raises(ConfigError, match="importing .*broken.py failed: RuntimeError: boom"):
        load_numbers(tmp_path / "numbers.toml")


def test_a_factory_that_returns_something_else_fails_clearly(tmp_path: Path) -> None:
    path = write(tmp_path, '[default]\nagent = "agents.py:not_an_agent"\n')
    config, factories = load_numbers(path)
    assert config.default is not None
    with pytest.raises(TypeError, match="returned str, not a RealtimeAgent"):
        build_agent(factories[config.default.agent], config.default, CALL)


def test_phone_defaults_apply_unless_the_entry_keeps_the_agents(tmp_path: Path) -> None:
    from rtvoice import NoiseReduction, SemanticVAD, ServerVAD
    from rtvoice_gateway.numbers import PHONE_VAD

    path = write(
        tmp_path,
        """
        [numbers."+15550100001"]
        agent = "agents.py:make_agent"

        [numbers."+15550100002"]
        agent = "agents.py:make_agent"
        noise_reduction = "agent"
        vad = "agent"

        [numbers."+15550100003"]
        agent = "agents.py:make_agent"
        noise_reduction = "off"
        """,
    )
    config, factories = load_numbers(path)
    phone = build_agent(factories["agents.py:make_agent"], config.numbers["+15550100001"], CALL)
    assert phone.noise_reduction is NoiseReduction.NEAR_FIELD and phone.turn_detection is PHONE_VAD
    assert isinstance(phone.turn_detection, ServerVAD) and phone.turn_detection.silence_duration_ms == 600
    kept = build_agent(factories["agents.py:make_agent"], config.numbers["+15550100002"], CALL)
    assert kept.noise_reduction is NoiseReduction.FAR_FIELD and isinstance(kept.turn_detection, SemanticVAD)
    off = build_agent(factories["agents.py:make_agent"], config.numbers["+15550100003"], CALL)
    assert off.noise_reduction is None
