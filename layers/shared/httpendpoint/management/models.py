"""Request and response models of the management API, with API.md's validation rules.

Request models are strict (a string must be a JSON string, `enabled` a JSON boolean) and forbid unknown keys,
so a client can never set `account`, `state`, timestamps or anything else the service owns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from httpendpoint.scripts import check_drive_path

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PATH_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_ID_CHARS = 128
MAX_PATH_CHARS = 128
# `list` is the list route's own segment and `u` the trigger route's; an endpoint by either name is unreachable.
RESERVED_IDS = frozenset({"list", "u"})

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

State = Literal["ENABLED", "DISABLED"]


def check_endpoint_id(value: str) -> str:
    if not value:
        raise ValueError("may not be empty")
    if len(value) > MAX_ID_CHARS or not ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"must be 1-{MAX_ID_CHARS} characters of letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    if value in RESERVED_IDS:
        raise ValueError(f"{value!r} is reserved")
    return value


def check_endpoint_path(value: str) -> str:
    if not value:
        raise ValueError("may not be empty")
    if len(value) > MAX_PATH_CHARS or not PATH_PATTERN.fullmatch(value):
        raise ValueError(f"must be 1-{MAX_PATH_CHARS} characters of letters, digits, '_' and '-'")
    return value


MAX_VERSION_CHARS = 1024
SCRIPT_VERSION_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_VERSION_CHARS}}}")


def check_script_version(value: str) -> str:
    # S3 version ids are opaque printable ASCII (base64-like, up to 1024 characters).
    if not SCRIPT_VERSION_PATTERN.fullmatch(value):
        raise ValueError(f"must be a version id of the file (1-{MAX_VERSION_CHARS} printable ASCII characters)")
    return value


EndpointId = Annotated[str, AfterValidator(check_endpoint_id)]
ScriptVersion = Annotated[str, AfterValidator(check_script_version)]
EndpointPath = Annotated[str, AfterValidator(check_endpoint_path)]
DrivePath = Annotated[str, AfterValidator(check_drive_path)]


def state_of(enabled: bool) -> State:
    return "ENABLED" if enabled else "DISABLED"


# ---------------------------------------------------------------------------------------------- requests


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Optional fields may be left out, but `null` is not a value of any of them.
        if value is None:
            raise ValueError("may not be null")
        return value


class CreateRequest(RequestBody):
    """PUT API_ROOT/<id>."""

    id: EndpointId | None = None
    path: EndpointPath
    handler_script_path: DrivePath
    # Pin this version of the file rather than its current one.
    handler_script_version: ScriptVersion | None = None


class UpdateRequest(RequestBody):
    """PATCH API_ROOT/<id>: any of path, handler_script_path, handler_script_version (a rollback), enabled (and
    optionally the id itself)."""

    id: EndpointId | None = None
    path: EndpointPath | None = None
    handler_script_path: DrivePath | None = None
    handler_script_version: ScriptVersion | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateRequest:
        changes = (self.path, self.handler_script_path, self.handler_script_version, self.enabled)
        if all(change is None for change in changes):
            raise ValueError("give at least one of path, handler_script_path, handler_script_version, enabled")
        return self


class ListQuery(BaseModel):
    """The list route's query string, once synonyms are folded in (`handler_script_path`, `enabled`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EndpointId | None = None
    path: EndpointPath | None = None
    handler: DrivePath | None = None
    enabled: bool | None = None
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @field_validator("offset", "limit", mode="before")
    @classmethod
    def _digits_only(cls, value: Any) -> Any:
        # pydantic's lax int parsing would take '1_0', ' 5' or '5.0'; a query value is plain digits or wrong.
        if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,9}", value):
            raise ValueError("must be a non-negative integer of at most 9 digits")
        return value


QUERY_SYNONYMS = {"handler_script_path": "handler", "state": "enabled"}
STATES = {"enabled": True, "disabled": False}
BOOLEANS = {"true": True, "false": False}


def parse_list_query(parameters: Mapping[str, Sequence[str]]) -> ListQuery:
    """Validate the list route's query parameters (each name to all its values).

    Raises RequestValidationError (location `query`), so that errors read like every other 400.
    An empty value counts as not given, as API.md's `list?id=&path=&...` spelling suggests.
    """
    errors: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    given_as: dict[str, str] = {}  # field -> the parameter name the caller used, for error messages
    for name, values in parameters.items():
        given = [value for value in values if value != ""]
        if not given:
            continue
        if len(given) > 1:
            errors.append(query_error(name, "may be given only once"))
            continue
        value: Any = given[0]
        if name == "state":
            value = STATES.get(value.lower(), value)
            if not isinstance(value, bool):
                errors.append(query_error(name, "must be ENABLED or DISABLED"))
                continue
        elif name == "enabled":
            value = BOOLEANS.get(value.lower(), value)
            if not isinstance(value, bool):
                errors.append(query_error(name, "must be true or false"))
                continue
        target = QUERY_SYNONYMS.get(name, name)
        if target in fields:
            errors.append(query_error(name, f"means the same as {given_as[target]}; give only one of them"))
            continue
        fields[target] = value
        given_as[target] = name
    try:
        query = ListQuery.model_validate(fields)
    except ValidationError as exc:
        errors += [
            {**error, "loc": ("query", *(given_as.get(str(part), part) for part in error["loc"]))}
            for error in exc.errors()
        ]
    if errors:
        raise RequestValidationError(errors)
    return query


def query_error(name: str, message: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": ("query", name), "msg": message}


# ---------------------------------------------------------------------------------------------- responses


class EndpointIdView(BaseModel):
    id: str


class EndpointView(BaseModel):
    id: str
    path: str
    handler_script_path: str
    handler_script_version: str | None
    state: State


class EndpointListView(BaseModel):
    id: str | None
    endpoints: list[EndpointView]
    next_offset: int | None
