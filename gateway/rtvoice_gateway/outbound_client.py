"""``rtvoice-gateway call``: ask a running gateway to place an outbound call (``POST /calls``).

The command talks to the gateway, not to the carrier: the call's media stream must land on a gateway
that has its agent (the answer URL and the stream token are that gateway's), and the gateway holds the
carrier credentials and ``PUBLIC_URL``; the command only needs the gateway's URL and ``GATEWAY_API_TOKEN``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from rtvoice_gateway.numbers import E164

__all__ = ["CallRequestError", "PlacedCallInfo", "place_call"]


class CallRequestError(Exception):
    """The call was not placed; the message is one line for the user.

    Attributes:
        bad_input: True when the request itself was wrong (exit code 2), False when the gateway or the
            carrier failed (exit code 1).
    """

    def __init__(self, message: str, *, bad_input: bool) -> None:
        super().__init__(message)
        self.bad_input = bad_input


@dataclass(frozen=True)
class PlacedCallInfo:
    """What the gateway answered."""

    call_sid: str
    agent: str
    machine_detection: str | None


async def place_call(
    gateway_url: str,
    api_token: str | None,
    *,
    to: str,
    from_: str,
    agent: str | None = None,
    machine_detection: bool = False,
    timeout_s: float = 20.0,
) -> PlacedCallInfo:
    """``POST {gateway_url}/calls`` with the bearer token.

    Raises:
        CallRequestError: bad input (checked here first: the numbers, the URL, the token) or a refusal.
    """
    for flag, number in (("--to", to), ("--from", from_)):
        if not E164.match(number):
            raise CallRequestError(
                f"{flag} {number!r:.40} is not an E.164 number (a + and 7 to 15 digits, e.g. +15550100123)",
                bad_input=True,
            )
    if not gateway_url.startswith(("http://", "https://")):
        raise CallRequestError(
            f"--gateway must start with http:// or https://, not {gateway_url!r:.80}", bad_input=True
        )
    if not api_token:
        raise CallRequestError(
            "GATEWAY_API_TOKEN is not set: export the gateway's API token first", bad_input=True
        )
    body: dict[str, object] = {"to": to, "from": from_, "machine_detection": machine_detection}
    if agent is not None:
        body["agent"] = agent
    try:
        async with httpx2.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(
                f"{gateway_url.rstrip('/')}/calls",
                json=body,
                headers={"Authorization": f"Bearer {api_token}"},
            )
    except httpx2.HTTPError as exc:
        raise CallRequestError(
            f"cannot reach the gateway at {gateway_url}: {type(exc).__name__}: {exc}", bad_input=False
        ) from exc
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if response.status_code == 201 and isinstance(answer.get("call_sid"), str):
        return PlacedCallInfo(
            answer["call_sid"], str(answer.get("agent", "")), answer.get("machine_detection")
        )
    error = str(answer.get("error") or response.text[:200].strip() or "no reason given")
    if response.status_code == 404:
        error = "the gateway has no outbound API (set GATEWAY_API_TOKEN on the gateway, or check --gateway)"
    elif response.status_code == 401:
        error = "the gateway refused the API token (GATEWAY_API_TOKEN differs from the gateway's)"
    raise CallRequestError(f"{error} (HTTP {response.status_code})", bad_input=response.status_code < 500)
