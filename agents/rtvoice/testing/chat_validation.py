"""Chat Completions request checks: what the API refuses with HTTP 400, in the API's own words (pure).

:func:`validate_chat_request` checks a parsed request body the way the API checks it, so mistakes that only
show up against OpenAI show up in :class:`~rtvoice.testing.chat.ChatCompletionsSimulator` too. The checks
that matter most for tool loops are the message-order rules, answered with the API's own wording:

* a ``tool`` message that answers no open assistant ``tool_calls`` → "messages with role 'tool' must be
  a response to a preceeding message with 'tool_calls'." (sic: the API's spelling);
* a ``tool`` message whose ``tool_call_id`` is not among the open calls → "'tool_call_id' of ... not found
  in 'tool_calls' of previous message.";
* an assistant message whose calls are not all answered before the next other message (or the end) →
  "An assistant message with 'tool_calls' must be followed by tool messages responding to each
  'tool_call_id'. ...".

Also checked: the model, required fields and roles, tool definitions (the nested ``function`` shape,
name pattern and length, object parameter schemas), ``tool_choice`` without tools and unknown request
arguments. ``stream: true`` is refused with a clear 400 (not implemented). The key and the URL are the
server's business (``chat.py``).
"""

from __future__ import annotations

import re
from typing import Any

from openai.types.chat.completion_create_params import CompletionCreateParamsBase

__all__ = ["ChatRequestError", "validate_chat_request"]

_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_KNOWN_ARGUMENTS = CompletionCreateParamsBase.__optional_keys__ | {"stream"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


class ChatRequestError(Exception):
    """A request the API would refuse, with the API's error fields.

    Args:
        message: the API's message.
        param: the offending parameter path, as the API names it.
        code: the API's error code.
        status: the HTTP status.
        type: the error type.
    """

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int = 400,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.type = type

    def body(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


def _missing(param: str) -> ChatRequestError:
    return ChatRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _wrong_type(param: str, expected: str, value: object) -> ChatRequestError:
    return ChatRequestError(
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def validate_chat_request(body: object) -> None:
    """Check a Chat Completions request body as the API does, for the rules tool loops trip over.

    Args:
        body: the parsed JSON body.

    Raises:
        ChatRequestError: the API would refuse the request (HTTP 400), with its message and ``param``.
    """
    if not isinstance(body, dict):
        raise ChatRequestError(
            f"Invalid type for request body: expected an object, but got {_json_type(body)}."
        )
    unknown = sorted(set(body) - _KNOWN_ARGUMENTS)
    if unknown:
        raise ChatRequestError(f"Unrecognized request argument supplied: {unknown[0]}")
    if not body.get("model"):
        raise ChatRequestError("you must provide a model parameter")
    if body.get("stream"):
        raise ChatRequestError(
            "The chat simulator does not implement streaming: send stream=false (the default).",
            param="stream",
            code="unsupported_value",
        )
    _validate_tools(body.get("tools"), body.get("tool_choice"))
    _validate_messages(body.get("messages"))


def _validate_tools(tools: object, tool_choice: object) -> None:
    if tools is None:
        if tool_choice is not None:
            raise ChatRequestError(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                param="tool_choice",
            )
        return
    if not isinstance(tools, list):
        raise _wrong_type("tools", "an array of objects", tools)
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise _wrong_type(where, "an object", tool)
        if "type" not in tool:
            raise _missing(f"{where}.type")
        if tool["type"] not in ("function", "custom"):
            raise ChatRequestError(
                f"Invalid value: '{tool['type']}'. Supported values are: 'function' and 'custom'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if tool["type"] != "function":
            continue
        # A Realtime-shaped tool (name at the top level) lands here: the nested object is missing.
        function = tool.get("function")
        if function is None:
            raise _missing(f"{where}.function")
        if not isinstance(function, dict):
            raise _wrong_type(f"{where}.function", "an object", function)
        name = function.get("name")
        if name is None:
            raise _missing(f"{where}.function.name")
        if not isinstance(name, str):
            raise _wrong_type(f"{where}.function.name", "a string", name)
        if len(name) > 64:
            raise ChatRequestError(
                f"Invalid '{where}.function.name': string too long. Expected a string with maximum length 64, "
                f"but got a string with length {len(name)} instead.",
                param=f"{where}.function.name",
                code="string_above_max_length",
            )
        if not _TOOL_NAME.match(name):
            raise ChatRequestError(
                f"Invalid '{where}.function.name': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                param=f"{where}.function.name",
                code="invalid_value",
            )
        parameters = function.get("parameters")
        if parameters is not None and (
            not isinstance(parameters, dict) or parameters.get("type") != "object"
        ):
            got = parameters.get("type") if isinstance(parameters, dict) else _json_type(parameters)
            raise ChatRequestError(
                f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"', "
                f"got 'type: \"{got}\"'.",
                param=f"{where}.function.parameters",
                code="invalid_function_parameters",
            )


def _validate_messages(messages: object) -> None:
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array", messages)
    if not messages:
        raise ChatRequestError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array "
            "instead.",
            param="messages",
            code="empty_array",
        )
    # The assistant message whose calls are still open: (its index, the ids not answered yet).
    open_calls: tuple[int, list[str]] | None = None
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _wrong_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        if role not in _ROLES:
            raise ChatRequestError(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                "'tool', and 'developer'.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if role == "tool":
            call_id = _check_tool_message(message, where)
            if open_calls is None:
                raise ChatRequestError(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            if call_id not in open_calls[1]:
                raise ChatRequestError(
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in 'tool_calls' of previous "
                    "message.",
                    param=f"messages.[{index}].tool_call_id",
                )
            open_calls[1].remove(call_id)
            continue
        _close(open_calls)
        open_calls = None
        if role == "assistant":
            ids = _check_assistant_message(message, where)
            if ids:
                open_calls = (index, ids)
        else:
            _check_content(message, where)
    _close(open_calls)


def _close(open_calls: tuple[int, list[str]] | None) -> None:
    if open_calls is not None and open_calls[1]:
        index, missing = open_calls
        raise ChatRequestError(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(missing)}",
            param=f"messages.[{index}].role",
        )


def _check_content(message: dict[str, Any], where: str) -> None:
    if "content" not in message:
        raise _missing(f"{where}.content")
    content = message["content"]
    if not isinstance(content, str | list):
        raise _wrong_type(f"{where}.content", "one of a string or array of objects", content)


def _check_tool_message(message: dict[str, Any], where: str) -> str:
    _check_content(message, where)
    call_id = message.get("tool_call_id")
    if call_id is None:
        raise _missing(f"{where}.tool_call_id")
    if not isinstance(call_id, str):
        raise _wrong_type(f"{where}.tool_call_id", "a string", call_id)
    return call_id


def _check_assistant_message(message: dict[str, Any], where: str) -> list[str]:
    calls = message.get("tool_calls")
    content = message.get("content")
    if content is None and not calls and not message.get("function_call"):
        raise ChatRequestError(
            "Invalid value for 'content': expected a string, got null.", param=f"{where}.content"
        )
    if content is not None and not isinstance(content, str | list):
        raise _wrong_type(f"{where}.content", "one of a string or array of objects", content)
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise _wrong_type(f"{where}.tool_calls", "an array", calls)
    ids: list[str] = []
    for position, call in enumerate(calls):
        at = f"{where}.tool_calls[{position}]"
        if not isinstance(call, dict):
            raise _wrong_type(at, "an object", call)
        for key in ("id", "type", "function"):
            if key not in call:
                raise _missing(f"{at}.{key}")
        function = call["function"]
        if not isinstance(function, dict):
            raise _wrong_type(f"{at}.function", "an object", function)
        for key in ("name", "arguments"):
            if key not in function:
                raise _missing(f"{at}.function.{key}")
            if not isinstance(function[key], str):
                raise _wrong_type(f"{at}.function.{key}", "a string", function[key])
        ids.append(str(call["id"]))
    return ids
