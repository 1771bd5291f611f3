"""A support line whose agent hands harder questions to a supervisor (a chat model with its own tools).

The supervisor and its tools are built once and shared by every call; each call gets its own agent.
Needs ``OPENAI_API_KEY`` for the supervisor's chat model (offline, point ``OPENAI_BASE_URL`` at the chat
simulator, see docs/supervisor.md).
"""

from __future__ import annotations

from rtvoice import RealtimeAgent, Supervisor, Tools
from rtvoice_gateway.numbers import CallDetails

back_office = Tools()
ORDERS = {
    "1001": "shipped on Monday, arriving Thursday",
    "1002": "waiting for the blue model to be restocked",
}


@back_office.action("Look up an order's status by its number")
async def order_status(order_number: str) -> str:
    return ORDERS.get(order_number, f"There is no order {order_number}.")


supervisor = Supervisor(
    description="Looks up orders and answers questions about deliveries.",
    instructions="You work in the back office of an online shop. Use your tools; answer in one sentence.",
    tools=back_office,
    holding_instruction="Tell the caller you are looking it up.",
)


def make_agent(call: CallDetails) -> RealtimeAgent:
    """One agent per call, sharing the supervisor."""
    return RealtimeAgent(
        instructions=(
            "You answer the support line of an online shop. For anything about an order, ask for the order "
            "number and ask the supervisor."
        ),
        supervisor=supervisor,
    )
