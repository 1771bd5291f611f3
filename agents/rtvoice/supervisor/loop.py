"""The supervisor's agentic loop as a pure state machine: chat results in, actions out.

Theory of operation
-------------------
A run is a conversation with a chat model. :meth:`SupervisorLoop.start` builds rtvoice 0.7.0's opening
messages (the system instructions, a user message with ``<conversation_history>``, one with ``<task>``)
and returns :class:`CallModel`. The shell sends it and feeds the answer to :meth:`receive_reply`, which
returns one of:

* :class:`RunTools`: the application's tools to run; their outputs come back through
  :meth:`receive_tool_results`, which returns the next :class:`CallModel` or a :class:`Finish`.
* :class:`CallModel`: ask again (tool results and queued updates are in the messages).
* :class:`Finish`: the run ended with :class:`Done` or stopped at a :class:`Clarify` checkpoint.

The model gets the application's tools plus two of the loop's own: ``done(result, success)`` ends the
task, ``clarify(question)`` stops it to ask the user. A reply without tool calls is a ``done``.

**Every tool call gets a result.** The Chat Completions API refuses (HTTP 400) a history in which an
assistant's tool call has no ``tool`` message before the next other message. rtvoice 0.7.0 dropped the
calls issued beside ``done``/``clarify``, so a resumed history was refused. Here, in one assistant turn:

* the application's calls all run (their side effects were asked for), and each gets its output;
* the first valid ``done``/``clarify`` decides the ending; a later ``done``/``clarify`` in the same turn
  is answered "not run", an invalid one with what is wrong with its arguments;
* ``done`` is answered too. If a sibling tool failed, or an update arrived the model has not seen,
  ``done`` is *refused* (its result says why) and the loop goes on, so the model does not report
  success for work that failed or ignore what the user just said;
* ``clarify`` is the one call left open: it is answered by :meth:`resume`, with the user's answer.

**Updates** (:meth:`add_update`) are queued and added as ``<supervisor_update>`` user messages just
before the next model call: never between an assistant turn and its tool results, which would also be
refused.

**Iterations.** ``max_iterations`` caps the model calls of one :meth:`start` or one :meth:`resume`;
at the cap the run ends with ``Done("Max iterations reached.", success=False)``.

States: IDLE → (start) RUNNING → (Finish Done) IDLE, or → (Finish Clarify) WAITING_FOR_CLARIFICATION →
(resume) RUNNING. :meth:`cancel` and :meth:`fail` return to IDLE from anywhere and forget the run.
Calling a method in the wrong state raises :class:`~rtvoice.exceptions.LocalProtocolError`.

This module is pure: no asyncio, no clock.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from rtvoice.exceptions import ConfigurationError, LocalProtocolError
from rtvoice.llm.messages import (
    AssistantMessage,
    ChatMessage,
    ChatResult,
    SystemMessage,
    ToolCall,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from rtvoice.supervisor.outcome import Clarify, Done, SupervisorState

__all__ = [
    "CLARIFY_TOOL",
    "DONE_TOOL",
    "MAX_ITERATIONS_REACHED",
    "NO_CONVERSATION",
    "CallModel",
    "Finish",
    "RunTools",
    "SupervisorLoop",
    "ToolOutput",
]

MAX_ITERATIONS_REACHED = "Max iterations reached."
#: What ``<conversation_history>`` holds when there is none (``ConversationHistory.format()``'s text).
NO_CONVERSATION = "(no conversation yet)"

DONE_TOOL = ToolSpec(
    name="done",
    description=(
        "Finish the task. Call this once everything is complete (or cannot be completed). `result` is the "
        "final message for the user, with every detail they need."
    ),
    parameters={
        "type": "object",
        "properties": {
            "result": {"type": "string", "description": "The outcome of the task, for the user."},
            "success": {
                "type": "boolean",
                "description": "False when the task could not be completed. Default: true.",
            },
        },
        "required": ["result"],
    },
)
CLARIFY_TOOL = ToolSpec(
    name="clarify",
    description=(
        "Ask the user a question when information needed to complete the task is missing or ambiguous. "
        "The task pauses; the user's answer comes back as this call's result."
    ),
    parameters={
        "type": "object",
        "properties": {"question": {"type": "string", "description": "One clear question for the user."}},
        "required": ["question"],
    },
)
_RESERVED = frozenset({DONE_TOOL.name, CLARIFY_TOOL.name})

_DONE_ACCEPTED = "Task complete."
_NOT_RUN = "Not run: only the first done() or clarify() call of a turn is handled."
_REFUSED_FAILURE = (
    "Not finished: {count} other tool call(s) in the same turn failed (see their results). Fix the "
    "problem or report it, then call done again."
)
_REFUSED_UPDATE = (
    "Not finished: the user sent an update while you were working (next message). Take it into account, "
    "then call done again."
)


class ToolOutput(NamedTuple):
    """What one application tool call produced, for :meth:`SupervisorLoop.receive_tool_results`."""

    output: str
    ok: bool = True


@dataclass(frozen=True)
class CallModel:
    """Ask the chat model for the next turn."""

    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...]


@dataclass(frozen=True)
class RunTools:
    """Run these application tool calls and report their outputs in the same order."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Finish:
    """The run ended (:class:`Done`) or stopped at a question (:class:`Clarify`)."""

    outcome: Done | Clarify


class _Expect(enum.Enum):
    NOTHING = "nothing"
    REPLY = "reply"
    TOOL_RESULTS = "tool results"
    ANSWER = "answer"


@dataclass(frozen=True)
class _Ending:
    """The terminal call of an assistant turn, decided before the application's tools run."""

    call: ToolCall
    outcome: Done | Clarify


def _arguments(call: ToolCall) -> dict[str, Any] | None:
    try:
        parsed = json.loads(call.arguments or "{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _terminal_outcome(call: ToolCall) -> Done | Clarify | str:
    """The outcome a ``done``/``clarify`` call asks for, or the error text for bad arguments."""
    arguments = _arguments(call)
    if call.name == DONE_TOOL.name:
        result = arguments.get("result") if arguments is not None else None
        if not isinstance(result, str):
            return "Error: done needs a 'result' string (the outcome, for the user)."
        success = arguments.get("success", True) if arguments is not None else True
        return Done(result, success is not False)
    question = arguments.get("question") if arguments is not None else None
    if not isinstance(question, str) or not question.strip():
        return "Error: clarify needs a 'question' string."
    return Clarify(question.strip())


class SupervisorLoop:
    """The supervisor's loop state: messages, checkpoint, queued updates and the iteration count.

    Args:
        instructions: the system prompt.
        tools: the application's tools (the loop adds ``done`` and ``clarify``).
        max_iterations: model calls allowed per :meth:`start` or :meth:`resume`.

    Raises:
        ConfigurationError: ``max_iterations`` is below 1, or an application tool is named ``done`` or
            ``clarify``.
    """

    def __init__(self, instructions: str, tools: Sequence[ToolSpec] = (), max_iterations: int = 10) -> None:
        if max_iterations < 1:
            raise ConfigurationError(f"max_iterations must be at least 1, got {max_iterations}")
        clashes = sorted({tool.name for tool in tools} & _RESERVED)
        if clashes:
            raise ConfigurationError(f"supervisor tools cannot be named {clashes}: the loop reserves them")
        self.instructions = instructions
        self.tools: tuple[ToolSpec, ...] = (*tools, DONE_TOOL, CLARIFY_TOOL)
        self.max_iterations = max_iterations
        self._messages: list[ChatMessage] = []
        self._updates: list[str] = []
        self._iterations = 0
        self._expect = _Expect.NOTHING
        self._pending_calls: tuple[ToolCall, ...] = ()  # the whole assistant turn being answered
        self._ending: _Ending | None = None
        self._checkpoint: str | None = None  # the open clarify call's id

    # -- inspection -----------------------------------------------------------------------------------

    @property
    def state(self) -> SupervisorState:
        """IDLE, RUNNING or WAITING_FOR_CLARIFICATION."""
        if self._expect is _Expect.NOTHING:
            return SupervisorState.IDLE
        if self._expect is _Expect.ANSWER:
            return SupervisorState.WAITING_FOR_CLARIFICATION
        return SupervisorState.RUNNING

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        """The run's messages so far (kept after a finished run until the next :meth:`start`)."""
        return tuple(self._messages)

    @property
    def pending_updates(self) -> tuple[str, ...]:
        """Updates queued for the next model call."""
        return tuple(self._updates)

    # -- inputs ---------------------------------------------------------------------------------------

    def start(self, task: str, history_text: str = NO_CONVERSATION) -> CallModel:
        """Begin a run.

        Args:
            task: what the supervisor must do.
            history_text: the voice conversation so far, as text.

        Returns:
            The first model call.

        Raises:
            LocalProtocolError: a run is active or waiting (cancel it first).
        """
        self._require(_Expect.NOTHING, "start a task")
        self._messages = [
            SystemMessage(self.instructions),
            UserMessage(
                f"<conversation_history>\n{history_text or NO_CONVERSATION}\n</conversation_history>"
            ),
            UserMessage(f"<task>\n{task}\n</task>"),
        ]
        self._updates.clear()
        self._iterations = 0
        return self._call_model()

    def receive_reply(self, result: ChatResult) -> CallModel | RunTools | Finish:
        """Take the model's turn.

        Args:
            result: what the model answered to the last :class:`CallModel`.

        Returns:
            :class:`RunTools` when it called application tools, else the next step.

        Raises:
            LocalProtocolError: no model call was outstanding.
        """
        self._require(_Expect.REPLY, "receive a model reply")
        if not result.tool_calls:
            # An empty message is invalid in a history, so a silent reply is stored as "".
            self._messages.append(AssistantMessage(content=result.text or ""))
            if self._updates:
                return self._next_iteration()
            return self._finish(Done(result.text or "", success=True))
        self._messages.append(result.to_message())
        self._pending_calls = result.tool_calls
        self._ending = None
        for call in result.tool_calls:
            if call.name in _RESERVED and self._ending is None:
                outcome = _terminal_outcome(call)
                if not isinstance(outcome, str):
                    self._ending = _Ending(call, outcome)
        app_calls = tuple(call for call in result.tool_calls if call.name not in _RESERVED)
        if app_calls:
            self._expect = _Expect.TOOL_RESULTS
            return RunTools(app_calls)
        return self._answer_turn([])

    def receive_tool_results(self, outputs: Sequence[ToolOutput]) -> CallModel | Finish:
        """Take the outputs of the last :class:`RunTools`, in its order.

        Args:
            outputs: one per call of the :class:`RunTools`.

        Returns:
            The next model call, or the end of the run.

        Raises:
            LocalProtocolError: no tools were running, or the number of outputs does not match.
        """
        self._require(_Expect.TOOL_RESULTS, "receive tool results")
        expected = sum(1 for call in self._pending_calls if call.name not in _RESERVED)
        if len(outputs) != expected:
            raise LocalProtocolError(f"expected {expected} tool outputs, got {len(outputs)}")
        return self._answer_turn(list(outputs))

    def resume(self, answer: str) -> CallModel:
        """Continue a run that stopped at ``clarify``, with the user's answer as the call's result.

        Args:
            answer: what the user said.

        Returns:
            The next model call (the iteration count starts again).

        Raises:
            LocalProtocolError: no question is open.
        """
        self._require(_Expect.ANSWER, "resume")
        assert self._checkpoint is not None
        self._messages.append(ToolMessage(self._checkpoint, answer))
        self._checkpoint = None
        self._iterations = 0
        return self._call_model()

    def add_update(self, message: str) -> bool:
        """Queue a message from the user for the next model call.

        Returns:
            True when queued; False when no run is active or waiting (there is nothing to update).
        """
        if self._expect is _Expect.NOTHING:
            return False
        self._updates.append(message)
        return True

    def cancel(self) -> bool:
        """Forget the run: messages, checkpoint and queued updates.

        Returns:
            True when a run was active or waiting.
        """
        active = self._expect is not _Expect.NOTHING
        self._reset()
        self._messages.clear()
        return active

    def fail(self) -> None:
        """The shell could not go on (the model call failed): forget the run, keep its messages for logs."""
        self._reset()

    # -- internals ------------------------------------------------------------------------------------

    def _require(self, expected: _Expect, action: str) -> None:
        if self._expect is not expected:
            raise LocalProtocolError(
                f"cannot {action} while {self.state.value} (expecting {self._expect.value})"
            )

    def _reset(self) -> None:
        self._expect = _Expect.NOTHING
        self._updates.clear()
        self._pending_calls = ()
        self._ending = None
        self._checkpoint = None

    def _answer_turn(self, outputs: list[ToolOutput]) -> CallModel | Finish:
        """Answer every call of the assistant turn (except an accepted clarify), then move on."""
        ending = self._ending
        failures = sum(1 for output in outputs if not output.ok)
        if ending is not None and isinstance(ending.outcome, Done) and (failures or self._updates):
            # Refuse done: the model reported success for a turn that failed, or missed an update.
            text = _REFUSED_FAILURE.format(count=failures) if failures else _REFUSED_UPDATE
            ending = None
            done_refusal: str | None = text
        else:
            done_refusal = None
        app_outputs = iter(outputs)
        for call in self._pending_calls:
            if call.name not in _RESERVED:
                self._messages.append(ToolMessage(call.id, next(app_outputs).output))
            elif self._ending is not None and call is self._ending.call:
                if isinstance(self._ending.outcome, Done):
                    self._messages.append(ToolMessage(call.id, done_refusal or _DONE_ACCEPTED))
                # An accepted clarify stays open: resume() answers it.
            else:
                # An invalid done/clarify is told what is wrong; a valid one after the ending is not run.
                problem = _terminal_outcome(call)
                self._messages.append(ToolMessage(call.id, problem if isinstance(problem, str) else _NOT_RUN))
        self._pending_calls = ()
        self._ending = None
        if ending is None:
            return self._next_iteration()
        if isinstance(ending.outcome, Clarify):
            self._checkpoint = ending.call.id
            self._expect = _Expect.ANSWER
            return Finish(ending.outcome)
        return self._finish(ending.outcome)

    def _next_iteration(self) -> CallModel | Finish:
        if self._iterations >= self.max_iterations:
            return self._finish(Done(MAX_ITERATIONS_REACHED, success=False))
        return self._call_model()

    def _call_model(self) -> CallModel:
        for update in self._updates:
            self._messages.append(UserMessage(f"<supervisor_update>\n{update}\n</supervisor_update>"))
        self._updates.clear()
        self._iterations += 1
        self._expect = _Expect.REPLY
        return CallModel(tuple(self._messages), self.tools)

    def _finish(self, outcome: Done) -> Finish:
        self._reset()
        return Finish(outcome)
