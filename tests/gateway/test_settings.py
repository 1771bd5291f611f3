"""Gateway settings from the environment: defaults, checks, secrets kept out of reprs, loopback rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtvoice_gateway.settings import Settings, SettingsError, is_loopback

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_local_and_simulated() -> None:
    settings = Settings.from_env({})
    assert settings.local_only and settings.simulated
    assert settings.host == "127.0.0.1" and settings.port == 8080
    assert len(settings.stream_token_secret.get_secret_value()) >= 32


def test_drain_settings_from_the_environment_and_the_flag() -> None:
    assert Settings.from_env({}).drain_grace_s == 30
    env = {"DRAIN_GRACE_SECONDS": "12.5", "DRAIN_GOODBYE": "We are closing. Bye."}
    settings = Settings.from_env(env)
    assert (settings.drain_grace_s, settings.drain_goodbye) == (12.5, "We are closing. Bye.")
    assert Settings.from_env(env, drain_grace_s=0.0).drain_grace_s == 0


def test_environment_and_flags(tmp_path: Path) -> None:
    env = {
        "OPENAI_API_KEY": "sk-live-secret",
        "TWILIO_AUTH_TOKEN": "tw-secret",
        "PUBLIC_URL": "https://voice.example.com/",
        "PORT": "9000",
        "HOST": "0.0.0.0",
        "NUMBERS_CONFIG": str(tmp_path / "n.toml"),
    }
    settings = Settings.from_env(env, port=7000)
    assert settings.port == 7000  # the flag wins
    assert settings.public_url == "https://voice.example.com"
    assert settings.config == tmp_path / "n.toml"
    assert not settings.local_only and not settings.simulated
    shown = repr(settings) + str(settings.model_dump())
    assert "sk-live-secret" not in shown and "tw-secret" not in shown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "99999"}, "PORT: Input should be less than or equal to 65535"),
        ({"PORT": "eighty"}, "PORT: Input should be a valid integer"),
        ({"PUBLIC_URL": "voice.example.com"}, "PUBLIC_URL: must be an http(s) origin"),
        ({"PUBLIC_URL": "https://x.example.com/?a=1"}, "PUBLIC_URL: must not have a query"),
        ({"OUTBOUND_LEAD_MS": "0"}, "OUTBOUND_LEAD_MS: Input should be greater than or equal to 40"),
        ({"OUTBOUND_LEAD_MS": "150"}, "OUTBOUND_LEAD_MS: Input should be a multiple of 20"),
        ({"OUTBOUND_RELEASE_MS": "30"}, "OUTBOUND_RELEASE_MS: Input should be a multiple of 20"),
        (
            {"OUTBOUND_RELEASE_MS": "160"},
            "OUTBOUND_RELEASE_MS: 160 must be at most OUTBOUND_LEAD_MS - 20 (140)",
        ),
        ({"OUTBOUND_LEAD_MS": "60"}, "OUTBOUND_RELEASE_MS: 60 must be at most OUTBOUND_LEAD_MS - 20 (40)"),
        ({"STREAM_TOKEN_TTL_S": "nan"}, "STREAM_TOKEN_TTL_S:"),
        ({"HOST": "0.0.0.0"}, "HOST 0.0.0.0: without TWILIO_AUTH_TOKEN"),
        ({"DRAIN_GRACE_SECONDS": "-1"}, "DRAIN_GRACE_SECONDS: Input should be greater than or equal to 0"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    for name in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "PUBLIC_URL",
        "TWILIO_API_BASE",
        "STREAM_TOKEN_SECRET",
        "STREAM_TOKEN_TTL_S",
        "REDIS_URL",
        "OUTBOUND_LEAD_MS",
        "MAX_MESSAGE_BYTES",
        "PREWARM",
        "HOST",
        "PORT",
        "NUMBERS_CONFIG",
        "DRAIN_GRACE_SECONDS",
        "DRAIN_GOODBYE",
    ]:
        assert f"{name}=" in text, name
