"""Tools the model can call: registration, JSON schemas, ``Inject[T]`` and safe invocation.

Register with :class:`Tools` (``@tools.action(description)``); mark framework-provided parameters with
:data:`Inject`; the agent fills them from a :class:`ToolContext`, sends :meth:`Tools.definitions` in
``session.update`` and answers each function call with ``(await tools.invoke(...)).output``.
See ``docs/tools.md``.
"""

from rtvoice.tools.inject import Inject, InjectedParameter, ToolContext
from rtvoice.tools.invoke import PreparedCall
from rtvoice.tools.registry import Tools
from rtvoice.tools.result import ToolErrorKind, ToolResult, serialise_result
from rtvoice.tools.status import Status
from rtvoice.tools.threads import ToolThreads, ToolThreadsBusy
from rtvoice.tools.tool import Tool

__all__ = [
    "Inject",
    "InjectedParameter",
    "PreparedCall",
    "Status",
    "Tool",
    "ToolContext",
    "ToolErrorKind",
    "ToolResult",
    "ToolThreads",
    "ToolThreadsBusy",
    "Tools",
    "serialise_result",
]
