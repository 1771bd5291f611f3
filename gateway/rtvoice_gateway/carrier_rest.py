"""The carrier's REST API (Twilio's ``Calls`` resource): place a call, hang up, or replace its TwiML.

One :class:`CarrierREST` per gateway (one HTTP connection pool for every call). The base URL is a
setting (``TWILIO_API_BASE``), so tests point it at :class:`~rtvoice_gateway.testing.FakeCarrierAPI`.
A call that has already ended (HTTP 404, Twilio code 20404) is not an error: the goal is reached.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlencode

import httpx2

__all__ = ["CarrierREST", "CarrierRESTError"]

log = logging.getLogger("rtvoice_gateway.rest")
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class CarrierRESTError(RuntimeError):
    """The carrier refused a call-control request (the message says why; never the auth token)."""


class CarrierREST:
    """Call control over the carrier's REST API.

    Args:
        account_sid: ``TWILIO_ACCOUNT_SID``.
        auth_token: ``TWILIO_AUTH_TOKEN`` (HTTP Basic password).
        base_url: ``TWILIO_API_BASE``.
        timeout: seconds per request.
    """

    def __init__(self, account_sid: str, auth_token: str, *, base_url: str, timeout: float = 10.0) -> None:
        self.account_sid = account_sid
        self.base_url = base_url.rstrip("/")
        self._client = httpx2.AsyncClient(auth=(account_sid, auth_token), timeout=timeout)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def hang_up(self, call_sid: str) -> None:
        """End the call (``Status=completed``).

        Raises:
            CarrierRESTError: the carrier refused (other than "already ended").
        """
        await self._update(call_sid, {"Status": "completed"})

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace the call's TwiML (a transfer: ``<Dial>``); the media stream ends.

        Raises:
            CarrierRESTError: the carrier refused (other than "already ended").
        """
        await self._update(call_sid, {"Twiml": twiml})

    async def create_call(self, form: Sequence[tuple[str, str]]) -> str:
        """Place an outbound call (``POST .../Calls.json``: ``To``, ``From``, ``Url``, ...).

        Args:
            form: the parameters as name/value pairs (a name may repeat: ``StatusCallbackEvent``).

        Returns:
            The new call's ``CallSid``.

        Raises:
            CarrierRESTError: the carrier refused (its message and code) or could not be reached.
        """
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Calls.json"
        try:
            response = await self._client.post(url, content=urlencode(list(form)), headers=_FORM)
        except httpx2.HTTPError as exc:
            raise CarrierRESTError(
                f"the carrier's API could not be reached: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or not isinstance(body, dict) or not body.get("sid"):
            detail = body.get("message", "") if isinstance(body, dict) else ""
            code = body.get("code") if isinstance(body, dict) else None
            raise CarrierRESTError(
                f"the carrier refused the call: HTTP {response.status_code}"
                + (f" (code {code})" if code else "")
                + (f": {detail}" if detail else "")
            )
        return str(body["sid"])

    async def _update(self, call_sid: str, form: dict[str, str]) -> None:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Calls/{call_sid}.json"
        try:
            response = await self._client.post(url, data=form)
        except httpx2.HTTPError as exc:
            raise CarrierRESTError(
                f"the carrier's API could not be reached: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code == 404:
            log.info("call %s had already ended", call_sid)
            return
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", "")
            except ValueError:
                detail = response.text[:200]
            raise CarrierRESTError(
                f"the carrier refused the call update: HTTP {response.status_code} {detail}"
            )
