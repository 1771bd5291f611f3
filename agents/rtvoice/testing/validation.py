"""Validation of client events against the openai SDK's own models, with API-shaped errors.

The simulator must refuse what the real Realtime API refuses, with the same error ``code``, ``param`` and
message shape, so that code which handles errors against the simulator handles them against OpenAI.
Schemas are never written again here: every client event is validated with the SDK model for its
``type`` (``openai.types.realtime``), and only the mapping from a pydantic error to the API's wording is
ours.

Where the wording comes from (see ``docs/simulator.md`` for the full table):

* ``Unknown parameter: 'session.modalities'.`` / ``unknown_parameter``, ``Missing required parameter:
  'session.type'.`` / ``missing_required_parameter`` and ``Invalid value: 'x'. Supported values are:
  ...`` / ``invalid_value``: error events quoted in public issues (openai-realtime-api-beta #9,
  livekit/agents #1403 and #3398, dongri/openai-api-rs #135) and ``reference/openai-realtime-ga.md``.
* ``Invalid type for 'x': expected ..., but got ... instead.`` / ``invalid_type``: the wording the
  OpenAI HTTP API uses for type errors.
* ``Invalid 'audio'. Expected base64-encoded audio bytes ...``: Azure-Samples/aoai-realtime-audio-sdk #95.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    OutputAudioBufferClearEvent,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

__all__ = [
    "CLIENT_EVENT_MODELS",
    "ApiError",
    "ClientEvent",
    "find_unknown_parameters",
    "parse_client_event",
    "parse_client_event_and_audio",
]

ClientEvent = (
    ConversationItemCreateEvent
    | ConversationItemDeleteEvent
    | ConversationItemRetrieveEvent
    | ConversationItemTruncateEvent
    | InputAudioBufferAppendEvent
    | InputAudioBufferClearEvent
    | InputAudioBufferCommitEvent
    | OutputAudioBufferClearEvent
    | ResponseCancelEvent
    | ResponseCreateEvent
    | SessionUpdateEvent
)

#: The SDK model of every client event type the GA API accepts, in the order the API lists them.
CLIENT_EVENT_MODELS: dict[str, type[BaseModel]] = {
    "session.update": SessionUpdateEvent,
    "input_audio_buffer.append": InputAudioBufferAppendEvent,
    "input_audio_buffer.commit": InputAudioBufferCommitEvent,
    "input_audio_buffer.clear": InputAudioBufferClearEvent,
    "conversation.item.create": ConversationItemCreateEvent,
    "conversation.item.retrieve": ConversationItemRetrieveEvent,
    "conversation.item.truncate": ConversationItemTruncateEvent,
    "conversation.item.delete": ConversationItemDeleteEvent,
    "response.create": ResponseCreateEvent,
    "response.cancel": ResponseCancelEvent,
    "output_audio_buffer.clear": OutputAudioBufferClearEvent,
}

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(model) for name, model in CLIENT_EVENT_MODELS.items()
}

_JSON_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "float": "a decimal number",
    "bool": "a boolean",
    "list": "an array",
    "dict": "an object",
    "NoneType": "null",
}


@dataclass(frozen=True)
class ApiError(Exception):
    """An error the Realtime API reports with an ``error`` event (the session stays open).

    Attributes:
        code: the API's error code, for example ``unknown_parameter``.
        message: the human-readable message, worded as the API words it.
        param: the offending parameter path (``session.type``), when there is one.
        type: the error type; ``invalid_request_error`` for everything a client can cause.
        event_id: the client's ``event_id`` of the event that failed, echoed back.
    """

    code: str | None
    message: str
    param: str | None = None
    type: str = "invalid_request_error"
    event_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The ``error`` object of an ``error`` server event."""
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": self.event_id,
        }


def _json_type(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value).__name__, type(value).__name__)


def _path(loc: tuple[int | str, ...]) -> str:
    """Join a pydantic location into the API's parameter path: ``session.tools[0].name``.

    Union members appear in pydantic locations as class names (``RealtimeSessionCreateRequest``) or
    tagged-union tags; the API's paths have neither, so capitalised segments are dropped.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_member(part):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _is_member(part: int | str) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or part.startswith(("function-", "literal[")))


def _best_error(errors: list[Any]) -> Any:
    """Pick the error a user should see among the errors of every union branch.

    A branch whose discriminator (``type``, or ``role`` for messages) did not match is not the branch the
    client meant, so its errors are noise; among the rest the first is reported, as the API reports one
    error at a time. When every branch was rejected, the discriminator itself was wrong: the errors are
    merged into one listing every supported value.
    """
    rejected: set[tuple[Any, ...]] = set()
    for err in errors:
        loc = tuple(err["loc"])
        if (
            err["type"] == "literal_error"
            and len(loc) >= 2
            and loc[-1] in ("type", "role")
            and _is_member(loc[-2])
        ):
            rejected.add(loc[:-1])
    kept = [err for err in errors if not any(tuple(err["loc"])[: len(b)] == b for b in rejected)]
    if kept:
        return kept[0]
    # Every branch was rejected: report the discriminator that failed deepest (the branch the client got
    # furthest into), listing the values every branch there would have accepted.
    deepest = max(len(branch) for branch in rejected)
    failed = [err for err in errors if len(err["loc"]) == deepest + 1 and tuple(err["loc"])[:-1] in rejected]
    failed = [err for err in failed if err["type"] == "literal_error"]
    # A branch whose ``type`` matched but whose ``role`` did not got further than one whose ``type`` failed.
    type_failed = {tuple(err["loc"])[:-1] for err in failed if err["loc"][-1] == "type"}
    role_only = [
        err for err in failed if err["loc"][-1] == "role" and tuple(err["loc"])[:-1] not in type_failed
    ]
    failed = role_only or [err for err in failed if err["loc"][-1] == "type"] or failed
    expected: list[str] = []
    for err in failed:
        for value in str((err.get("ctx") or {}).get("expected", "")).replace(" or ", ", ").split(", "):
            if value and value not in expected:
                expected.append(value)
    first = dict(failed[0])
    first["ctx"] = {"expected": ", ".join(expected)}
    return first


def _from_validation_error(exc: ValidationError, event_id: str | None) -> ApiError:
    err = _best_error(exc.errors())
    param = _path(tuple(err["loc"]))
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        return ApiError(
            "missing_required_parameter", f"Missing required parameter: '{param}'.", param, event_id=event_id
        )
    if kind in ("literal_error", "enum", "union_tag_invalid"):
        expected = str((err.get("ctx") or {}).get("expected", ""))
        supported = expected.replace(" or ", ", ")
        return ApiError(
            "invalid_value",
            f"Invalid value: '{value}'. Supported values are: {supported}.",
            param,
            event_id=event_id,
        )
    if kind == "union_tag_not_found":
        tag_param = f"{param}.type" if param else "type"
        return ApiError(
            "missing_required_parameter",
            f"Missing required parameter: '{tag_param}'.",
            tag_param,
            event_id=event_id,
        )
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_type":
        wanted = kind.removesuffix("_type").removesuffix("_parsing")
        wanted_name = {
            "string": "a string",
            "int": "an integer",
            "float": "a decimal number",
            "bool": "a boolean",
        }
        return ApiError(
            "invalid_type",
            f"Invalid type for '{param}': expected {wanted_name.get(wanted, wanted)}, "
            f"but got {_json_type(value)} instead.",
            param,
            event_id=event_id,
        )
    return ApiError("invalid_value", f"Invalid value for '{param}': {err['msg']}.", param, event_id=event_id)


def find_unknown_parameters(model: BaseModel, prefix: str = "") -> list[str]:
    """Every parameter path in ``model`` that its SDK schema does not define.

    The SDK models accept extra fields (so that newer servers do not break older clients); the server
    does not. Beta names such as ``session.modalities`` or ``session.input_audio_format`` are found here.
    """
    found: list[str] = []
    for key in model.model_extra or {}:
        found.append(f"{prefix}.{key}" if prefix else key)
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}.{name}" if prefix else name
        values: list[tuple[str, object]]
        if isinstance(value, list):
            values = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            values = [(path, value)]
        for sub_path, sub in values:
            if isinstance(sub, BaseModel):
                found.extend(find_unknown_parameters(sub, sub_path))
    return found


def parse_client_event(text: str | bytes) -> ClientEvent:
    """Parse and validate one client event as the Realtime API does.

    Args:
        text: the WebSocket message, as received.

    Returns:
        The SDK model of the event.

    Raises:
        ApiError: the event is not JSON, has no or an unknown ``type``, does not match the SDK schema,
            carries parameters the schema does not define, or carries audio that is not base64.
    """
    return parse_client_event_and_audio(text)[0]


def parse_client_event_and_audio(text: str | bytes) -> tuple[ClientEvent, bytes | None]:
    """:func:`parse_client_event`, and the decoded audio of an ``input_audio_buffer.append`` (None for
    other events): the simulator's session decodes each append once, not once to check it and again to
    use it.

    Raises:
        ApiError: as :func:`parse_client_event`.
    """
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            "invalid_json",
            f"We could not parse the JSON body of your request. ({exc})",
        ) from None
    if not isinstance(raw, dict):
        raise ApiError(
            "invalid_type",
            f"Invalid type for 'event': expected an object, but got {_json_type(raw)} instead.",
            "event",
        )
    event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
    event_type = raw.get("type")
    if event_type is None:
        raise ApiError(
            "missing_required_parameter", "Missing required parameter: 'type'.", "type", event_id=event_id
        )
    if not isinstance(event_type, str) or event_type not in _ADAPTERS:
        supported = ", ".join(f"'{name}'" for name in CLIENT_EVENT_MODELS)
        raise ApiError(
            "invalid_value",
            f"Invalid value: '{event_type}'. Supported values are: {supported}.",
            "type",
            event_id=event_id,
        )
    try:
        event: ClientEvent = _ADAPTERS[event_type].validate_python(raw)
    except ValidationError as exc:
        raise _from_validation_error(exc, event_id) from None
    unknown = find_unknown_parameters(event)
    if unknown:
        raise ApiError(
            "unknown_parameter", f"Unknown parameter: '{unknown[0]}'.", unknown[0], event_id=event_id
        )
    if isinstance(event, InputAudioBufferAppendEvent):
        try:
            return event, base64.b64decode(event.audio, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                "invalid_value",
                "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz, or G.711 at "
                "8kHz when configured) but got an invalid value.",
                "audio",
                event_id=event_id,
            ) from None
    return event, None
