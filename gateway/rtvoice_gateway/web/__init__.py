"""The live-calls dashboard (``/dashboard``) and the browser softphone (``/phone``).

Both are on only when ``DASHBOARD_TOKEN`` is set; without it their routes do not exist (HTTP 404).
See docs/dashboard.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from rtvoice_gateway.web.dashboard import Dashboard
from rtvoice_gateway.web.softphone import Softphone

if TYPE_CHECKING:
    from rtvoice_gateway.app import Gateway

__all__ = ["Dashboard", "Softphone", "web_routes"]


def web_routes(gateway: Gateway) -> list[BaseRoute]:
    """The dashboard's and the softphone's routes for ``gateway`` (none without ``DASHBOARD_TOKEN``);
    the dashboard becomes one of the gateway's call observers."""
    token = gateway.settings.dashboard_token
    if token is None:
        return []
    dashboard = Dashboard(gateway, token.get_secret_value())
    gateway.observers.append(dashboard)
    return dashboard.routes() + Softphone(gateway, dashboard).routes()
