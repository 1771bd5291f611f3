"""One registered tool: its function analysed once, at registration, and its arguments checked per call.

Registration does all the reflection: type hints are resolved (``get_type_hints``, which rtvoice 0.7.0
called on every invocation, on the event loop), ``Inject[T]`` parameters are set apart, the arguments
model is built or taken from ``param_model``, and the JSON schema, the null plan and the status template
are checked. A call then only decodes JSON and validates it with the ready model
(:meth:`Tool.parse_arguments`).

**Arguments model.** A ``param_model`` tool validates with that model and passes the instance to the one
parameter of the function that is neither injected nor defaulted. A signature tool validates with a
model built from its parameters (``Annotated[T, "text"]`` and ``Annotated[T, Field(...)]`` describe
them) and is called with the validated values of the keys the model sent, so the function's own defaults
apply to the others. Validation is pydantic's lax mode for both: ``"3"`` for an ``int`` becomes 3, a
number for a ``str`` is refused.

**Keys the model may not set.** Keys that are not arguments are dropped before validation (and logged);
that includes the names of injected parameters, which the model can therefore never override.

This module is pure: no asyncio, no clock.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import logging
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from openai.types.realtime import RealtimeFunctionTool
from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, ValidationError, create_model
from pydantic.fields import FieldInfo

from rtvoice.exceptions import ConfigurationError
from rtvoice.tools.inject import InjectedParameter, injected_type
from rtvoice.tools.result import ToolErrorKind, invalid_json_text, validation_text
from rtvoice.tools.schema import JsonSchema, NullPlan, drop_nulls, null_plan, parameters_schema
from rtvoice.tools.status import Status, check_status

__all__ = ["ArgumentsError", "Tool", "build_tool"]

_log = logging.getLogger(__name__)

# The Realtime API's rule for function names (the same as Chat Completions').
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ArgumentsError(Exception):
    """The model's arguments for a call cannot be used; ``text`` is the output the model reads."""

    def __init__(self, kind: ToolErrorKind, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text


@dataclass(frozen=True, slots=True, eq=False)
class Tool:
    """A registered tool. Built by :meth:`rtvoice.tools.Tools.action`; read it, do not build it yourself.

    Args:
        name: the name the model calls.
        description: what the tool does, for the model.
        function: the decorated function, unchanged.
        is_async: ``function`` returns an awaitable (run on the loop) rather than a value (run in a thread).
        param_model: the ``param_model`` given at registration, if any.
        arguments_model: the model the arguments are validated with (``param_model`` or a generated one).
        parameters: the JSON schema sent to the model.
        strict: ``parameters`` is in the strict form (see :mod:`rtvoice.tools.schema`).
        injected: the ``Inject[T]`` parameters.
        result_instruction: how the model should present the result.
        holding_instruction: what the assistant says while the tool runs.
        status: a spoken update template or callable.
        holding_delay: seconds to wait before saying ``holding_instruction`` (0: at once, as the tool
            starts; a tool that finishes sooner is not announced).
    """

    name: str
    description: str
    function: Callable[..., Any]
    is_async: bool
    param_model: type[BaseModel] | None
    arguments_model: type[BaseModel]
    parameters: JsonSchema
    strict: bool
    injected: tuple[InjectedParameter, ...]
    result_instruction: str | None
    holding_instruction: str | None
    status: Status | None
    holding_delay: float
    # param_model tools: the parameter receiving the model. Signature tools: model field -> parameter.
    _model_parameter: str | None
    _parameter_of_field: Mapping[str, str]
    _null_plan: NullPlan
    _accepted_keys: frozenset[str] | None  # None: the model keeps extra keys itself (extra="allow")

    def definition(self) -> RealtimeFunctionTool:
        """The tool as the SDK's ``RealtimeFunctionTool`` (for ``session.update``)."""
        return RealtimeFunctionTool(
            type="function",
            name=self.name,
            description=self.description,
            parameters=copy.deepcopy(self.parameters),
        )

    def parse_arguments(self, arguments_json: str | bytes | None) -> BaseModel:
        """Decode and validate the model's arguments for one call.

        Args:
            arguments_json: the ``arguments`` of the function call; empty means no arguments.

        Raises:
            ArgumentsError: not a JSON object, or it does not validate.
        """
        text = (
            arguments_json.decode("utf-8", "replace") if isinstance(arguments_json, bytes) else arguments_json
        )
        if text is None or not text.strip():
            data: object = {}
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ArgumentsError(
                    ToolErrorKind.INVALID_JSON,
                    invalid_json_text(self.name, f"{exc.msg} at position {exc.pos}"),
                ) from None
        if not isinstance(data, dict):
            raise ArgumentsError(
                ToolErrorKind.INVALID_JSON, invalid_json_text(self.name, f"got {type(data).__name__}")
            )
        if self._accepted_keys is not None:
            extra = [key for key in data if key not in self._accepted_keys]
            if extra:
                injected = {p.name for p in self.injected}
                _log.warning(
                    "tool %r: ignoring arguments the tool does not take: %s%s",
                    self.name,
                    ", ".join(map(repr, extra)),
                    " (injected parameters cannot be set by the model)" if injected & set(extra) else "",
                )
                data = {key: value for key, value in data.items() if key in self._accepted_keys}
        try:
            return self.arguments_model.model_validate(drop_nulls(data, self._null_plan))
        except ValidationError as exc:
            raise ArgumentsError(ToolErrorKind.INVALID_ARGUMENTS, validation_text(self.name, exc)) from None

    def call_arguments(self, arguments: BaseModel) -> dict[str, Any]:
        """The keyword arguments (without injected ones) to call :attr:`function` with."""
        if self._model_parameter is not None:
            return {self._model_parameter: arguments}
        return {
            self._parameter_of_field[field]: getattr(arguments, field)
            for field in arguments.model_fields_set
            if field in self._parameter_of_field
        }

    def argument_values(self, arguments: BaseModel) -> dict[str, object]:
        """Every argument by the name a status template uses (defaults included)."""
        names = self._parameter_of_field or {f: f for f in type(arguments).model_fields}
        return {name: getattr(arguments, field) for field, name in names.items()}


# -- building ---------------------------------------------------------------------------------------------


def _hints(fn: Callable[..., Any], localns: Mapping[str, Any] | None, tool: str) -> dict[str, Any]:
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = type(target).__call__  # a callable object: its __call__ carries the annotations
    try:
        return typing.get_type_hints(target, localns=dict(localns or {}), include_extras=True)
    except Exception as exc:  # NameError for an unresolvable string annotation, TypeError for odd ones
        raise ConfigurationError(
            f"tool {tool!r}: cannot resolve its type hints ({type(exc).__name__}: {exc}); "
            "define the types it uses at module level"
        ) from exc


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's __call__, not callable()
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


def _describe(annotation: Any) -> Any:
    """``Annotated[T, "text"]`` → ``Annotated[T, Field(description="text")]`` (pydantic ignores bare strings)."""
    if get_origin(annotation) is not Annotated:
        return annotation
    metadata = get_args(annotation)[1:]
    if any(isinstance(m, FieldInfo) and m.description for m in metadata):
        return annotation
    texts = [m for m in metadata if isinstance(m, str)]
    return Annotated[annotation, Field(description=texts[0])] if texts else annotation


def _safe_field_name(name: str) -> bool:
    # Names pydantic reserves or shadows (``copy``, ``json``, ``model_*``, ``_private``) get an alias.
    return not name.startswith(("_", "model_")) and not hasattr(BaseModel, name)


def _signature_model(
    tool: str, parameters: list[inspect.Parameter], hints: Mapping[str, Any]
) -> tuple[type[BaseModel], dict[str, str]]:
    fields: dict[str, Any] = {}
    parameter_of_field: dict[str, str] = {}
    for index, parameter in enumerate(parameters):
        annotation = _describe(hints.get(parameter.name, Any))
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        field = parameter.name if _safe_field_name(parameter.name) else f"arg{index}"
        if field == parameter.name:
            fields[field] = (annotation, default)
        else:
            fields[field] = (annotation, Field(default, alias=parameter.name))
        parameter_of_field[field] = parameter.name
    model = create_model(f"{tool}_arguments", __config__=ConfigDict(extra="ignore"), **fields)
    return model, parameter_of_field


def build_tool(
    function: Callable[..., Any],
    *,
    description: str,
    name: str | None = None,
    param_model: type[BaseModel] | None = None,
    result_instruction: str | None = None,
    holding_instruction: str | None = None,
    status: Status | None = None,
    holding_delay: float = 0.0,
    localns: Mapping[str, Any] | None = None,
) -> Tool:
    """Analyse ``function`` and build its :class:`Tool` (see :meth:`rtvoice.tools.Tools.action`).

    Args:
        localns: the namespace the function was defined in, to resolve string annotations of classes
            defined inside a function.

    Raises:
        ConfigurationError: anything that would make the tool unusable: a bad name, ``*args``,
            positional-only parameters, types without a JSON schema, a ``param_model`` that is not a
            pydantic model or has no parameter to go to, a status template naming unknown arguments.
    """
    tool = name if name is not None else getattr(function, "__name__", "")
    if not isinstance(tool, str) or not _NAME.fullmatch(tool):
        raise ConfigurationError(f"tool name {tool!r} must be 1 to 64 letters, digits, '_' or '-'")
    if not isinstance(description, str):
        raise ConfigurationError(f"tool {tool!r}: description must be a string")
    if not callable(function):
        raise ConfigurationError(f"tool {tool!r}: {function!r} is not callable")
    if inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function):
        raise ConfigurationError(f"tool {tool!r}: generators cannot be tools; return the whole result")
    if param_model is not None and not (isinstance(param_model, type) and issubclass(param_model, BaseModel)):
        raise ConfigurationError(f"tool {tool!r}: param_model must be a pydantic BaseModel subclass")
    for option, value in (
        ("result_instruction", result_instruction),
        ("holding_instruction", holding_instruction),
    ):
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"tool {tool!r}: {option} must be a string")
    if (
        not isinstance(holding_delay, int | float)
        or isinstance(holding_delay, bool)
        or not math.isfinite(holding_delay)
        or holding_delay < 0
    ):
        raise ConfigurationError(
            f"tool {tool!r}: holding_delay must be a finite number of seconds >= 0, not {holding_delay!r}"
        )

    hints = _hints(function, localns, tool)
    injected: list[InjectedParameter] = []
    regular: list[inspect.Parameter] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise ConfigurationError(
                f"tool {tool!r}: parameter {parameter.name!r} must be an ordinary named parameter "
                "(no *args, **kwargs or positional-only)"
            )
        inject = injected_type(hints.get(parameter.name))
        if inject is not None:
            has_default = parameter.default is not inspect.Parameter.empty
            injected.append(
                InjectedParameter.from_annotation(parameter.name, inject, has_default=has_default)
            )
        else:
            regular.append(parameter)

    model_parameter: str | None = None
    parameter_of_field: dict[str, str] = {}
    try:
        if param_model is not None:
            receivers = [p for p in regular if p.default is inspect.Parameter.empty]
            if len(receivers) != 1:
                raise ConfigurationError(
                    f"tool {tool!r}: with param_model the function needs exactly one parameter without a "
                    f"default (and not injected) to receive the model; it has {len(receivers)}"
                )
            model_parameter = receivers[0].name
            arguments_model = param_model
        else:
            arguments_model, parameter_of_field = _signature_model(tool, regular, hints)
        parameters, strict = parameters_schema(arguments_model)
    except PydanticUserError as exc:
        raise ConfigurationError(f"tool {tool!r}: its arguments have no JSON schema: {exc}") from exc

    fields = set(parameter_of_field.values()) if param_model is None else set(arguments_model.model_fields)
    check_status(status, fields, tool)
    keeps_extra = arguments_model.model_config.get("extra") == "allow"
    return Tool(
        name=tool,
        description=description,
        function=function,
        is_async=_is_async(function),
        param_model=param_model,
        arguments_model=arguments_model,
        parameters=parameters,
        strict=strict,
        injected=tuple(injected),
        result_instruction=result_instruction,
        holding_instruction=holding_instruction,
        status=status,
        holding_delay=float(holding_delay),
        _model_parameter=model_parameter,
        _parameter_of_field=parameter_of_field,
        _null_plan=null_plan(arguments_model),
        _accepted_keys=None if keeps_extra else frozenset(parameters["properties"]),
    )
