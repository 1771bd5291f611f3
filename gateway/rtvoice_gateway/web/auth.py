"""Who may open the dashboard and the softphone: the holder of ``DASHBOARD_TOKEN``.

The token itself never travels in a URL. A browser posts it once to the login form and gets a session
cookie (HttpOnly, SameSite=Strict, Secure over https) that holds an expiry and an HMAC of that expiry
keyed by the token: the token is not stored in the browser, a changed token ends every session, and a
stolen cookie expires. Scripts may send ``Authorization: Bearer <token>`` instead. WebSockets are
authenticated by the cookie, and only from a page of the same origin (``Origin`` is checked against
``Host``), so another site cannot open them with the user's cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

__all__ = ["COOKIE", "SESSION_S", "DashboardAuth"]

COOKIE = "rtvoice_dashboard"
#: How long a login lasts.
SESSION_S = 12 * 3600
_DOMAIN = b"rtvoice-dashboard-session\x00"


class DashboardAuth:
    """Checks the token, and makes and checks session cookies for it."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def token_matches(self, given: str) -> bool:
        """``given`` is the dashboard token (constant-time)."""
        return hmac.compare_digest(given.encode(), self._token)

    def session_cookie(self, now: float) -> str:
        """A cookie value valid for :data:`SESSION_S` from ``now``."""
        expires = str(int(now) + SESSION_S)
        return f"{expires}.{self._mac(expires)}"

    def session_valid(self, value: str, now: float) -> bool:
        """``value`` is a cookie this token made and it has not expired."""
        expires, sep, mac = value.partition(".")
        if not sep or not expires.isdigit() or len(expires) > 12:
            return False
        return hmac.compare_digest(mac, self._mac(expires)) and now < int(expires)

    def allowed(self, conn: HTTPConnection, now: float) -> bool:
        """A request or WebSocket with a valid session cookie, or a request with the bearer token."""
        cookie = conn.cookies.get(COOKIE)
        if cookie is not None and self.session_valid(cookie, now):
            return True
        if conn.scope["type"] != "http":
            return False
        scheme, _, given = conn.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(given) and self.token_matches(given.strip())

    def _mac(self, expires: str) -> str:
        return hmac.new(self._token, _DOMAIN + expires.encode(), hashlib.sha256).hexdigest()


def same_origin(conn: HTTPConnection) -> bool:
    """The ``Origin`` header names the host the request came to (browsers always send it on WebSockets)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() == conn.headers.get("host", "").lower()
