"""Writing a text frame to a websockets connection at once, when nothing stands in the way.

The agent session writes its 50 appends a second per call through :func:`send_now`, and the load test's
simulated carriers write their media frames the same way.
"""

from __future__ import annotations

import logging

from websockets.asyncio.connection import Connection
from websockets.protocol import State

__all__ = ["send_now"]

log = logging.getLogger("rtvoice.websocket_send")


def send_now(ws: Connection, text: str) -> bool:
    """Write one text frame to the socket at once, where websockets' ``send`` would do just that.

    ``Connection.send`` wraps every frame in an async context manager that checks the state before and
    handles closing, errors and flow control after: about a third of what a send costs, paid on 50
    appends a second per call. When the connection is open, its transport neither closing nor paused by
    flow control, and no fragmented message is under way, all that ``send`` does is frame the text and
    write it, so this does the same directly. Otherwise (or on a websockets without these attributes) it
    does nothing and returns False, and the caller awaits ``ws.send(text)``, which handles the rest. A
    write that fails aborts the connection, as ``send`` does; the reader then ends the session.
    """
    if (
        ws.protocol.state is not State.OPEN
        or getattr(ws, "paused", True)
        or getattr(ws, "fragmented_send_waiter", True) is not None
        or ws.transport.is_closing()
    ):
        return False
    ws.protocol.send_text(text.encode())
    try:
        ws.send_data()
    except Exception:
        log.debug("writing to the socket failed; aborting it", exc_info=True)
        ws.transport.abort()
    return True
