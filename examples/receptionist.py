"""A receptionist for a small restaurant: the gateway's default agent when no number config is given.

Copy this file, change the instructions and the tools, and point a number at it in a number config
(``agent = "my_receptionist.py:make_agent"``). The tools are built once, when the file is imported, and
shared by every call; ``make_agent`` builds a new agent for each call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from rtvoice import RealtimeAgent, ServerVAD, Tools
from rtvoice_gateway.numbers import CallDetails

tools = Tools()
MESSAGES: list[tuple[str, str, str]] = []  # (call sid, name, message); a real agent would store them


@tools.action("Tell the caller the opening hours")
async def opening_hours() -> str:
    return "We are open every day from noon to 10 pm; the kitchen closes at 9:30 pm."


@tools.action(
    "Book a table for tonight",
    holding_instruction="Say you are checking the book.",
)
async def book_table(
    party_size: Annotated[int, "number of guests, 1 to 12"],
    time: Annotated[str, "time in HH:MM, 24-hour clock"],
) -> str:
    try:
        hour, minute = (int(part) for part in time.split(":"))
        datetime(2000, 1, 1, hour, minute)
    except ValueError:
        return f"'{time}' is not a time; ask the caller again (HH:MM)."
    if not 1 <= party_size <= 12:
        return "We take bookings for 1 to 12 guests; for more, the caller should email the manager."
    if not 12 <= hour < 21 or (hour == 21 and minute > 30):
        return "We seat guests between 12:00 and 21:30 only."
    return f"Booked a table for {party_size} at {time}. Confirmation number {4700 + party_size}."


@tools.action("Take a message for the manager")
async def take_message(name: Annotated[str, "the caller's name"], message: str) -> str:
    MESSAGES.append(("", name, message))
    return "The message is saved; the manager will call back tomorrow."


def make_agent(call: CallDetails) -> RealtimeAgent:
    """One agent per call (no devices: the gateway attaches the phone line)."""
    return RealtimeAgent(
        instructions=(
            "You are the phone host of Luigi's, a small Italian restaurant. Be warm and brief: one or two "
            "sentences at a time. You can tell the opening hours, book tables for tonight and take "
            f"messages for the manager. The caller's number is {call.from_number}."
        ),
        tools=tools,
        turn_detection=ServerVAD(silence_duration_ms=600),
    )
