"""Twilio request signatures (``X-Twilio-Signature``) and the public URLs they are computed over.

Twilio signs every webhook and every media-stream WebSocket upgrade: HMAC-SHA1, keyed by the account's
Auth Token, over the full URL it requested followed by each POST parameter as ``name + value``, names
sorted and, for a repeated name, its values sorted; then base64. A WebSocket upgrade is signed over its
``wss://`` URL with no parameters.

Behind a proxy (ngrok, a load balancer, an ingress) the URL our server sees is not the one Twilio
requested, so the URL to check is rebuilt from a configured public base URL (:class:`PublicURL`, the
``PUBLIC_URL`` setting), never from the ``Host`` header.

:func:`validate_signature` behaves exactly like ``twilio.request_validator.RequestValidator.validate``
(twilio 9.13) for form parameters, which the tests check on generated cases: Twilio is not consistent
about ports, so the URL is tried without its port and with the scheme's default port (443 for
``https``, 80 for every other scheme, ``wss`` included), and repeated identical values count once.
The comparison takes constant time.

**SharedKey webhooks.** When a Twilio Webhook Rule signs with a SharedKey, the request also carries
``X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=HMAC_SHA256``. Read the algorithm with
:func:`signature_algorithm`, and pass the SharedKey's secret (the one named by ``key``) instead of the
Auth Token; the signed data is the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import ParseResult, urlparse

from rtvoice.exceptions import ConfigurationError

__all__ = [
    "HMAC_SHA1",
    "HMAC_SHA256",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "FormParams",
    "PublicURL",
    "compute_signature",
    "signature_algorithm",
    "validate_signature",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
"""The request header carrying the signature."""
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
"""The header naming the SharedKey and algorithm of a Webhook Rule signature (absent otherwise)."""
HMAC_SHA1 = "HMAC_SHA1"
"""The Auth Token signature's algorithm, and the default."""
HMAC_SHA256 = "HMAC_SHA256"
"""The algorithm a SharedKey Webhook Rule may sign with."""

_HASHES = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}

FormParams = Mapping[str, str] | Iterable[tuple[str, str]]
"""Form parameters: a mapping, or name/value pairs (Starlette's ``FormData.multi_items()``)."""


def _pairs(params: FormParams) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        return list(params.items())
    return list(params)


def signature_algorithm(settings_header: str | None) -> str:
    """The algorithm named by an ``X-Twilio-Webhooks-Signature-Settings`` header.

    Args:
        settings_header: the header's value (``key=…,algorithm=HMAC_SHA256``), or None when absent.

    Returns:
        The ``algorithm=`` value as sent, or :data:`HMAC_SHA1` when the header or the part is missing.
    """
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip()
    return HMAC_SHA1


def compute_signature(
    auth_token: str, url: str, params: FormParams = (), *, algorithm: str = HMAC_SHA1
) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a request to ``url`` with these form parameters.

    Args:
        auth_token: the account's Auth Token (or the SharedKey secret of a Webhook Rule).
        url: the full URL as Twilio requested it (with its query string, if any).
        params: the POST form parameters; none for a WebSocket upgrade.
        algorithm: :data:`HMAC_SHA1` or :data:`HMAC_SHA256` (any case).

    Returns:
        The base64 HMAC signature.

    Raises:
        ValueError: for another algorithm.
    """
    hash_function = _HASHES.get(algorithm.upper())
    if hash_function is None:
        raise ValueError(f"unsupported webhook signature algorithm {algorithm!r:.40}")
    values: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        values.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hash_function).digest()
    return base64.b64encode(digest).decode("ascii")


def _without_port(url: ParseResult) -> str:
    if not url.port:
        return url.geturl()
    return url._replace(netloc=url.netloc.split(":")[0]).geturl()


def _with_port(url: ParseResult) -> str:
    if url.port:
        return url.geturl()
    port = 443 if url.scheme == "https" else 80
    return url._replace(netloc=f"{url.netloc}:{port}").geturl()


def validate_signature(
    auth_token: str, url: str, params: FormParams, signature: str, *, algorithm: str = HMAC_SHA1
) -> bool:
    """Whether ``signature`` is Twilio's for ``url`` and ``params``, with or without the port.

    Args:
        auth_token: the account's Auth Token (or the SharedKey secret of a Webhook Rule).
        url: the URL Twilio requested: build it with :class:`PublicURL`.
        params: the POST form parameters; ``()`` for a WebSocket upgrade.
        signature: the ``X-Twilio-Signature`` header's value.
        algorithm: from :func:`signature_algorithm`; :data:`HMAC_SHA1` for ordinary webhooks.

    Returns:
        True when the signature matches; False otherwise, also for a URL that cannot be parsed or an
        unsupported algorithm.
    """
    if algorithm.upper() not in _HASHES:
        return False
    try:
        parsed = urlparse(url)
        candidates = (_without_port(parsed), _with_port(parsed))
    except ValueError:  # a port out of range, a malformed IPv6 host
        return False
    pairs = _pairs(params)
    expected = signature.encode("utf-8", "surrogatepass")
    matches = [
        hmac.compare_digest(
            compute_signature(auth_token, candidate, pairs, algorithm=algorithm).encode("ascii"), expected
        )
        for candidate in candidates
    ]
    return any(matches)


class PublicURL:
    """The public origin Twilio reaches us at, and the URLs it signs, built from it.

    Args:
        base: ``https://host[:port][/prefix]`` as configured (``PUBLIC_URL``); ``http`` is accepted for
            local testing. A trailing slash is ignored.

    Raises:
        ConfigurationError: for another scheme, no host, or a user, query or fragment in ``base``.

    Example:
        >>> public = PublicURL("https://voice.example.com/")
        >>> public.http("/twilio/voice")
        'https://voice.example.com/twilio/voice'
        >>> public.websocket("/twilio/stream/abc")
        'wss://voice.example.com/twilio/stream/abc'
    """

    __slots__ = ("_base", "_scheme")

    def __init__(self, base: str) -> None:
        try:
            parsed = urlparse(base)
            parsed.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise ConfigurationError(f"PUBLIC_URL {base!r} is not a valid URL: {exc}") from None
        if parsed.scheme not in ("https", "http"):
            raise ConfigurationError(
                f"PUBLIC_URL must start with https:// (or http:// locally), got {base!r}"
            )
        if not parsed.hostname or "@" in parsed.netloc or parsed.query or parsed.fragment or parsed.params:
            raise ConfigurationError(f"PUBLIC_URL must be scheme://host[:port][/prefix] only, got {base!r}")
        self._scheme = parsed.scheme
        self._base = parsed.netloc + parsed.path.rstrip("/")

    @property
    def base(self) -> str:
        """The normalised base URL (no trailing slash)."""
        return f"{self._scheme}://{self._base}"

    def http(self, path: str, query: str = "") -> str:
        """The URL Twilio requested for a webhook at ``path`` (from the app's root) and raw ``query``.

        Raises:
            ValueError: if ``path`` does not start with ``/``.
        """
        _check_path(path)
        return f"{self._scheme}://{self._base}{path}" + (f"?{query}" if query else "")

    def websocket(self, path: str) -> str:
        """The ``wss://`` (``ws://`` for an ``http`` base) URL of a WebSocket at ``path``, as Twilio signs it.

        Raises:
            ValueError: if ``path`` does not start with ``/``.
        """
        _check_path(path)
        scheme = "wss" if self._scheme == "https" else "ws"
        return f"{scheme}://{self._base}{path}"


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
