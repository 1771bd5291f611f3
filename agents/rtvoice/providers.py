"""Where the Realtime session lives: OpenAI or Azure OpenAI (GA endpoint), through the openai SDK.

A provider builds the SDK client and says how to open the Realtime WebSocket; it never logs a secret.
``OpenAIProvider`` honours the SDK's own environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ...), so
``OPENAI_BASE_URL=http://127.0.0.1:PORT/v1`` points any agent at the simulator.

``AzureOpenAIProvider`` uses Azure's GA endpoint, ``wss://<resource>.openai.azure.com/openai/v1/realtime
?model=<deployment>``, the way the SDK's own Azure example does: an ``AsyncOpenAI`` on that base URL (no Azure client),
and either an ``api-key`` header (with the Bearer header dropped) or an Entra token as Bearer. It accepts
both the README's argument names (``azure_endpoint``, ``azure_deployment``) and rtvoice 0.7.0's real ones
(``resource``, ``deployment``).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from openai import AsyncOpenAI, omit

from rtvoice.exceptions import ConfigurationError

if TYPE_CHECKING:
    from openai._models import FinalRequestOptions

__all__ = [
    "AzureOpenAIProvider",
    "ConnectOptions",
    "OpenAIProvider",
    "RealtimeProvider",
    "SteppedAsyncOpenAI",
    "resolve_openai_settings",
]


class SteppedAsyncOpenAI(AsyncOpenAI):
    """``AsyncOpenAI`` that lets the event loop run once while it prepares a request or a connection.

    Opening a Realtime connection does about 1–1.5 ms of work before its first wait: the SDK builds the
    URL and the headers, then websockets looks for a proxy and makes the socket. In a server every call
    starting holds the loop that long in one piece, and a garbage collection that lands in it adds its own
    pause. The SDK calls its ``_prepare_options`` hook (the one its Azure client overrides) half-way
    through; waiting one loop turn there splits that work into two steps of at most about 0.7 ms
    (``scripts/bench agent --calls``, docs/benchmarks.md). Every other request pays the same one turn.
    The providers' :meth:`~RealtimeProvider.create_client` build this class.
    """

    async def _prepare_options(self, options: FinalRequestOptions) -> FinalRequestOptions:
        await asyncio.sleep(0)
        return await super()._prepare_options(options)


def resolve_openai_settings(
    api_key: str | None, base_url: str | None, *, missing_key: str
) -> tuple[str, str | None]:
    """The key and base URL the openai SDK would use: the arguments, else ``OPENAI_API_KEY``/``OPENAI_BASE_URL``.

    Raises:
        ConfigurationError: no key at all; ``missing_key`` says how to fix it.
    """
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ConfigurationError(missing_key)
    return key, base_url or os.environ.get("OPENAI_BASE_URL")


@dataclass(frozen=True)
class ConnectOptions:
    """Arguments for ``client.realtime.connect()``."""

    model: str
    extra_headers: dict[str, Any] = field(default_factory=dict)
    extra_query: dict[str, str] = field(default_factory=dict)


class RealtimeProvider(ABC):
    """Builds the openai SDK client and the connect options for Realtime sessions.

    A provider is meant to be built once and shared by every session (every call of a server): its SDK
    client is created at the first :meth:`client` call and reused, because building one costs ~20 ms of
    CPU on the event loop (the certificate store) and ~0.8 MiB. Sessions never close it; its owner does,
    with :meth:`aclose`, when the program is done (an agent that builds its default provider itself closes
    that one when its session ends).
    """

    _shared_client: AsyncOpenAI | None = None

    @abstractmethod
    def create_client(self) -> AsyncOpenAI:
        """A new SDK client."""

    def client(self) -> AsyncOpenAI:
        """The provider's SDK client, created at the first call and shared by every session after it."""
        if self._shared_client is None:
            self._shared_client = self.create_client()
        return self._shared_client

    def warm_up(self) -> None:
        """Do now the one-time work that the first session in a process would do on the event loop.

        That is: create the shared SDK client (the certificate store and the HTTP transport's imports,
        about 120 ms), import the SDK's WebSocket connection, and build once the SDK models a session
        sends (pydantic completes them at first use, about 20 ms), the SDK's platform headers, and the
        phone line's resampling filters. Without it, a server's first call blocks the event loop for
        some 150 ms, and every call starting beside it waits as long. Call it
        at start-up, before taking calls (``rtvoice-gateway serve`` does); later calls cost next to nothing.
        """
        client = self.client()
        client.realtime  # noqa: B018 (a cached property: the first access imports the realtime client)
        # The SDK's platform headers: its first connect computes them (platform.platform() runs `uname -p`
        # in a subprocess, about 2 ms on the loop) and caches them for the process.
        getattr(client, "default_headers", None)  # (getattr: an SDK without them has nothing to warm)
        try:
            importlib.import_module("openai.lib._websocket")  # what the SDK imports at its first connect
        except ImportError:  # not this SDK's layout: the first connect imports whatever it needs
            pass
        # The phone line's resampling filters (designed once per process and rate pair, about 1 ms each).
        from rtvoice_codecs import fir_design

        fir_design(8000, 24000)
        fir_design(24000, 8000)
        # Deferred import: the realtime package imports the SDK's models, which this module does not need.
        from rtvoice.audio.format import AudioFormat
        from rtvoice.options import ServerVAD
        from rtvoice.realtime.config import SessionConfig, build_session_update
        from rtvoice.realtime.wire import encode_client_event

        for audio_format in (AudioFormat.PCM16_24K, AudioFormat.PCMU_8K):
            config = SessionConfig(
                input_format=audio_format, output_format=audio_format, turn_detection=ServerVAD()
            )
            encode_client_event(build_session_update(config))

    async def aclose(self) -> None:
        """Close the shared client (idempotent); a later :meth:`client` call makes a new one."""
        client, self._shared_client = self._shared_client, None
        if client is not None:
            await client.close()

    @abstractmethod
    def connect_options(self, model: str) -> ConnectOptions:
        """How to open the Realtime WebSocket for ``model``."""

    @abstractmethod
    def describe(self) -> str:
        """Where the session goes, for logs: never includes a key."""


def _ws_base(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")


class OpenAIProvider(RealtimeProvider):
    """The OpenAI API.

    Args:
        api_key: the key; default ``OPENAI_API_KEY``.
        base_url: the HTTP base URL; default ``OPENAI_BASE_URL`` or OpenAI's.
        websocket_base_url: the WebSocket base URL; default derived from ``base_url`` by the SDK.
        organization: the ``OpenAI-Organization`` header; default ``OPENAI_ORG_ID``.
        project: the ``OpenAI-Project`` header; default ``OPENAI_PROJECT_ID``.

    Raises:
        ConfigurationError: no key was given and ``OPENAI_API_KEY`` is not set.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
    ) -> None:
        self.api_key, self.base_url = resolve_openai_settings(
            api_key,
            base_url,
            missing_key="no OpenAI API key: pass api_key=... or set OPENAI_API_KEY "
            "(for offline work, run the simulator: rtvoice-gateway simulator)",
        )
        self.websocket_base_url = websocket_base_url
        self.organization = organization
        self.project = project

    def create_client(self) -> AsyncOpenAI:
        """A new SDK client (:class:`SteppedAsyncOpenAI`)."""
        return SteppedAsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            websocket_base_url=self.websocket_base_url,
            organization=self.organization,
            project=self.project,
        )

    def connect_options(self, model: str) -> ConnectOptions:
        """Connect by model."""
        return ConnectOptions(model=model)

    def describe(self) -> str:
        """Where the session goes."""
        where = self.websocket_base_url or self.base_url or "api.openai.com"
        return f"OpenAI ({where})"


class AzureOpenAIProvider(RealtimeProvider):
    """Azure OpenAI, GA Realtime endpoint (``/openai/v1/realtime``).

    Args:
        azure_endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        azure_deployment: the deployment name, sent as ``model``; default ``AZURE_OPENAI_DEPLOYMENT``.
        api_version: accepted for compatibility; the GA endpoint has no api-version.
        api_key: the resource key (sent as ``api-key``); default ``AZURE_OPENAI_API_KEY``.
        resource: rtvoice 0.7.0's name for the resource (``<resource>.openai.azure.com``);
            default ``AZURE_OPENAI_RESOURCE``.
        deployment: rtvoice 0.7.0's name for ``azure_deployment``.
        azure_ad_token: an Entra ID token, sent as Bearer, instead of a key.

    Raises:
        ConfigurationError: no endpoint or resource, no deployment, or neither a key nor a token.
    """

    def __init__(
        self,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        *,
        resource: str | None = None,
        deployment: str | None = None,
        azure_ad_token: str | None = None,
    ) -> None:
        resource = resource or os.environ.get("AZURE_OPENAI_RESOURCE")
        endpoint = azure_endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if endpoint is None and resource:
            endpoint = f"https://{resource}.openai.azure.com"
        if not endpoint:
            raise ConfigurationError(
                "AzureOpenAIProvider needs azure_endpoint='https://<resource>.openai.azure.com' "
                "(or resource=..., or AZURE_OPENAI_ENDPOINT / AZURE_OPENAI_RESOURCE)"
            )
        self.endpoint = endpoint.rstrip("/")
        self.deployment = azure_deployment or deployment or os.environ.get("AZURE_OPENAI_DEPLOYMENT")
        if not self.deployment:
            raise ConfigurationError(
                "AzureOpenAIProvider needs azure_deployment=... (or AZURE_OPENAI_DEPLOYMENT)"
            )
        self.api_version = api_version
        self.api_key = api_key or (None if azure_ad_token else os.environ.get("AZURE_OPENAI_API_KEY"))
        self.azure_ad_token = azure_ad_token
        if not self.api_key and not self.azure_ad_token:
            raise ConfigurationError(
                "AzureOpenAIProvider needs api_key=... (or AZURE_OPENAI_API_KEY) or azure_ad_token=..."
            )

    @property
    def websocket_base_url(self) -> str:
        """``wss://<resource>.openai.azure.com/openai/v1``."""
        base = _ws_base(self.endpoint)
        return base if base.endswith("/openai/v1") else f"{base}/openai/v1"

    def create_client(self) -> AsyncOpenAI:
        """A plain SDK client on the Azure GA base URL."""
        token = self.azure_ad_token or self.api_key
        assert token is not None
        return SteppedAsyncOpenAI(api_key=token, websocket_base_url=self.websocket_base_url)

    def connect_options(self, model: str) -> ConnectOptions:
        """The deployment is the model; a key goes in ``api-key`` and the Bearer header is dropped."""
        assert self.deployment is not None
        headers: dict[str, Any] = {}
        if self.azure_ad_token is None:
            headers = {"api-key": self.api_key, "Authorization": omit}
        return ConnectOptions(model=self.deployment, extra_headers=headers)

    def describe(self) -> str:
        """Where the session goes."""
        return f"Azure OpenAI ({self.endpoint}, deployment {self.deployment})"
