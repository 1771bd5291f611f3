"""The supervisor: a chat-model agent with its own tools that the voice agent hands harder tasks to.

:class:`Supervisor` is the public object (rtvoice 0.7.0's signature). The loop's decisions live in
:class:`SupervisorLoop` (pure); :func:`route_call` and :func:`outcome_output` give the voice agent the
meaning of each ``supervisor`` call and the output for every way a run ends. See ``docs/supervisor.md``.
"""

from rtvoice.supervisor.loop import (
    CLARIFY_TOOL,
    DONE_TOOL,
    MAX_ITERATIONS_REACHED,
    CallModel,
    Finish,
    RunTools,
    SupervisorLoop,
    ToolOutput,
)
from rtvoice.supervisor.outcome import (
    CANCEL_TOOL_NAME,
    CANCELLED,
    CLARIFICATION_NEEDED,
    NOT_RUNNING,
    REQUEST_IN_PROGRESS,
    UPDATE_QUEUED,
    UPDATE_TOOL_NAME,
    WAITING_FOR_ANSWER,
    Cancelled,
    Clarify,
    Done,
    Failed,
    Reply,
    Resume,
    Start,
    SupervisorOutcome,
    SupervisorState,
    clarify_instructions,
    control_tool_definitions,
    outcome_output,
    route_call,
)
from rtvoice.supervisor.supervisor import (
    DEFAULT_HANDOFF_INSTRUCTIONS,
    Supervisor,
    ToolRegistry,
    ToolRunResult,
)

__all__ = [
    "CANCELLED",
    "CANCEL_TOOL_NAME",
    "CLARIFICATION_NEEDED",
    "CLARIFY_TOOL",
    "DEFAULT_HANDOFF_INSTRUCTIONS",
    "DONE_TOOL",
    "MAX_ITERATIONS_REACHED",
    "NOT_RUNNING",
    "REQUEST_IN_PROGRESS",
    "UPDATE_QUEUED",
    "UPDATE_TOOL_NAME",
    "WAITING_FOR_ANSWER",
    "CallModel",
    "Cancelled",
    "Clarify",
    "Done",
    "Failed",
    "Finish",
    "Reply",
    "Resume",
    "RunTools",
    "Start",
    "Supervisor",
    "SupervisorLoop",
    "SupervisorOutcome",
    "SupervisorState",
    "ToolOutput",
    "ToolRegistry",
    "ToolRunResult",
    "clarify_instructions",
    "control_tool_definitions",
    "outcome_output",
    "route_call",
]
