"""Session cookies: made from the dashboard token, expiring, and worthless under another token."""

from __future__ import annotations

import pytest

from rtvoice_gateway.settings import Settings, SettingsError
from rtvoice_gateway.web.auth import SESSION_S, DashboardAuth


def test_a_session_cookie_expires_and_belongs_to_its_token() -> None:
    auth = DashboardAuth("a-dashboard-token-of-some-length")
    cookie = auth.session_cookie(1000.0)
    assert "a-dashboard-token" not in cookie
    assert auth.session_valid(cookie, 1000.0) and auth.session_valid(cookie, 1000 + SESSION_S - 1)
    assert not auth.session_valid(cookie, 1000 + SESSION_S)
    assert not DashboardAuth("another-dashboard-token-entirely").session_valid(cookie, 1000.0)
    expires, _, mac = cookie.partition(".")
    assert not auth.session_valid(f"{int(expires) + 3600}.{mac}", 1000.0)  # a later expiry is not signed
    for garbage in ("", ".", "x.y", "1" * 40 + "." + mac):
        assert not auth.session_valid(garbage, 1000.0)
    assert auth.token_matches("a-dashboard-token-of-some-length") and not auth.token_matches("a-dashboard")


def test_the_dashboard_token_setting_is_long_enough_and_never_printed() -> None:
    with pytest.raises(SettingsError, match="^DASHBOARD_TOKEN: must be at least 16 characters"):
        Settings.from_env({"DASHBOARD_TOKEN": "short"})
    settings = Settings.from_env({"DASHBOARD_TOKEN": "a-dashboard-token-of-some-length"})
    assert settings.dashboard_token is not None
    assert settings.dashboard_token.get_secret_value() == "a-dashboard-token-of-some-length"
    assert "a-dashboard-token" not in repr(settings) and "a-dashboard-token" not in str(settings)
    assert Settings.from_env({}).dashboard_token is None
