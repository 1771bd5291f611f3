"""Chat models on the openai SDK's Chat Completions API: OpenAI and Azure OpenAI.

Both are thin shells over ``client.chat.completions.create``: the request is built from
:mod:`rtvoice.llm.messages`, the response is read into a :class:`ChatResult`, and every SDK error is
translated at this boundary into :class:`ChatModelError` (with the HTTP status, the API's error code and
whether a retry may help). The SDK client is created at the first request, so a model can be built
before the event loop runs, and :meth:`aclose` releases its connections.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types.chat import ChatCompletion

from rtvoice.exceptions import ConfigurationError
from rtvoice.llm.base import ChatModel, ChatModelError
from rtvoice.llm.messages import ChatMessage, ChatResult, ChatUsage, ToolCall, ToolSpec
from rtvoice.providers import resolve_openai_settings

__all__ = ["DEFAULT_AZURE_API_VERSION", "ChatAzureOpenAI", "ChatOpenAI"]

#: Azure's latest GA data-plane version for Chat Completions; ``OPENAI_API_VERSION`` overrides it.
DEFAULT_AZURE_API_VERSION = "2024-10-21"
# Statuses the SDK itself treats as worth retrying (its _should_retry); everything else is final.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


class _SDKChatModel(ChatModel):
    """Shared request/response handling; subclasses only build the SDK client."""

    def __init__(self, model: str, temperature: float | None, timeout: float, max_retries: int) -> None:
        self.model = model
        self.temperature = temperature
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: AsyncOpenAI | None = None

    def _create_client(self) -> AsyncOpenAI:
        raise NotImplementedError

    def _where(self) -> str:
        raise NotImplementedError

    async def complete(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> ChatResult:
        """Send one Chat Completions request (non-streaming) and read the first choice.

        Args:
            messages: the conversation so far.
            tools: the functions the model may call; ``tool_choice`` is ``auto`` when there are any.

        Returns:
            The assistant's text and function calls, with usage.

        Raises:
            ChatModelError: the API refused the request, could not be reached, timed out, or returned
                no choice.
        """
        if self._client is None:
            self._client = self._create_client()
        request: dict[str, Any] = {"model": self.model, "messages": [m.to_wire() for m in messages]}
        if tools:
            request["tools"] = [tool.to_wire() for tool in tools]
            request["tool_choice"] = "auto"
        if self.temperature is not None:
            request["temperature"] = self.temperature
        try:
            completion = await self._client.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            status = exc.status_code
            raise ChatModelError(
                f"{self._where()} refused the chat completion (HTTP {status}): {_api_message(exc)}",
                status_code=status,
                code=exc.code,
                retryable=status in _RETRYABLE_STATUSES or status >= 500,
            ) from exc
        except openai.APITimeoutError as exc:
            raise ChatModelError(
                f"{self._where()} did not answer within {self.timeout:g} s", retryable=True
            ) from exc
        except openai.APIConnectionError as exc:
            raise ChatModelError(f"could not reach {self._where()}: {exc.message}", retryable=True) from exc
        except openai.OpenAIError as exc:
            raise ChatModelError(f"chat completion failed: {exc}") from exc
        return _read_completion(cast(ChatCompletion, completion), self._where())

    async def aclose(self) -> None:
        """Close the SDK client's connections (a later request opens a new client)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _api_message(exc: openai.APIStatusError) -> str:
    # The SDK's own message is prefixed with "Error code: 400 - " and may be the whole body; the API's
    # error object has the sentence a person needs.
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


def _read_completion(completion: ChatCompletion, where: str) -> ChatResult:
    if not completion.choices:
        raise ChatModelError(f"{where} returned a chat completion without choices")
    choice = completion.choices[0]
    message = choice.message
    # Custom (free-form) tool calls are never offered by rtvoice, so only function calls are read.
    calls = tuple(
        ToolCall(call.id, call.function.name, call.function.arguments)
        for call in message.tool_calls or ()
        if call.type == "function"
    )
    usage = ChatUsage(model=completion.model, completion_id=completion.id)
    if completion.usage is not None:
        details = completion.usage.prompt_tokens_details
        usage = ChatUsage(
            model=completion.model,
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
            cached_tokens=(details.cached_tokens or 0) if details is not None else 0,
            completion_id=completion.id,
        )
    return ChatResult(
        text=message.content,
        tool_calls=calls,
        usage=usage,
        model=completion.model,
        finish_reason=choice.finish_reason,
        id=completion.id,
    )


class ChatOpenAI(_SDKChatModel):
    """OpenAI's Chat Completions API.

    Args:
        model: the model name.
        api_key: the key; default ``OPENAI_API_KEY``.
        base_url: the API base URL; default ``OPENAI_BASE_URL`` or OpenAI's (the SDK's own rule), so
            ``OPENAI_BASE_URL=http://127.0.0.1:PORT/v1`` points it at
            :class:`~rtvoice.testing.chat.ChatCompletionsSimulator`.
        temperature: sampling temperature; None leaves the API default.
        timeout: seconds per request attempt.
        max_retries: retries the SDK makes on connection errors, 408/409/429 and 5xx.
        organization: the ``OpenAI-Organization`` header; default ``OPENAI_ORG_ID``.
        project: the ``OpenAI-Project`` header; default ``OPENAI_PROJECT_ID``.

    Raises:
        ConfigurationError: no key was given and ``OPENAI_API_KEY`` is not set.
    """

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        api_key: str | None = None,
        base_url: str | None = None,
        temperature: float | None = None,
        timeout: float = 60.0,
        *,
        max_retries: int = 2,
        organization: str | None = None,
        project: str | None = None,
    ) -> None:
        super().__init__(model, temperature, timeout, max_retries)
        self.api_key, self.base_url = resolve_openai_settings(
            api_key,
            base_url,
            missing_key="ChatOpenAI has no API key: pass api_key=... or set OPENAI_API_KEY "
            "(for offline work, point base_url at rtvoice.testing.chat.ChatCompletionsSimulator)",
        )
        self.organization = organization
        self.project = project

    def _create_client(self) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            organization=self.organization,
            project=self.project,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def _where(self) -> str:
        return f"OpenAI ({self.base_url or 'api.openai.com'})"

    def __repr__(self) -> str:
        return f"ChatOpenAI(model={self.model!r}, base_url={self.base_url!r})"


class ChatAzureOpenAI(_SDKChatModel):
    """Azure OpenAI's Chat Completions API (``/openai/deployments/<deployment>/chat/completions``).

    Args:
        azure_endpoint: ``https://<resource>.openai.azure.com``; default ``AZURE_OPENAI_ENDPOINT``.
        azure_deployment: the deployment name (requests go to it); default ``AZURE_OPENAI_DEPLOYMENT``.
        api_version: the data-plane API version; default ``OPENAI_API_VERSION`` or
            :data:`DEFAULT_AZURE_API_VERSION`.
        api_key: the resource key (sent as ``api-key``); default ``AZURE_OPENAI_API_KEY``.
        azure_ad_token: an Entra ID token (sent as Bearer) instead of a key.
        temperature: sampling temperature; None leaves the API default.
        timeout: seconds per request attempt.
        max_retries: retries the SDK makes on connection errors, 408/409/429 and 5xx.

    Raises:
        ConfigurationError: no endpoint, no deployment, or neither a key nor a token.
    """

    def __init__(
        self,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        *,
        azure_ad_token: str | None = None,
        temperature: float | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        deployment = azure_deployment or os.environ.get("AZURE_OPENAI_DEPLOYMENT")
        if not deployment:
            raise ConfigurationError(
                "ChatAzureOpenAI needs azure_deployment=... (or AZURE_OPENAI_DEPLOYMENT)"
            )
        super().__init__(deployment, temperature, timeout, max_retries)
        endpoint = azure_endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigurationError(
                "ChatAzureOpenAI needs azure_endpoint='https://<resource>.openai.azure.com' "
                "(or AZURE_OPENAI_ENDPOINT)"
            )
        self.azure_endpoint = endpoint.rstrip("/")
        self.azure_deployment = deployment
        self.api_version = api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION
        self.azure_ad_token = azure_ad_token
        self.api_key = api_key or (None if azure_ad_token else os.environ.get("AZURE_OPENAI_API_KEY"))
        if not self.api_key and not self.azure_ad_token:
            raise ConfigurationError(
                "ChatAzureOpenAI needs api_key=... (or AZURE_OPENAI_API_KEY) or azure_ad_token=..."
            )

    def _create_client(self) -> AsyncOpenAI:
        return AsyncAzureOpenAI(
            azure_endpoint=self.azure_endpoint,
            azure_deployment=self.azure_deployment,
            api_version=self.api_version,
            api_key=self.api_key,
            azure_ad_token=self.azure_ad_token,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def _where(self) -> str:
        return f"Azure OpenAI ({self.azure_endpoint}, deployment {self.azure_deployment})"

    def __repr__(self) -> str:
        return f"ChatAzureOpenAI(azure_deployment={self.azure_deployment!r}, azure_endpoint={self.azure_endpoint!r})"
