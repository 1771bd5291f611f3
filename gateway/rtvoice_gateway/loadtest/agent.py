"""The load test's agent: a receptionist with one tool, its instructions naming the caller.

The measuring simulator (:mod:`rtvoice_gateway.loadtest.upstream`) reads the caller's number from the
instructions to tell which call a Realtime session belongs to.
"""

from __future__ import annotations

from rtvoice import RealtimeAgent, ServerVAD, Tools
from rtvoice_gateway.numbers import CallDetails

__all__ = ["OPENING_HOURS", "make_agent", "tools"]

tools = Tools()
#: What the tool answers (the simulator reads it back; the load test synthesises it in advance).
OPENING_HOURS = "We are open every day from noon to ten in the evening; the kitchen closes at half past nine."


@tools.action("Tell the caller the opening hours")
async def opening_hours() -> str:
    return OPENING_HOURS


def make_agent(call: CallDetails) -> RealtimeAgent:
    """One agent per call (the gateway attaches the phone line)."""
    return RealtimeAgent(
        instructions=(
            "You are the phone host of a small restaurant. Be brief. "
            f"The caller's number is {call.from_number}."
        ),
        tools=tools,
        turn_detection=ServerVAD(silence_duration_ms=600),
    )
