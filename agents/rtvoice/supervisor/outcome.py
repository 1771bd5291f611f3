"""How a supervisor run ends, and the texts the voice agent answers the ``supervisor`` call with.

The realtime model calls the ``supervisor`` tool once per task; that call stays open while the
supervisor works and must get exactly one ``function_call_output`` however the run ends (rtvoice 0.7.0
left it without one when the task was cancelled, and the model then waits for it). :func:`outcome_output`
gives that text for every :data:`SupervisorOutcome`, and :func:`route_call` decides what a new call means
in the supervisor's current state. The strings are rtvoice 0.7.0's where it had them.

This module is pure: no asyncio, no clock.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "CANCELLED",
    "CANCEL_TOOL_NAME",
    "CLARIFICATION_NEEDED",
    "NOT_RUNNING",
    "REQUEST_IN_PROGRESS",
    "UPDATE_QUEUED",
    "UPDATE_TOOL_NAME",
    "WAITING_FOR_ANSWER",
    "Cancelled",
    "Clarify",
    "Done",
    "Failed",
    "Reply",
    "Resume",
    "Start",
    "SupervisorOutcome",
    "SupervisorState",
    "clarify_instructions",
    "control_tool_definitions",
    "outcome_output",
    "route_call",
]

#: Output for a ``supervisor`` call while a run is active (0.7.0's text); the new call gets no response.
REQUEST_IN_PROGRESS = "Request already in progress."
#: Output for a ``supervisor`` call without ``clarification_answer`` while a question is open (0.7.0's text).
WAITING_FOR_ANSWER = "Cannot continue yet. Still waiting for the user's clarification answer."
#: Output for the ``supervisor`` call whose run stopped at a question (0.7.0's text).
CLARIFICATION_NEEDED = "Clarification needed before completing this task."
#: Output for a cancelled run's ``supervisor`` call, and for the ``cancel_supervisor`` call itself.
CANCELLED = "Supervisor task cancelled."
#: Output for ``update_supervisor`` when the update was queued for the running task.
UPDATE_QUEUED = "Update passed to the supervisor."
#: Output for ``cancel_supervisor`` / ``update_supervisor`` when no task is running or waiting.
NOT_RUNNING = "No supervisor task is running."
#: The realtime tool that cancels the task (offered while a task runs or waits, as in 0.7.0).
CANCEL_TOOL_NAME = "cancel_supervisor"
#: The realtime tool that passes new information to the task (``message``).
UPDATE_TOOL_NAME = "update_supervisor"


class SupervisorState(enum.Enum):
    """Where a supervisor is between calls.

    ``IDLE``: no task (a new ``supervisor`` call starts one). ``RUNNING``: the loop is working.
    ``WAITING_FOR_CLARIFICATION``: the loop stopped at ``clarify``; its checkpoint waits for the answer.
    """

    IDLE = "idle"
    RUNNING = "running"
    WAITING_FOR_CLARIFICATION = "waiting_for_clarification"


@dataclass(frozen=True)
class Done:
    """The task finished (``done`` was called, or the model answered without a tool call).

    Attributes:
        message: the result, for the voice model to present.
        success: False when the model reported failure or the iteration cap was hit.
    """

    message: str
    success: bool = True


@dataclass(frozen=True)
class Clarify:
    """The task needs an answer from the user; the run waits at a checkpoint.

    Attributes:
        question: what to ask the user.
    """

    question: str


@dataclass(frozen=True)
class Failed:
    """The run could not continue (the chat model failed or is not configured).

    Attributes:
        error: what went wrong, in one sentence.
    """

    error: str


@dataclass(frozen=True)
class Cancelled:
    """The run was cancelled (``cancel()``) before it finished; its checkpoint and updates are gone."""


SupervisorOutcome: TypeAlias = Done | Clarify | Failed | Cancelled


def outcome_output(outcome: SupervisorOutcome) -> str:
    """The ``function_call_output`` text for the ``supervisor`` call that a run ended.

    Args:
        outcome: how the run ended.

    Returns:
        ``Done``: JSON ``{"message": ..., "success": ...}``; ``Clarify``: :data:`CLARIFICATION_NEEDED`;
        ``Failed``: ``"Supervisor task failed: <error>"``; ``Cancelled``: :data:`CANCELLED`.
    """
    if isinstance(outcome, Done):
        return json.dumps({"message": outcome.message, "success": outcome.success}, ensure_ascii=False)
    if isinstance(outcome, Clarify):
        return CLARIFICATION_NEEDED
    if isinstance(outcome, Failed):
        return f"Supervisor task failed: {outcome.error}"
    return CANCELLED


def clarify_instructions(question: str) -> str:
    """Instructions for the response that asks the user the supervisor's question.

    Args:
        question: the question from :class:`Clarify`.

    Returns:
        Text for ``response.create`` ``instructions``: ask the question, then call ``supervisor`` again
        with the answer in ``clarification_answer``.
    """
    return (
        "The supervisor needs more information before it can finish the task. Ask the user this question, "
        f"in your own words: {question}\n"
        "When the user answers, call the supervisor tool again with the same task and their answer as "
        "clarification_answer."
    )


@dataclass(frozen=True)
class Start:
    """Start a new run with this task."""

    task: str


@dataclass(frozen=True)
class Resume:
    """Resume the waiting run with the user's answer."""

    answer: str


@dataclass(frozen=True)
class Reply:
    """Answer the call at once with this output; the supervisor is not touched."""

    output: str


def route_call(state: SupervisorState, arguments_json: str | None) -> Start | Resume | Reply:
    """Decide what a ``supervisor`` function call means in the supervisor's current state.

    Args:
        state: the supervisor's state when the call arrived.
        arguments_json: the call's arguments (``task``, optional ``clarification_answer``).

    Returns:
        :class:`Reply` with :data:`REQUEST_IN_PROGRESS` while running, with :data:`WAITING_FOR_ANSWER`
        when a question is open and no answer came, or with an error text for unusable arguments;
        :class:`Resume` when a question is open and an answer came; :class:`Start` otherwise.
    """
    try:
        arguments: Any = json.loads(arguments_json or "{}")
    except json.JSONDecodeError as exc:
        return Reply(f"Error: the supervisor arguments are not valid JSON ({exc.msg}).")
    if not isinstance(arguments, dict):
        return Reply("Error: the supervisor arguments must be a JSON object with a 'task' string.")
    task = arguments.get("task")
    answer = arguments.get("clarification_answer")
    answer = answer.strip() if isinstance(answer, str) else ""
    if state is SupervisorState.RUNNING:
        return Reply(REQUEST_IN_PROGRESS)
    if state is SupervisorState.WAITING_FOR_CLARIFICATION:
        return Resume(answer) if answer else Reply(WAITING_FOR_ANSWER)
    if not isinstance(task, str) or not task.strip():
        return Reply("Error: the supervisor needs a 'task': describe what it should do.")
    if answer:
        # No question is open, so the answer cannot resume anything; it is still information.
        return Start(f"{task.strip()}\n\nThe user also said: {answer}")
    return Start(task.strip())


def control_tool_definitions() -> list[dict[str, Any]]:
    """The realtime function tools that control a task: ``cancel_supervisor`` and ``update_supervisor``.

    rtvoice 0.7.0 added them with a tools-only ``session.update`` when a task started and removed them
    when it ended. Answer them with :data:`CANCELLED` / :data:`UPDATE_QUEUED`, or :data:`NOT_RUNNING`
    when :meth:`Supervisor.cancel` / :meth:`Supervisor.update` return False.

    Returns:
        Two definitions, each valid as the SDK's ``RealtimeFunctionTool``.
    """
    return [
        {
            "type": "function",
            "name": CANCEL_TOOL_NAME,
            "description": "Cancel the supervisor's task, when the user no longer wants it done.",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
        {
            "type": "function",
            "name": UPDATE_TOOL_NAME,
            "description": (
                "Pass new information or a change from the user to the supervisor's running task "
                "(for example a different time or party size)."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {"type": "string", "description": "What the user added or changed."}
                },
                "required": ["message"],
            },
        },
    ]
