"""The supervisor: a chat-model agent with its own tools that the voice agent hands harder tasks to.

:class:`Supervisor` is the public object (rtvoice 0.7.0's signature): shareable configuration; each
conversation's runs go through its own :class:`SupervisorSession` (``supervisor.session()``). The loop's
decisions live in :class:`SupervisorLoop` (pure); :func:`route_call` and :func:`outcome_output` give the
voice agent the meaning of each ``supervisor`` call and the output for every way a run ends. See ``docs/supervisor.md``.
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
    CANCEL_GRACE_S,
    DEFAULT_HANDOFF_INSTRUCTIONS,
    Supervisor,
    SupervisorSession,
    ToolRegistry,
    ToolRunResult,
    UsageCallback,
)

__all__ = [
    "CANCELLED",
    "CANCEL_GRACE_S",
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
    "SupervisorSession",
    "SupervisorState",
    "ToolOutput",
    "ToolRegistry",
    "ToolRunResult",
    "UsageCallback",
    "clarify_instructions",
    "control_tool_definitions",
    "outcome_output",
    "route_call",
]
