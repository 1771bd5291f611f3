"""What a tool can do to the phone call it runs in: ``Inject[CallControl]``.

::

    @tools.action("End the call after saying goodbye")
    async def end_call(call: Inject[CallControl]) -> str:
        await call.hang_up()
        return "The call has ended."

* :meth:`CallControl.hang_up` waits until the caller has *heard* everything the agent said so far (the
  carrier echoed the mark after the goodbye), then ends the call: through the carrier's REST API when
  credentials are configured, and by closing the media stream in every case.
* :meth:`CallControl.transfer` hands the call to another number (``<Dial>``, through the REST API), by
  number or by a name from the number config's ``transfer_targets``.
* :meth:`CallControl.send_digits` plays DTMF tones in-band (media streams cannot send DTMF otherwise).
* ``digits`` holds the keys the caller pressed, with the call time of each.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rtvoice.event_bus import EventBus
from rtvoice_codecs import pcm16_to_ulaw
from rtvoice_gateway.carrier_rest import CarrierREST, CarrierRESTError
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.phone import PhoneLine

__all__ = ["CallControl", "DigitPressed", "dtmf_tones"]

log = logging.getLogger("rtvoice_gateway.call")

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip
GOODBYE_LIMIT_S = 15.0


def dtmf_tones(digits: str, *, tone_ms: int = 100, gap_ms: int = 60) -> bytes:
    """8 kHz μ-law DTMF for ``digits`` (0-9, *, #, A-D).

    Raises:
        ValueError: a character that is not a DTMF digit.
    """
    pcm = bytearray()
    for digit in digits.upper():
        if digit not in _DTMF:
            raise ValueError(f"{digit!r} is not a DTMF digit (0-9, *, #, A-D)")
        low, high = _DTMF[digit]
        for n in range(8 * tone_ms):
            value = 0.35 * (math.sin(2 * math.pi * low * n / 8000) + math.sin(2 * math.pi * high * n / 8000))
            pcm += int(value * 32767 / 2).to_bytes(2, "little", signed=True)
        pcm += bytes(2 * 8 * gap_ms)
    return pcm16_to_ulaw(bytes(pcm))


class DigitPressed:
    """The caller pressed a key: dispatched on the call's agent event bus, so a factory can listen::

    agent.event_bus.subscribe(DigitPressed, lambda event: print("pressed", event.digit))
    """

    __slots__ = ("digit",)

    def __init__(self, digit: str) -> None:
        self.digit = digit

    def __repr__(self) -> str:
        return f"DigitPressed({self.digit!r})"


@dataclass
class CallControl:
    """One call's controls, injected into tools (``Inject[CallControl]``)."""

    details: CallDetails
    line: PhoneLine
    rest: CarrierREST | None = None
    transfer_targets: Mapping[str, str] = field(default_factory=dict)
    on_end: Callable[[str], None] | None = None
    digits: list[tuple[str, float]] = field(default_factory=list)
    ended_by: str | None = None
    """``hang_up`` or ``transfer`` once a tool ended the call."""
    transferred_to: str | None = None
    bus: EventBus | None = None
    """Where :class:`DigitPressed` events go (the call's agent event bus)."""

    async def hang_up(self) -> None:
        """End the call once the caller has heard everything said so far (at most 15 s of waiting)."""
        if self.ended_by is not None:
            return
        self.ended_by = "hang_up"
        heard = await self._wait_for_goodbye()
        log.info("hanging up%s", "" if heard else " (the goodbye was not confirmed as played)")
        if self.rest is not None:
            try:
                await self.rest.hang_up(self.details.call_sid)
            except CarrierRESTError as exc:
                log.error("%s; closing the stream instead", exc)
        await self.line.close()
        if self.on_end is not None:
            self.on_end("hang_up")

    async def transfer(self, target: str) -> str:
        """Hand the call to ``target`` (an E.164 number or a ``transfer_targets`` name).

        Returns:
            What happened, for the model.
        """
        number = self.transfer_targets.get(target, target)
        if not E164.match(number):
            names = ", ".join(sorted(self.transfer_targets)) or "none"
            return f"Cannot transfer to {target!r}: not a known name ({names}) or an E.164 number."
        if self.rest is None:
            return "Transfers are not available: the gateway has no carrier credentials."
        await self._wait_for_goodbye()
        try:
            await self.rest.redirect(
                self.details.call_sid, f"<Response><Dial><Number>{number}</Number></Dial></Response>"
            )
        except CarrierRESTError as exc:
            log.error("transfer to %s failed: %s", number, exc)
            return f"The transfer failed: {exc}"
        self.ended_by, self.transferred_to = "transfer", number
        if self.on_end is not None:
            self.on_end("transfer")
        return f"The call is being transferred to {number}."

    async def send_digits(self, digits: str) -> None:
        """Play DTMF tones to the caller's side, once what the agent said so far has been heard.

        Raises:
            ValueError: a character that is not a DTMF digit.
        """
        tones = dtmf_tones(digits)
        await self._wait_for_goodbye()
        self.line.play_other(tones)

    def digit_pressed(self, digit: str) -> None:
        """The line reports a key the caller pressed: kept in ``digits`` and dispatched as
        :class:`DigitPressed` on ``bus`` (the agent's event bus)."""
        self.digits.append((digit, time.monotonic()))
        if self.bus is not None:
            self.bus.dispatch_nowait(DigitPressed(digit))

    async def _wait_for_goodbye(self) -> bool:
        # The agent's goodbye may still be arriving: give its audio a moment to reach the pacer.
        await asyncio.sleep(0.05)
        return await self.line.wait_played(limit_s=GOODBYE_LIMIT_S)
