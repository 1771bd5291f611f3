"""The gateway's settings: from the environment (and flags), checked once at start-up.

Every variable is listed in ``.env.example`` at the repository's root and in ``docs/gateway.md``.
Secrets are kept as :class:`pydantic.SecretStr`, so printing the settings (or logging them) never shows them.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

__all__ = ["DRAIN_GOODBYE", "Settings", "SettingsError", "is_loopback"]

#: What a call still running when the drain's grace is over hears before it is hung up.
DRAIN_GOODBYE = "Sorry, we have to end this call now. Please call again. Goodbye."


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    """What ``rtvoice-gateway serve`` runs with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    openai_api_key: SecretStr | None = Field(
        default=None, description="OPENAI_API_KEY; without it calls run on the embedded Realtime simulator"
    )
    openai_base_url: str | None = Field(default=None, description="OPENAI_BASE_URL (the SDK's own)")
    twilio_account_sid: str | None = Field(default=None, description="TWILIO_ACCOUNT_SID (AC...)")
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        description="TWILIO_AUTH_TOKEN; without it signatures are not checked and the server is for "
        "local use only (it binds to loopback)",
    )
    public_url: str | None = Field(
        default=None,
        description="PUBLIC_URL: the https:// origin the carrier reaches (behind a proxy or tunnel); "
        "signatures are computed over it",
    )
    twilio_api_base: str = Field(
        default="https://api.twilio.com", description="TWILIO_API_BASE: where call-control REST calls go"
    )
    stream_token_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="STREAM_TOKEN_SECRET: signs stream tokens; set the same value on every replica",
    )
    stream_token_ttl_s: float = Field(default=30.0, gt=0, le=600, description="STREAM_TOKEN_TTL_S")
    outbound_lead_ms: int = Field(
        default=160,
        ge=40,
        le=1000,
        multiple_of=20,
        description="OUTBOUND_LEAD_MS: agent audio queued at the carrier (whole 20 ms frames)",
    )
    outbound_release_ms: int = Field(
        default=60,
        ge=20,
        le=980,
        multiple_of=20,
        description=(
            "OUTBOUND_RELEASE_MS: agent audio sent to the carrier in steps of this much, one media message "
            "and one mark each (at most OUTBOUND_LEAD_MS - 20)"
        ),
    )
    max_message_bytes: int = Field(
        default=64 * 1024, ge=1024, description="MAX_MESSAGE_BYTES: the largest media-stream message"
    )
    prewarm: bool = Field(
        default=True,
        description="PREWARM: open the Realtime session while answering the webhook (0 to wait for the stream)",
    )
    host: str = Field(default="127.0.0.1", description="HOST to listen on")
    port: int = Field(default=8080, ge=0, le=65535, description="PORT (0 picks a free one)")
    config: Path | None = Field(default=None, description="NUMBERS_CONFIG: the per-number TOML file")
    dashboard_token: SecretStr | None = Field(
        default=None,
        description="DASHBOARD_TOKEN: opens /dashboard and /phone (at least 16 characters); unset: both are off",
    )
    gateway_api_token: SecretStr | None = Field(
        default=None,
        description="GATEWAY_API_TOKEN: the bearer token of POST /calls (outbound calls); without it the "
        "endpoint does not exist (404)",
    )
    # -- shutdown (docs/operations.md) --
    drain_grace_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="DRAIN_GRACE_SECONDS: on SIGTERM, how long live calls may go on before the goodbye",
    )
    drain_goodbye: str = Field(
        default=DRAIN_GOODBYE,
        min_length=1,
        description="DRAIN_GOODBYE: what calls still running after the drain's grace hear before the hang-up",
    )
    # -- replicas (issue 12, part 4) --
    redis_url: SecretStr | None = Field(
        default=None,
        description="REDIS_URL (redis://, rediss:// or unix://): used stream tokens and answered calls, "
        "shared by replicas (single use across them; a stream may reach another replica than its webhook); "
        "unset: in this process only",
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto",
        description="EVENT_LOOP: the event loop serve runs on (uvicorn's loop option): auto (uvloop where "
        "installed), uvloop or asyncio",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"must be an http(s) origin such as https://voice.example.com, not {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("dashboard_token", "gateway_api_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            scheme = urlsplit(value.get_secret_value()).scheme
            if scheme not in ("redis", "rediss", "unix"):
                # The value is not echoed: a Redis URL may hold a password.
                raise ValueError(
                    f"must be a redis://, rediss:// or unix:// URL, not a {scheme or 'schemeless'} one"
                )
        return value

    @property
    def local_only(self) -> bool:
        """No auth token: signatures cannot be checked, so only loopback may reach the server."""
        return self.twilio_auth_token is None

    @property
    def simulated(self) -> bool:
        """No OpenAI key: calls go to the embedded Realtime simulator."""
        return self.openai_api_key is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read the environment (``os.environ`` by default); flags given as ``overrides`` win.

        Raises:
            SettingsError: a value is invalid, or the server would listen beyond loopback with no
                ``TWILIO_AUTH_TOKEN`` to check who calls it.
        """
        source = os.environ if env is None else env
        names = {
            "openai_api_key": "OPENAI_API_KEY",
            "openai_base_url": "OPENAI_BASE_URL",
            "twilio_account_sid": "TWILIO_ACCOUNT_SID",
            "twilio_auth_token": "TWILIO_AUTH_TOKEN",
            "public_url": "PUBLIC_URL",
            "twilio_api_base": "TWILIO_API_BASE",
            "stream_token_secret": "STREAM_TOKEN_SECRET",
            "stream_token_ttl_s": "STREAM_TOKEN_TTL_S",
            "outbound_lead_ms": "OUTBOUND_LEAD_MS",
            "outbound_release_ms": "OUTBOUND_RELEASE_MS",
            "max_message_bytes": "MAX_MESSAGE_BYTES",
            "prewarm": "PREWARM",
            "host": "HOST",
            "port": "PORT",
            "config": "NUMBERS_CONFIG",
            "dashboard_token": "DASHBOARD_TOKEN",
            "gateway_api_token": "GATEWAY_API_TOKEN",
            "drain_grace_s": "DRAIN_GRACE_SECONDS",
            "drain_goodbye": "DRAIN_GOODBYE",
            "redis_url": "REDIS_URL",
            "event_loop": "EVENT_LOOP",
        }
        values: dict[str, object] = {field: source[var] for field, var in names.items() if source.get(var)}
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            name = names.get(field, field.upper())
            message = first["msg"].removeprefix("Value error, ")
            raise SettingsError(f"{name}: {message}") from exc
        if settings.outbound_release_ms > settings.outbound_lead_ms - 20:
            raise SettingsError(
                f"OUTBOUND_RELEASE_MS: {settings.outbound_release_ms} must be at most OUTBOUND_LEAD_MS - 20 "
                f"({settings.outbound_lead_ms - 20})"
            )
        if settings.local_only and not is_loopback(settings.host):
            raise SettingsError(
                f"HOST {settings.host}: without TWILIO_AUTH_TOKEN nobody's signature can be checked, so the "
                "server only listens on loopback (127.0.0.1); set TWILIO_AUTH_TOKEN to serve a network"
            )
        return settings
