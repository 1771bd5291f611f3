"""``Supervisor`` (shareable configuration) and ``SupervisorSession`` (one conversation's runs): the asyncio shell.

The decisions live in :class:`~rtvoice.supervisor.loop.SupervisorLoop` (pure). This shell calls the chat
model, runs the application's tools, records token usage, and owns the one task a run executes in, so
that :meth:`SupervisorSession.cancel` can stop it from anywhere.

**Sharing.** A :class:`Supervisor` is configuration: built once (say, in an agent factory) and handed to
every call. It holds no per-conversation state; its only resource is the default chat model, created at
first use, shared by every conversation, and closed only by :meth:`Supervisor.aclose` (the owner's call,
never a conversation ending). Everything that belongs to one conversation (the loop's messages, the
clarification checkpoint, queued updates, the running task and its token usage) lives in a
:class:`SupervisorSession` from :meth:`Supervisor.session`; the voice agent makes one per session.

How the voice agent drives it (see ``docs/supervisor.md``)::

    session = supervisor.session(on_usage=count)        # once per voice session
    match route_call(session.state, call.arguments):
        case Reply(output):      answer the call with output
        case Start(task):        outcome = await session.run(task, history_text=..., context=...)
        case Resume(answer):     outcome = await session.resume(answer)
    answer the call with outcome_output(outcome)
    await session.aclose()                                # when the voice session ends
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from pydantic import BaseModel

from rtvoice.exceptions import LocalProtocolError, VoiceAgentError
from rtvoice.llm import ChatMessage, ChatModel, ChatOpenAI, ChatUsage, ToolCall, ToolSpec
from rtvoice.supervisor.loop import NO_CONVERSATION, CallModel, Finish, RunTools, SupervisorLoop, ToolOutput
from rtvoice.supervisor.outcome import Cancelled, Failed, SupervisorOutcome, SupervisorState
from rtvoice.tools import ToolContext

__all__ = [
    "CANCEL_GRACE_S",
    "DEFAULT_HANDOFF_INSTRUCTIONS",
    "Supervisor",
    "SupervisorSession",
    "ToolRegistry",
    "ToolRunResult",
    "UsageCallback",
]

log = logging.getLogger("rtvoice.supervisor")

#: Used when ``handoff_instructions`` is not given: how the voice model should call the supervisor.
DEFAULT_HANDOFF_INSTRUCTIONS = (
    "Pass the complete task with every detail the user gave. If the supervisor needs clarification, ask "
    "the user, then call it again with the same task and the user's answer as clarification_answer."
)
#: How long closing a session waits for its cancelled run to wind down (a tool that ignores cancellation).
CANCEL_GRACE_S = 5.0

#: Called with each chat call's usage as soon as the call returns (the agent feeds its ``UsageTracker``).
UsageCallback = Callable[[ChatUsage], None]


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

    A ``Supervisor`` is immutable configuration, safe to share between any number of concurrent voice
    sessions: each conversation's state lives in its own :class:`SupervisorSession` (:meth:`session`).
    Constructing one needs no API key: the default model is created at first use.

    Args:
        description: shown to the realtime model to decide when to delegate.
        instructions: the system prompt of the supervisor's own loop.
        llm: the chat model, shared by every session; default ``ChatOpenAI()`` (``OPENAI_API_KEY``,
            ``OPENAI_BASE_URL``), created at first use and closed by :meth:`aclose`. A model passed in is
            the caller's to close.
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
        self._description = description
        self._instructions = instructions
        self._tools = tools
        self._max_iterations = max_iterations
        self._handoff_instructions = handoff_instructions
        self._result_instructions = result_instructions
        self._holding_instruction = holding_instruction
        self._context = context
        self._tool_timeout = tool_timeout
        self._llm = llm
        self._owns_llm = llm is None
        self._llm_lock = threading.Lock()  # the default model is created once, whoever asks first
        # Built now only to reject bad settings early; every run gets a fresh loop with the current tools.
        SupervisorLoop(instructions, self._tool_specs(), max_iterations)
        self._shortcut: SupervisorSession | None = None

    # -- configuration (read-only: one Supervisor serves every session) ---------------------------------

    @property
    def description(self) -> str:
        """Shown to the realtime model to decide when to delegate."""
        return self._description

    @property
    def instructions(self) -> str:
        """The system prompt of the supervisor's loop."""
        return self._instructions

    @property
    def tools(self) -> ToolRegistry | None:
        """The registry of actions the supervisor may call."""
        return self._tools

    @property
    def max_iterations(self) -> int:
        """Model calls allowed per run and per resumed run."""
        return self._max_iterations

    @property
    def handoff_instructions(self) -> str | None:
        """Guidance appended to the tool description (None: the default)."""
        return self._handoff_instructions

    @property
    def result_instructions(self) -> str | None:
        """How the realtime model should present a result."""
        return self._result_instructions

    @property
    def holding_instruction(self) -> str | None:
        """What the realtime model says while the supervisor works."""
        return self._holding_instruction

    @property
    def context(self) -> object | None:
        """What ``Inject[T]`` parameters of the supervisor's tools receive."""
        return self._context

    @property
    def tool_timeout(self) -> float | None:
        """Seconds each tool call may run (None: no limit)."""
        return self._tool_timeout

    @property
    def llm(self) -> ChatModel | None:
        """The chat model; None until first use when the default is used (and again after :meth:`aclose`)."""
        return self._llm

    def chat_model(self) -> ChatModel:
        """The chat model, creating the default ``ChatOpenAI()`` at the first call (thread-safe).

        Raises:
            ConfigurationError: the default model has no API key.
        """
        with self._llm_lock:
            if self._llm is None:
                self._llm = ChatOpenAI()
            return self._llm

    # -- what the realtime side sees ------------------------------------------------------------------

    def tool_definition(self) -> dict[str, Any]:
        """The ``supervisor`` function tool for ``session.update`` (valid as the SDK's ``RealtimeFunctionTool``)."""
        return {
            "type": "function",
            "name": self.name,
            "description": (
                f"{self._description}\n\nHandoff instructions: "
                f"{self._handoff_instructions or DEFAULT_HANDOFF_INSTRUCTIONS}"
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

    # -- sessions -------------------------------------------------------------------------------------

    def session(self, *, on_usage: UsageCallback | None = None) -> SupervisorSession:
        """A new conversation with this supervisor: its own runs, checkpoint, updates and usage.

        Args:
            on_usage: called with every chat call's usage as soon as it returns (the voice agent passes
                one that counts it on the call's ``UsageTracker``).
        """
        return SupervisorSession(self, on_usage=on_usage)

    async def aclose(self) -> None:
        """Close the default chat model (the owner's call, when no session needs it any more).

        Also cancels the task of the single-session shortcut (:meth:`run`). Sessions from :meth:`session`
        are their owners' to close; a session that asks for the model after this gets a new default one.
        A model passed in as ``llm`` is left open: it is the caller's to close.
        """
        if self._shortcut is not None:
            await self._shortcut.aclose()
        with self._llm_lock:
            llm = self._llm if self._owns_llm else None
            if llm is not None:
                self._llm = None
        if llm is not None:
            await llm.aclose()

    # -- the single-session shortcut (one conversation, as in a script or a test) ------------------------

    def _default_session(self) -> SupervisorSession:
        if self._shortcut is None:
            self._shortcut = SupervisorSession(self)
        return self._shortcut

    @property
    def state(self) -> SupervisorState:
        """The shortcut session's state: IDLE, RUNNING or WAITING_FOR_CLARIFICATION."""
        return self._default_session().state

    @property
    def usage(self) -> tuple[ChatUsage, ...]:
        """The shortcut session's chat usage (see :attr:`SupervisorSession.usage`)."""
        return self._default_session().usage

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        """The shortcut session's current (or last) chat messages."""
        return self._default_session().messages

    async def run(
        self, task: str, *, history_text: str | None = None, context: ToolContext | None = None
    ) -> SupervisorOutcome:
        """:meth:`SupervisorSession.run` on the single-session shortcut.

        For one conversation at a time (a script, a test). Concurrent conversations each need their own
        :meth:`session`; the voice agent makes one per call.
        """
        return await self._default_session().run(task, history_text=history_text, context=context)

    async def resume(self, answer: str) -> SupervisorOutcome:
        """:meth:`SupervisorSession.resume` on the single-session shortcut."""
        return await self._default_session().resume(answer)

    def update(self, message: str) -> bool:
        """:meth:`SupervisorSession.update` on the single-session shortcut."""
        return self._default_session().update(message)

    def cancel(self) -> bool:
        """:meth:`SupervisorSession.cancel` on the single-session shortcut (never another session's task)."""
        return self._default_session().cancel()

    # -- internals ------------------------------------------------------------------------------------

    def _tool_specs(self) -> list[ToolSpec]:
        if self._tools is None:
            return []
        return [ToolSpec.from_definition(definition) for definition in self._tools.definitions()]


class SupervisorSession:
    """One conversation's use of a :class:`Supervisor`: its runs, checkpoint, updates, task and usage.

    Made by :meth:`Supervisor.session`. One run at a time; any number of sessions of one supervisor may
    run concurrently (they share only the configuration and the chat model). Closing a session
    (:meth:`aclose`, or leaving ``async with``) cancels its task; it never closes the chat model.

    Args:
        supervisor: the configuration.
        on_usage: called with every chat call's usage as soon as it returns.
    """

    def __init__(self, supervisor: Supervisor, *, on_usage: UsageCallback | None = None) -> None:
        self.supervisor = supervisor
        self._on_usage = on_usage
        self._loop = SupervisorLoop(supervisor.instructions, (), supervisor.max_iterations)
        self._tool_context = ToolContext()
        self._usage: list[ChatUsage] = []
        self._active: asyncio.Task[SupervisorOutcome] | None = None
        self._cancels = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- state ----------------------------------------------------------------------------------------

    @property
    def state(self) -> SupervisorState:
        """IDLE, RUNNING or WAITING_FOR_CLARIFICATION."""
        return self._loop.state

    @property
    def usage(self) -> tuple[ChatUsage, ...]:
        """Token usage of this session's chat calls so far, in order, each with its ``completion_id``.

        Feeding all of them to ``UsageTracker.add_llm`` after every run is safe: it counts an id once.
        """
        return tuple(self._usage)

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        """The current (or last) run's chat messages, for logs and tests."""
        return self._loop.messages

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
        sup = self.supervisor
        try:
            self._loop = SupervisorLoop(sup.instructions, sup._tool_specs(), sup.max_iterations)
            sup.chat_model()
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
        """End the session: cancel its task and wait (up to :data:`CANCEL_GRACE_S`) for it to stop.

        The supervisor and its chat model stay open for the other sessions.
        """
        self.cancel()
        if self._active is not None:
            await asyncio.wait({self._active}, timeout=CANCEL_GRACE_S)

    # -- internals ------------------------------------------------------------------------------------

    def _make_context(self, context: ToolContext | None) -> ToolContext:
        base = context if context is not None else ToolContext()
        own = self.supervisor.context
        return base if own is None else dataclasses.replace(base, context=own)

    async def _drive(self, first: CallModel) -> SupervisorOutcome:
        cancels = self._cancels
        step = asyncio.create_task(self._steps(first), name="supervisor-run")
        self._active = step
        try:
            outcome = await step
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Our caller is being cancelled (shutdown): take the run down with it, and let it finish
                # winding down before the caller goes (the run's task is ours: it never outlives us).
                step.cancel()
                self._loop.cancel()
                await asyncio.wait({step}, timeout=CANCEL_GRACE_S)
                raise
            return Cancelled()
        finally:
            if self._active is step:
                self._active = None
        # cancel() can land after the last step finished but before this task resumed.
        return Cancelled() if self._cancels != cancels else outcome

    async def _steps(self, action: CallModel | RunTools | Finish) -> SupervisorOutcome:
        llm = self.supervisor.chat_model()
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
            if self._on_usage is not None:
                try:
                    self._on_usage(usage)
                except Exception:  # counting must not end the task
                    log.exception("supervisor usage callback failed")
            action = self._loop.receive_reply(result)
        return action.outcome

    async def _run_tool(self, call: ToolCall) -> ToolOutput:
        tools = self.supervisor.tools
        if tools is None:
            return ToolOutput(
                f"Error: there is no tool named {call.name!r}; no tools are available.", ok=False
            )
        try:
            result = await tools.invoke(
                call.name, call.arguments, context=self._tool_context, timeout=self.supervisor.tool_timeout
            )
        except Exception as exc:  # a registry that raises must not end the run; the model reads the error
            log.warning("supervisor tool %s raised", call.name, exc_info=True)
            return ToolOutput(f"Error: tool {call.name!r} failed: {type(exc).__name__}: {exc}", ok=False)
        return ToolOutput(result.output, result.ok)
