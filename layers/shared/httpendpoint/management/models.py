"""Request and response models of the management API, with its validation rules.

Request models are strict (a string must be a JSON string, `enabled` a JSON boolean) and forbid unknown keys,
so a client can never set `account`, `state`, timestamps or anything else the service owns.

Each field rule is written twice on purpose, next to each other: as the check that runs (a plain function,
whose messages name the problem) and as the JSON schema `openapi.yaml` publishes (generated from these models).
tests/unit/management/test_models.py holds the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypeAliasType

from httpendpoint.core.text import require_encodable
from httpendpoint.scripts import CONTROL_CHARACTERS, MAX_DRIVE_PATH_CHARS, check_drive_path

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


# ---------------------------------------------------------------------------------------------- published schemas

EXAMPLE_DRIVE_PATH = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"

ENDPOINT_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": (
        "Unique across all accounts. `list` and `u` are reserved: they are the list and trigger routes' own "
        "segments (`GET .../list` is the list operation, never a get of an endpoint named `list`)."
    ),
    "minLength": 1,
    "maxLength": MAX_ID_CHARS,
    "pattern": f"^{ID_PATTERN.pattern}$",
    "not": {"enum": sorted(RESERVED_IDS)},
    "example": "my-endpoint-id",
}
ENDPOINT_PATH_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "The URL path segment under `API_ROOT/u/`. Unique across all accounts.",
    "minLength": 1,
    "maxLength": MAX_PATH_CHARS,
    "pattern": f"^{PATH_PATTERN.pattern}$",
    "example": "helloworld",
}
DRIVE_PATH_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": (
        "Drive path of a Python script defining `handler(request)`: absolute, at most "
        f"{MAX_DRIVE_PATH_CHARS} characters, ending in `.py`, with no empty, `.` or `..` segment and no control "
        "character. Its first segment must be the caller's account (else `403`), and at create/update time the "
        "script must exist and compile with a top-level `def handler` (else `400`, naming the problem)."
    ),
    "minLength": 4,
    "maxLength": MAX_DRIVE_PATH_CHARS,
    "pattern": rf"^(/[^/{CONTROL_CHARACTERS}]+)*/[^/{CONTROL_CHARACTERS}]*\.py$",
    "not": {"pattern": r"(^|/)\.\.?(/|$)"},
    "example": EXAMPLE_DRIVE_PATH,
}

MAX_VERSION_CHARS = 1024
SCRIPT_VERSION_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_VERSION_CHARS}}}")


def check_script_version(value: str) -> str:
    # S3 version ids are opaque printable ASCII (base64-like, up to 1024 characters).
    if not SCRIPT_VERSION_PATTERN.fullmatch(value):
        raise ValueError(f"must be a version id of the file (1-{MAX_VERSION_CHARS} printable ASCII characters)")
    return value


SCRIPT_VERSION_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": (
        "A version id of the file at `handler_script_path` (the files API lists them); it must exist and pass "
        "the same handler check as the file's current version."
    ),
    "minLength": 1,
    "maxLength": MAX_VERSION_CHARS,
    "pattern": f"^{SCRIPT_VERSION_PATTERN.pattern}$",
}

# Named aliases become named schemas (`#/components/schemas/EndpointId`, ...) in the generated document.
EndpointId = TypeAliasType(
    "EndpointId", Annotated[str, AfterValidator(check_endpoint_id), WithJsonSchema(ENDPOINT_ID_SCHEMA)]
)
EndpointPath = TypeAliasType(
    "EndpointPath", Annotated[str, AfterValidator(check_endpoint_path), WithJsonSchema(ENDPOINT_PATH_SCHEMA)]
)
ScriptVersion = TypeAliasType(
    "ScriptVersion", Annotated[str, AfterValidator(check_script_version), WithJsonSchema(SCRIPT_VERSION_SCHEMA)]
)
HandlerScriptPath = TypeAliasType(
    "HandlerScriptPath", Annotated[str, AfterValidator(check_drive_path), WithJsonSchema(DRIVE_PATH_SCHEMA)]
)

# ---------------------------------------------------------------------------------------------- trigger access

Auth = Literal["bearer", "none", "hmac"]
AUTH_DESCRIPTION = (
    "Who may call the trigger route `u/<path>`: `bearer` (the default) a token of the endpoint's account (a "
    "`manage` token, or a `call` token covering the endpoint); `none` anyone (the handler decides); `hmac` "
    "anyone whose request carries a valid HMAC-SHA256 signature of its raw body (see `hmac`)."
)
SECRET_NAME_PATTERN = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
RESERVED_SECRET_PREFIXES = ("AWS_", "HTTPEP_")
MAX_SECRET_CHARS = 4096
MAX_SECRETS = 32
# RFC 9110's token characters: anything a sender can name as a header.
HEADER_NAME_PATTERN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
MAX_PREFIX_CHARS = 128
# A prefix is header text: no control characters, and no lone surrogate (half of a UTF-16 pair: JSON can spell
# one, no header can hold it; checked apart, as schema tools read a pattern spelling surrogates differently).
PREFIX_PATTERN = re.compile(rf"[^\x00-\x1F\x7F-\x9F]{{0,{MAX_PREFIX_CHARS}}}")


def check_secret_name(value: str) -> str:
    if not SECRET_NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value[:80]!r} is not a secret name: 1-64 characters of A-Z, 0-9 and '_', not starting with a digit"
        )
    if value.startswith(RESERVED_SECRET_PREFIXES):
        raise ValueError(f"{value!r}: names starting with {' or '.join(RESERVED_SECRET_PREFIXES)} are reserved")
    return value


def check_secret_value(value: str) -> str:
    if "\x00" in value:  # the value is not echoed: it is a secret
        raise ValueError("must not hold a NUL character: no environment variable can")
    return value


def check_header_name(value: str) -> str:
    if not HEADER_NAME_PATTERN.fullmatch(value):
        raise ValueError("must be an HTTP header name: 1-128 letters, digits and !#$%&'*+.^_`|~-")
    return value


def check_prefix(value: str) -> str:
    if not PREFIX_PATTERN.fullmatch(value):
        raise ValueError(f"must be at most {MAX_PREFIX_CHARS} characters, none of them a control character")
    require_encodable(value)
    return value


SECRET_NAME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "An environment variable name; names starting with `AWS_` or `HTTPEP_` are reserved.",
    "pattern": f"^{SECRET_NAME_PATTERN.pattern}$",
    "not": {"pattern": "^(" + "|".join(RESERVED_SECRET_PREFIXES) + ")"},
    "example": "WEBHOOK_SECRET",
}
SECRET_VALUE_SCHEMA: dict[str, Any] = {"type": "string", "maxLength": MAX_SECRET_CHARS, "pattern": r"^[^\x00]*$"}
HEADER_NAME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": f"^{HEADER_NAME_PATTERN.pattern}$",
    "example": "X-Hub-Signature-256",
}
PREFIX_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": MAX_PREFIX_CHARS,
    "pattern": f"^{PREFIX_PATTERN.pattern}$",
    "example": "sha256=",
}

SecretName = TypeAliasType(
    "SecretName", Annotated[str, AfterValidator(check_secret_name), WithJsonSchema(SECRET_NAME_SCHEMA)]
)
SecretValue = Annotated[
    str, Field(max_length=MAX_SECRET_CHARS), AfterValidator(check_secret_value), WithJsonSchema(SECRET_VALUE_SCHEMA)
]
HeaderName = Annotated[str, AfterValidator(check_header_name), WithJsonSchema(HEADER_NAME_SCHEMA)]
# Inline, not a named schema: a `$ref` beside the field's description and default is a shape some generators
# read without the referenced pattern.
SignaturePrefix = Annotated[str, AfterValidator(check_prefix), WithJsonSchema(PREFIX_SCHEMA)]


class Hmac(BaseModel):
    """How a signed request is checked: header `header` holds `prefix` followed by the HMAC-SHA256 of the raw
    request body keyed with the endpoint's secret named `secret`, encoded `encoding`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    header: HeaderName = Field(description="The request header that carries the signature (any case).")
    secret: SecretName = Field(description="The name of one of the endpoint's `secrets`: the HMAC key.")
    encoding: Literal["hex", "base64"] = Field(default="hex", description="How the signature is written.")
    prefix: SignaturePrefix = Field(default="", description="Text before the signature, e.g. `sha256=`.")


def _request_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A request model's schema: optional fields without their `null` (see RequestBody), plus the model's extras."""
    for prop in schema.get("properties", {}).values():
        variants = prop.get("anyOf")
        if variants and {"type": "null"} in variants:
            rest = [variant for variant in variants if variant != {"type": "null"}]
            prop.pop("anyOf")
            prop.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        if prop.get("default", ...) is None:
            prop.pop("default")
    schema.update(getattr(model, "SCHEMA_EXTRA", {}))


def state_of(enabled: bool) -> State:
    return "ENABLED" if enabled else "DISABLED"


# ---------------------------------------------------------------------------------------------- requests


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra=_request_schema)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Optional fields may be left out, but `null` is not a value of any of them.
        if value is None:
            raise ValueError("may not be null")
        return value


ID_IN_BODY = "Optional; if given, it must equal the id in the URL (else `400`)."


class CreateRequest(RequestBody):
    """The endpoint's path and handler script; an `id` in the body must equal the URL's (else `400`)."""

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "example": {"path": "helloworld", "handler_script_path": EXAMPLE_DRIVE_PATH},
    }

    id: EndpointId | None = None
    path: EndpointPath
    handler_script_path: HandlerScriptPath
    handler_script_version: ScriptVersion | None = Field(
        default=None, description="Pin this version of the file rather than its current one."
    )
    auth: Auth | None = Field(default=None, description=AUTH_DESCRIPTION + " Default `bearer`.")
    hmac: Hmac | None = Field(default=None, description="Required when `auth` is `hmac`, refused otherwise.")
    secrets: Annotated[dict[SecretName, SecretValue], Field(max_length=MAX_SECRETS)] | None = Field(
        default=None,
        description=(
            f"Name -> value, at most {MAX_SECRETS}: the handler's process environment (`os.environ`). Write-only: "
            "reads show the names alone."
        ),
    )


class UpdateRequest(RequestBody):
    """At least one of `path`, `handler_script_path`, `handler_script_version` (a rollback), `enabled`, `auth`,
    `hmac` and `secrets`; an `id` in the body must equal the URL's."""

    SCHEMA_EXTRA: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"required": ["path"]},
            {"required": ["handler_script_path"]},
            {"required": ["handler_script_version"]},
            {"required": ["enabled"]},
            {"required": ["auth"]},
            {"required": ["hmac"]},
            {"required": ["secrets"]},
        ],
        "example": {
            "id": "my-endpoint-id",
            "path": "helloworld",
            "handler_script_path": EXAMPLE_DRIVE_PATH,
            "enabled": True,
        },
    }

    id: EndpointId | None = None
    path: EndpointPath | None = None
    handler_script_path: HandlerScriptPath | None = None
    handler_script_version: ScriptVersion | None = None
    enabled: bool | None = Field(
        default=None, description="`false` disables the endpoint: its trigger answers `503` until it is enabled again."
    )
    auth: Auth | None = Field(default=None, description=AUTH_DESCRIPTION + " Leaving `hmac` drops the `hmac` settings.")
    hmac: Hmac | None = Field(
        default=None, description="Replaces the hmac settings; only when `auth` is (or becomes) `hmac`."
    )
    # Removing and adding at once may name twice the limit; what is kept is checked against it.
    secrets: Annotated[dict[SecretName, SecretValue | None], Field(max_length=2 * MAX_SECRETS)] | None = Field(
        default=None,
        description=(
            f"Changes to the secrets: a name with a value sets it, a name with `null` removes it, names not "
            f"given are kept; at most {MAX_SECRETS} remain."
        ),
    )

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateRequest:
        changes = (
            self.path,
            self.handler_script_path,
            self.handler_script_version,
            self.enabled,
            self.auth,
            self.hmac,
            self.secrets,
        )
        if all(change is None for change in changes):
            raise ValueError(
                "give at least one of path, handler_script_path, handler_script_version, enabled, auth, hmac, secrets"
            )
        return self


class ListQuery(BaseModel):
    """The list route's query string, once synonyms are folded in (`handler_script_path`, `enabled`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EndpointId | None = None
    path: EndpointPath | None = None
    handler: HandlerScriptPath | None = None
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
    An empty value counts as not given, as the contract's `list?id=&path=&...` spelling suggests.
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


class View(BaseModel):
    # Closed, so the published schemas say that an answer has exactly these keys.
    model_config = ConfigDict(extra="forbid")


class EndpointIdView(View):
    id: str


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class EndpointView(View):
    id: str
    path: str
    handler_script_path: str
    handler_script_version: str | None
    state: State
    auth: Auth
    secrets: list[str] = Field(description="The names of the endpoint's secrets, sorted; values are never shown.")
    # Left out of the answer (not `null`) unless the endpoint is `hmac`.
    hmac: Hmac | SkipJsonSchema[None] = Field(
        default=None,
        description="Only when `auth` is `hmac`.",
        exclude_if=lambda value: value is None,
        json_schema_extra=_without_default,
    )


class EndpointListView(View):
    id: str | None = Field(description="The `id` filter as given, or `null` without one.")
    endpoints: list[EndpointView] = Field(max_length=MAX_LIMIT)
    next_offset: int | None = Field(ge=1, description="The `offset` of the next page, `null` on the last page.")


# ---------------------------------------------------------------------------------------------- invocations

INVOCATIONS_DEFAULT_LIMIT = 20
INVOCATIONS_MAX_LIMIT = 100


def parse_invocations_limit(value: str) -> int:
    """The invocations route's `limit` (empty: the default); anything but 1-100 in plain digits is a 400."""
    if value == "":
        return INVOCATIONS_DEFAULT_LIMIT
    if re.fullmatch(r"[0-9]{1,9}", value) and 1 <= int(value) <= INVOCATIONS_MAX_LIMIT:
        return int(value)
    raise RequestValidationError([query_error("limit", f"must be an integer from 1 to {INVOCATIONS_MAX_LIMIT}")])


class InvocationView(View):
    request_id: str = Field(description="API Gateway's request id, also in the response of a failed trigger.")
    time: str = Field(description="When the request arrived, ISO 8601 UTC (milliseconds).")
    method: str
    status: int = Field(description="The HTTP status the caller received.")
    duration_ms: float = Field(ge=0, description="The router's time on the request, in milliseconds.")
    error: str | None = Field(
        description="The `error` of a JSON error answer (a fault, a timeout, a disabled endpoint, a rejected "
        "signature, or the handler's own), else `null`; secret values masked as `***`."
    )
    output: str = Field(
        description="The handler's stdout and stderr, then the traceback of a failure: the last 4096 "
        "characters, secret values masked as `***`."
    )


class InvocationListView(View):
    id: str
    invocations: list[InvocationView] = Field(
        max_length=INVOCATIONS_MAX_LIMIT,
        description="Newest first: `limit` of them, or all there are; fewer only if that many would not fit one "
        "response (6 MB).",
    )
