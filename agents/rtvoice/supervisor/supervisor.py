"""``Supervisor``: a chat-model agent the voice agent hands harder tasks to (the asyncio shell).

The decisions live in :class:`~rtvoice.supervisor.loop.SupervisorLoop` (pure). This shell calls the chat
model, runs the application's tools, records token usage, and owns the one task a run executes in, so
that :meth:`Supervisor.cancel` can stop it from anywhere.

How the voice agent drives it (see ``docs/supervisor.md``)::

    match route_call(supervisor.state, call.arguments):
        case Reply(output):      answer the call with output
        case Start(task):        outcome = await supervisor.run(task, history_text=..., context=...)
        case Resume(answer):     outcome = await supervisor.resume(answer)
    answer the call with outcome_output(outcome)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from rtvoice.exceptions import LocalProtocolError, VoiceAgentError
from rtvoice.llm import ChatMessage, ChatModel, ChatOpenAI, ChatUsage, ToolCall, ToolSpec
from rtvoice.supervisor.loop import NO_CONVERSATION, CallModel, Finish, RunTools, SupervisorLoop, ToolOutput
from rtvoice.supervisor.outcome import Cancelled, Failed, SupervisorOutcome, SupervisorState
from rtvoice.tools import ToolContext

__all__ = ["DEFAULT_HANDOFF_INSTRUCTIONS", "Supervisor", "ToolRegistry", "ToolRunResult"]

log = logging.getLogger("rtvoice.supervisor")

#: Used when ``handoff_instructions`` is not given: how the voice model should call the supervisor.
DEFAULT_HANDOFF_INSTRUCTIONS = (
    "Pass the complete task with every detail the user gave. If the supervisor needs clarification, ask "
    "the user, then call it again with the same task and the user's answer as clarification_answer."
)


class ToolRunResult(Protocol):
    """What a tool registry returns for one call (``rtvoice.tools.ToolResult`` fits)."""

    @property
    def output(self) -> str:
        """The text for the model: the result, or an error sentence."""

    @property
    def ok(self) -> bool:
        """True when the tool ran and returned."""


class ToolRegistry(Protocol):
    """The tool registry a supervisor uses (``rtvoice.tools.Tools`` fits)."""

    def definitions(self) -> Sequence[BaseModel | dict[str, Any]]:
        """The tools' function definitions (Realtime or Chat Completions shape)."""

    # ASYNC109: the registry bounds a tool's run itself and reports an overrun as a result.
    async def invoke(
        self,
        name: str,
        arguments_json: str,
        *,
        context: ToolContext,
        timeout: float | None,  # noqa: ASYNC109
    ) -> ToolRunResult:
        """Run one call; never raises for the tool's sake."""


class Supervisor:
    """Delegates multi-step tasks to a chat model with its own tools (rtvoice 0.7.0's ``Supervisor``).

    Constructing one needs no API key: the default model is created at the first run.

    Args:
        description: shown to the realtime model to decide when to delegate.
        instructions: the system prompt of the supervisor's own loop.
        llm: the chat model; default ``ChatOpenAI()`` (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``), created
            lazily and closed by :meth:`aclose`.
        tools: the registry of actions the supervisor may call (``rtvoice.Tools``).
        max_iterations: model calls allowed per run (and per resumed run).
        handoff_instructions: guidance appended to the tool description; default
            :data:`DEFAULT_HANDOFF_INSTRUCTIONS`.
        result_instructions: how the realtime model should present the result (the agent sends them
            with the response that follows a :class:`~rtvoice.supervisor.Done`).
        holding_instruction: what the realtime model says while the supervisor works.
        context: the object ``Inject[T]`` parameters of supervisor tools receive (it replaces the agent's
            ``context``; the event bus and history still come from the agent).
        tool_timeout: seconds each tool call may run; None for no limit.

    Raises:
        ConfigurationError: ``max_iterations`` is below 1, or a tool is named ``done`` or ``clarify``.
    """

    #: The name of the realtime function tool.
    name = "supervisor"

    def __init__(
        self,
        description: str,
        instructions: str,
        llm: ChatModel | None = None,
        tools: ToolRegistry | None = None,
        max_iterations: int = 10,
        handoff_instructions: str | None = None,
        result_instructions: str | None = None,
        holding_instruction: str | None = None,
        context: object | None = None,
        *,
        tool_timeout: float | None = None,
    ) -> None:
        self.description = description
        self.instructions = instructions
        self.tools = tools
        self.max_iterations = max_iterations
        self.handoff_instructions = handoff_instructions
        self.result_instructions = result_instructions
        self.holding_instruction = holding_instruction
        self.context = context
        self.tool_timeout = tool_timeout
        self._llm = llm
        self._owns_llm = llm is None
        # Built now to reject bad settings early; every run gets a fresh loop with the current tools.
        self._loop = SupervisorLoop(instructions, self._tool_specs(), max_iterations)
        self._tool_context = ToolContext()
        self._usage: list[ChatUsage] = []
        self._active: asyncio.Task[SupervisorOutcome] | None = None
        self._cancels = 0

    # -- what the realtime side sees ------------------------------------------------------------------

    def tool_definition(self) -> dict[str, Any]:
        """The ``supervisor`` function tool for ``session.update`` (valid as the SDK's ``RealtimeFunctionTool``)."""
        return {
            "type": "function",
            "name": self.name,
            "description": (
                f"{self.description}\n\nHandoff instructions: "
                f"{self.handoff_instructions or DEFAULT_HANDOFF_INSTRUCTIONS}"
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "task": {
                        "type": "string",
                        "description": "The task to complete, with every detail the user gave.",
                    },
                    "clarification_answer": {
                        "type": "string",
                        "description": "The user's answer, when the supervisor asked a clarification question.",
                    },
                },
                "required": ["task"],
            },
        }

    # -- state ----------------------------------------------------------------------------------------

    @property
    def state(self) -> SupervisorState:
        """IDLE, RUNNING or WAITING_FOR_CLARIFICATION."""
        return self._loop.state

    @property
    def usage(self) -> tuple[ChatUsage, ...]:
        """Token usage of every chat model call so far, in order, each with its ``completion_id``.

        Feeding all of them to ``UsageTracker.add_llm`` after every run is safe: it counts an id once.
        """
        return tuple(self._usage)

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        """The current (or last) run's chat messages, for logs and tests."""
        return self._loop.messages

    @property
    def llm(self) -> ChatModel | None:
        """The chat model; None until the first run when the default is used."""
        return self._llm

    # -- runs -----------------------------------------------------------------------------------------

    async def run(
        self, task: str, *, history_text: str | None = None, context: ToolContext | None = None
    ) -> SupervisorOutcome:
        """Run a task until it is done, needs a clarification, fails or is cancelled.

        Args:
            task: what to do.
            history_text: the voice conversation so far; default ``context.conversation_history``
                formatted, or "(no conversation yet)".
            context: the agent's tool context (event bus, history, extras); the supervisor's own
                ``context`` replaces its ``context`` field.

        Returns:
            :class:`Done`, :class:`Clarify` (then call :meth:`resume`), :class:`Failed` or
            :class:`Cancelled`.

        Raises:
            LocalProtocolError: a run is active or waiting for an answer (see
                :func:`~rtvoice.supervisor.route_call`).
        """
        if self.state is not SupervisorState.IDLE:
            raise LocalProtocolError(
                f"the supervisor is {self.state.value}; cancel() it or resume() it first"
            )
        try:
            self._loop = SupervisorLoop(self.instructions, self._tool_specs(), self.max_iterations)
            self._model()
        except (VoiceAgentError, ValueError) as exc:  # no key for the default model, a bad tool definition
            log.warning("supervisor cannot start: %s", exc)
            return Failed(str(exc))
        self._tool_context = self._make_context(context)
        if history_text is None:
            history = context.conversation_history if context is not None else None
            history_text = history.format() if history is not None else NO_CONVERSATION
        return await self._drive(self._loop.start(task, history_text))

    async def resume(self, answer: str) -> SupervisorOutcome:
        """Continue the run that stopped at a clarification, with the user's answer.

        Args:
            answer: what the user said.

        Returns:
            As :meth:`run`.

        Raises:
            LocalProtocolError: no clarification is pending.
        """
        if self.state is not SupervisorState.WAITING_FOR_CLARIFICATION:
            raise LocalProtocolError(f"the supervisor is {self.state.value}; there is no question to answer")
        return await self._drive(self._loop.resume(answer))

    def update(self, message: str) -> bool:
        """Pass the user's new information to the task; the loop sees it before its next model call.

        Returns:
            True when queued; False when no task is running or waiting.
        """
        return self._loop.add_update(message)

    def cancel(self) -> bool:
        """Stop the task: the running loop ends with :class:`Cancelled`, the checkpoint and updates are dropped.

        Returns:
            True when a task was running or waiting.
        """
        self._cancels += 1
        active = self._loop.cancel()
        if self._active is not None:
            self._active.cancel()
        return active

    async def aclose(self) -> None:
        """Cancel any task and close the default chat model (a model passed in is the caller's to close)."""
        self.cancel()
        if self._owns_llm and self._llm is not None:
            llm, self._llm = self._llm, None
            await llm.aclose()

    # -- internals ------------------------------------------------------------------------------------

    def _tool_specs(self) -> list[ToolSpec]:
        if self.tools is None:
            return []
        return [ToolSpec.from_definition(definition) for definition in self.tools.definitions()]

    def _model(self) -> ChatModel:
        if self._llm is None:
            self._llm = ChatOpenAI()
        return self._llm

    def _make_context(self, context: ToolContext | None) -> ToolContext:
        base = context if context is not None else ToolContext()
        return base if self.context is None else dataclasses.replace(base, context=self.context)

    async def _drive(self, first: CallModel) -> SupervisorOutcome:
        cancels = self._cancels
        step = asyncio.create_task(self._steps(first), name="supervisor-run")
        self._active = step
        try:
            outcome = await step
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Our caller is being cancelled (shutdown): take the run down with it.
                step.cancel()
                self._loop.cancel()
                raise
            return Cancelled()
        finally:
            self._active = None
        # cancel() can land after the last step finished but before this task resumed.
        return Cancelled() if self._cancels != cancels else outcome

    async def _steps(self, action: CallModel | RunTools | Finish) -> SupervisorOutcome:
        llm = self._model()
        while not isinstance(action, Finish):
            if isinstance(action, RunTools):
                # The calls of one turn are independent by the model's own choice: run them together.
                outputs = await asyncio.gather(*(self._run_tool(call) for call in action.calls))
                action = self._loop.receive_tool_results(outputs)
                continue
            try:
                result = await llm.complete(action.messages, action.tools)
            except Exception as exc:  # the top of the run's task: every failure becomes an outcome
                log.warning("supervisor model call failed", exc_info=True)
                self._loop.fail()
                return Failed(
                    str(exc) if isinstance(exc, VoiceAgentError) else f"{type(exc).__name__}: {exc}"
                )
            usage = result.usage
            if usage.completion_id is None:
                # Usage trackers count a call once by its id; a model that reports none gets a local one.
                usage = dataclasses.replace(usage, completion_id=f"chatcmpl-local-{uuid.uuid4().hex}")
            self._usage.append(usage)
            action = self._loop.receive_reply(result)
        return action.outcome

    async def _run_tool(self, call: ToolCall) -> ToolOutput:
        if self.tools is None:
            return ToolOutput(
                f"Error: there is no tool named {call.name!r}; no tools are available.", ok=False
            )
        try:
            result = await self.tools.invoke(
                call.name, call.arguments, context=self._tool_context, timeout=self.tool_timeout
            )
        except Exception as exc:  # a registry that raises must not end the run; the model reads the error
            log.warning("supervisor tool %s raised", call.name, exc_info=True)
            return ToolOutput(f"Error: tool {call.name!r} failed: {type(exc).__name__}: {exc}", ok=False)
        return ToolOutput(result.output, result.ok)
