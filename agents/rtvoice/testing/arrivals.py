"""When each WebSocket message came off the socket, for the simulators' stopwatches.

A handler that stamps ``time.monotonic()`` when it reads a message also counts the time the message
waited for the handler (while it finished the message before, or while other tasks of a busy load
generator ran). The connections here stamp each data message as the connection parses it from what the
socket delivered, before any handler runs: :attr:`arrivals` gets one time per message, in order, and
whoever reads the messages takes one per message (:func:`arrival_of`). The deque holds at most what
websockets' own receive queue holds.
"""

from __future__ import annotations

import time
from collections import deque

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

__all__ = ["StampedClientConnection", "StampedServerConnection", "arrival_of"]

_DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


def _stamp(arrivals: deque[float], event: Event) -> None:
    # A data frame with fin set ends a message (control frames are never part of one).
    if isinstance(event, Frame) and event.fin and event.opcode in _DATA_OPCODES:
        arrivals.append(time.monotonic())


class _ArrivalStamps(Connection):
    """Stamps each data message as it is parsed (mixed in before a server or client connection)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.arrivals: deque[float] = deque()

    def process_event(self, event: Event) -> None:
        _stamp(self.arrivals, event)
        super().process_event(event)


class StampedServerConnection(_ArrivalStamps, ServerConnection):
    """A server connection that notes when each data message arrived (see the module)."""


class StampedClientConnection(_ArrivalStamps, ClientConnection):
    """A client connection that notes when each data message arrived (see the module)."""


def arrival_of(ws: Connection) -> float:
    """When the message just read from ``ws`` arrived: its stamp on a stamped connection, else now."""
    arrivals: deque[float] | None = getattr(ws, "arrivals", None)
    return arrivals.popleft() if arrivals else time.monotonic()
