"""Running the model's function calls for a session: tools and the supervisor, as owned tasks.

Every :class:`~rtvoice.realtime.ToolCall` becomes a task in the session's task group, so audio, barge-in
and other tools go on while it runs (0.7.0 ran tools inline and blocked everything). Every call gets a
``function_call_output``: the result, or an error text the model can speak about (unknown tool, bad
arguments, an exception, a timeout). The core batches the outputs of one response into one follow-up.

Spoken tool messages (0.7.0 stored them and never used them):

* ``status``: said as soon as the tool starts, and delivered to the listener (``on_tool_status``);
* ``holding_instruction``: said at once, right after the model called the tool and before its result
  (the 0.7.0 README's promise), or, with the action's ``holding_delay``, only if the tool is still running
  after that many seconds; a tool with a ``status`` says the status instead;
* ``result_instruction``: appended to the agent's own instructions for the follow-up response, so the
  persona is kept (0.7.0 replaced the instructions).

The supervisor is the tool ``supervisor``; while it runs, ``cancel_supervisor`` and ``update_supervisor``
are offered too. The :class:`~rtvoice.supervisor.Supervisor` (and the :class:`~rtvoice.tools.Tools`) may be
shared by every agent of the application: each session drives its own
:class:`~rtvoice.supervisor.SupervisorSession`, made at :meth:`ToolCalls.bind` and ended at
:meth:`ToolCalls.aclose`, so its checkpoint, task and chat usage stay with this call. Nothing here closes
the shared supervisor or its chat model.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from openai.types.realtime import RealtimeFunctionTool, RealtimeResponseCreateParams

from rtvoice import events as ev
from rtvoice.event_bus import EventBus
from rtvoice.llm import ChatUsage
from rtvoice.realtime import Action, RealtimeProtocol, ToolCall
from rtvoice.supervisor import (
    CANCEL_TOOL_NAME,
    CANCELLED,
    NOT_RUNNING,
    UPDATE_QUEUED,
    UPDATE_TOOL_NAME,
    Cancelled,
    Clarify,
    Done,
    Reply,
    Start,
    Supervisor,
    SupervisorSession,
    SupervisorState,
    clarify_instructions,
    control_tool_definitions,
    outcome_output,
    route_call,
)
from rtvoice.tools import ToolContext, ToolResult, Tools
from rtvoice.usage import UsageTracker

__all__ = ["DEFAULT_TOOL_TIMEOUT_S", "ToolCalls"]

log = logging.getLogger("rtvoice.tools")

#: A tool that takes longer than this is answered with a timeout error.
DEFAULT_TOOL_TIMEOUT_S = 30.0

Execute = Callable[[list[Action]], Awaitable[None]]


class ToolCalls:
    """Runs a session's function calls.

    Args:
        tools: the agent's tools (None: an empty registry, so unknown names still get an error output).
        supervisor: the agent's supervisor, if any (may be shared with other agents).
        instructions: the agent's own instructions, kept in front of every spoken tool message.
        bus: where tool and supervisor events go.
        usage: where the supervisor's chat usage is counted (the current session's tracker; each chat call
            is counted as soon as it returns, with a ``UsageUpdated`` event).
        tool_timeout: seconds a tool may run.
    """

    def __init__(
        self,
        *,
        tools: Tools | None,
        supervisor: Supervisor | None,
        instructions: str,
        bus: EventBus,
        usage: UsageTracker,
        tool_timeout: float = DEFAULT_TOOL_TIMEOUT_S,
    ) -> None:
        self.tools = tools if tools is not None else Tools()
        self.supervisor = supervisor
        self.instructions = instructions
        self.bus = bus
        self.usage = usage
        self.tool_timeout = tool_timeout
        self._tasks: asyncio.TaskGroup | None = None
        self._core: RealtimeProtocol | None = None
        self._execute: Execute | None = None
        self._context: ToolContext = ToolContext()
        self._supervisor_session: SupervisorSession | None = None

    def definitions(self, *, supervising: bool = False) -> list[RealtimeFunctionTool]:
        """The function tools to offer the model (with the supervisor's control tools while it runs)."""
        found = list(self.tools.definitions())
        if self.supervisor is not None:
            found.append(RealtimeFunctionTool.model_validate(self.supervisor.tool_definition()))
            if supervising:
                found.extend(RealtimeFunctionTool.model_validate(d) for d in control_tool_definitions())
        return found

    def bind(
        self, tasks: asyncio.TaskGroup, core: RealtimeProtocol, execute: Execute, context: ToolContext
    ) -> None:
        """Attach to a running session: calls run as tasks of ``tasks`` and answer through ``core``.

        Starts this session's conversation with the supervisor (a fresh
        :class:`~rtvoice.supervisor.SupervisorSession`).
        """
        self._tasks, self._core, self._execute, self._context = tasks, core, execute, context
        if self._supervisor_session is not None:  # a session that was never closed: do not let it run on
            self._supervisor_session.cancel()
        if self.supervisor is not None:
            self._supervisor_session = self.supervisor.session(on_usage=self._count_usage)

    def unbind(self) -> None:
        """Detach at the end of the session (its task group has already cancelled the running calls)."""
        self._tasks = self._core = self._execute = None

    async def aclose(self) -> None:
        """End this session's supervisor conversation (cancels its task); the shared supervisor stays open."""
        session, self._supervisor_session = self._supervisor_session, None
        if session is not None:
            await session.aclose()

    def receive(self, call: ToolCall) -> None:
        """Start running ``call`` (a task owned by the session)."""
        assert self._tasks is not None, "receive() needs bind() first"
        self._tasks.create_task(self._run(call), name=f"rtvoice-tool-{call.name}")

    # -- helpers --------------------------------------------------------------------------------------

    def _instructions(self, extra: str) -> str:
        return f"{self.instructions}\n\n{extra}" if self.instructions else extra

    async def _answer(
        self, call: ToolCall, output: str, *, follow_up: str | None = None, respond: bool = True
    ) -> None:
        if self._core is None or self._execute is None:
            return  # the session ended while the call ran
        params = (
            RealtimeResponseCreateParams(instructions=self._instructions(follow_up)) if follow_up else None
        )
        await self._execute(
            self._core.send_function_output(call.call_id, output, respond=respond, follow_up=params)
        )

    async def _say(self, text: str, *, exact: bool) -> None:
        if self._core is None or self._execute is None:
            return
        how = (
            f'Say exactly this to the user now: "{text}"' if exact else f"Tell the user now, briefly: {text}"
        )
        params = RealtimeResponseCreateParams(instructions=self._instructions(how), tool_choice="none")
        await self._execute(self._core.request_response(params))

    # -- one call -------------------------------------------------------------------------------------

    async def _run(self, call: ToolCall) -> None:
        try:
            session = self._supervisor_session
            if session is not None and call.name in ("supervisor", CANCEL_TOOL_NAME, UPDATE_TOOL_NAME):
                await self._run_supervisor(call, session)
            else:
                await self._run_tool(call)
        except Exception as exc:  # the top of a task: whatever failed, the model still gets an output
            log.exception("tool call %s failed", call.name)
            await self._answer(call, f"Error: tool '{call.name}' failed: {type(exc).__name__}: {exc}")

    async def _run_tool(self, call: ToolCall) -> None:
        prepared = self.tools.prepare(call.name, call.arguments_json)
        self.bus.dispatch_nowait(ev.ToolStarted(call_id=call.call_id, name=call.name, status=prepared.status))
        if prepared.status:
            await self._say(prepared.status, exact=True)
        assert self._tasks is not None
        running = self._tasks.create_task(prepared.run(context=self._context, timeout=self.tool_timeout))
        holding = prepared.holding_instruction
        if holding and prepared.ok and not prepared.status:
            if prepared.holding_delay > 0:
                await asyncio.wait({running}, timeout=prepared.holding_delay)
            if not running.done():
                await self._say(holding, exact=False)
        result: ToolResult = await running
        self.bus.dispatch_nowait(
            ev.ToolFinished(
                call_id=call.call_id,
                name=call.name,
                ok=result.ok,
                error=result.error,
                duration_s=result.duration_s,
            )
        )
        await self._answer(call, result.output, follow_up=result.result_instruction)

    def _count_usage(self, usage: ChatUsage) -> None:
        counted = self.usage.add_llm(
            usage.completion_id or f"chatcmpl-local-{id(usage)}",
            usage.model,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
        )
        if counted:
            self.bus.dispatch_nowait(ev.UsageUpdated(report=self.usage.report()))

    async def _run_supervisor(self, call: ToolCall, supervisor: SupervisorSession) -> None:
        if call.name == CANCEL_TOOL_NAME:
            await self._answer(call, CANCELLED if supervisor.cancel() else NOT_RUNNING)
            return
        if call.name == UPDATE_TOOL_NAME:
            message = _argument(call.arguments_json, "message")
            await self._answer(call, UPDATE_QUEUED if message and supervisor.update(message) else NOT_RUNNING)
            return
        route = route_call(supervisor.state, call.arguments_json)
        if isinstance(route, Reply):
            await self._answer(call, route.output)
            return
        await self._set_tools(supervising=True)
        if isinstance(route, Start):
            self.bus.dispatch_nowait(ev.SupervisorStarted(task=route.task, call_id=call.call_id))
            holding = supervisor.supervisor.holding_instruction
            if holding:
                await self._say(holding, exact=False)
            history = self._context.conversation_history
            outcome = await supervisor.run(
                route.task,
                history_text=history.format() if history is not None else None,
                context=self._context,
            )
        else:
            outcome = await supervisor.resume(route.answer)
        if not isinstance(outcome, Clarify):
            self.bus.dispatch_nowait(
                ev.SupervisorFinished(
                    success=outcome.success if isinstance(outcome, Done) else False,
                    message=outcome.message if isinstance(outcome, Done) else outcome_output(outcome),
                    call_id=call.call_id,
                )
            )
        if supervisor.state is SupervisorState.IDLE:
            await self._set_tools(supervising=False)
        if isinstance(outcome, Clarify):
            follow_up: str | None = clarify_instructions(outcome.question)
        elif isinstance(outcome, Done):
            follow_up = supervisor.supervisor.result_instructions
        else:
            follow_up = None
        await self._answer(
            call, outcome_output(outcome), follow_up=follow_up, respond=not isinstance(outcome, Cancelled)
        )

    async def _set_tools(self, *, supervising: bool) -> None:
        if self._core is not None and self._execute is not None:
            await self._execute(self._core.set_tools(self.definitions(supervising=supervising)))


def _argument(arguments_json: str, name: str) -> str | None:
    try:
        value: Any = json.loads(arguments_json or "{}")
    except ValueError:
        return None
    found = value.get(name) if isinstance(value, dict) else None
    return str(found) if found is not None else None
