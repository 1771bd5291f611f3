"""The simulator's "model": what each response says or does.

A brain is any callable that takes a :class:`BrainContext` and returns the output of one response: a
list of :class:`Say` and :class:`CallFunction` steps, each becoming one output item. Three ready brains:

* :class:`EchoBrain` (the default) answers every user turn: text input is repeated, a caller's audio
  turn is answered with its (scripted) transcript, a function output is read back; a user turn that
  says "call NAME" of an available function tool calls it (a client's tools work without a script).
* :class:`ScriptedBrain` follows a list of turns, one per response, then falls back to another brain.
* any function ``(BrainContext) -> list[Step]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "Brain",
    "BrainContext",
    "CallFunction",
    "EchoBrain",
    "Say",
    "ScriptedBrain",
    "Step",
    "Turn",
]


@dataclass(frozen=True)
class Say:
    """Speak ``text`` (audio plus transcript, or text, per the response's output modalities)."""

    text: str


@dataclass(frozen=True)
class CallFunction:
    """Call the function tool ``name`` with ``arguments`` (a dict, or a JSON string sent verbatim)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        """The arguments as the wire carries them: a JSON string."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


Step: TypeAlias = Say | CallFunction
#: One scripted response: a single step or several output items.
Turn: TypeAlias = Step | Sequence[Step]


@dataclass(frozen=True)
class BrainContext:
    """What the brain knows when a response starts.

    Attributes:
        trigger: what started the response: ``"audio"`` (a committed caller turn under server VAD),
            ``"client"`` (the client's ``response.create``) or ``"idle"`` (an idle timeout).
        last_user_text: the text of the last user message: typed text, or the scripted transcript of
            the last caller utterance ("" when the caller said nothing the script knows).
        last_item_type: the type of the newest conversation item ("message", "function_call_output", ...).
        function_outputs: ``(call_id, output)`` of function outputs added since the previous response.
        instructions: the effective instructions of this response (response-level ones win).
        tools: names of the function tools available to this response.
        response_index: how many responses this session has started before this one.
        metadata: the response's ``metadata``.
    """

    trigger: Literal["audio", "client", "idle"]
    last_user_text: str
    last_item_type: str | None
    function_outputs: tuple[tuple[str, str], ...]
    instructions: str
    tools: tuple[str, ...]
    response_index: int
    metadata: dict[str, str] | None = None


Brain: TypeAlias = Callable[[BrainContext], Sequence[Step]]


class EchoBrain:
    """The default brain: it answers every turn with what it was told.

    A user turn that says "call NAME" for one of the response's function tools (e.g. "Please call
    get_weather {"city": "Paris"}") calls that tool instead, with the JSON object in the text as its
    arguments (``{}`` without one); the function's output is then read back.

    Args:
        prefix: put before the echo of a user turn, e.g. ``"You said: "``.
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def __call__(self, ctx: BrainContext) -> list[Step]:
        """Answer one response."""
        if ctx.function_outputs and ctx.last_item_type == "function_call_output":
            return [Say(" ".join(output for _, output in ctx.function_outputs))]
        if ctx.last_user_text:
            call = _named_tool_call(ctx)
            if call is not None:
                return [call]
            return [Say(f"{self.prefix}{ctx.last_user_text}")]
        return [Say("I'm listening.")]


def _named_tool_call(ctx: BrainContext) -> CallFunction | None:
    if ctx.last_item_type != "message":
        return None
    text = ctx.last_user_text
    for name in ctx.tools:
        if re.search(rf"\bcall {re.escape(name)}(?![\w-])", text, re.IGNORECASE):
            start, end = text.find("{"), text.rfind("}")
            arguments: dict[str, Any] = {}
            if 0 <= start < end:
                try:
                    parsed = json.loads(text[start : end + 1])
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    arguments = parsed
            return CallFunction(name, arguments)
    return None


class ScriptedBrain:
    """Follow a script: the k-th response plays the k-th turn, then ``then`` answers.

    Args:
        turns: one entry per response; a :class:`Say`, a :class:`CallFunction`, or a sequence of them.
        then: the brain for responses after the script ran out (default: :class:`EchoBrain`).
    """

    def __init__(self, turns: Sequence[Turn], *, then: Brain | None = None) -> None:
        self.turns = list(turns)
        self.then: Brain = then if then is not None else EchoBrain()
        self._next = 0

    @property
    def remaining(self) -> int:
        """How many scripted turns have not been played yet."""
        return len(self.turns) - self._next

    def __call__(self, ctx: BrainContext) -> list[Step]:
        """Answer one response."""
        if self._next >= len(self.turns):
            return list(self.then(ctx))
        turn = self.turns[self._next]
        self._next += 1
        if isinstance(turn, Say | CallFunction):
            return [turn]
        return list(turn)
