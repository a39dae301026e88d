"""What the management routes publish beyond their signatures: error answers, links, parameter documentation.

The functions' route decorators use these, so `openapi.yaml` (generated from the routes) states every status a
route can answer, with the JSON `error` body the resolver writes (see resolver.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from httpendpoint.core.limits import RETRY_AFTER_HEADER, RETRY_AFTER_SECONDS
from httpendpoint.management.models import (
    DEFAULT_LIMIT,
    DRIVE_PATH_SCHEMA,
    ENDPOINT_ID_SCHEMA,
    ENDPOINT_PATH_SCHEMA,
    INVOCATIONS_DEFAULT_LIMIT,
    INVOCATIONS_MAX_LIMIT,
    MAX_LIMIT,
)

TAG = "management"


class ErrorBody(BaseModel):
    """Every error the service answers itself."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(min_length=1, description="What is wrong, naming the field.")
    message: str | None = Field(
        default=None, description="Only on API Gateway's own answers, with the same text as `error`."
    )


class GatewayRefusal(BaseModel):
    """API Gateway's answer to a request without a valid token."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(examples=["Unauthorized"])
    error: str | None = Field(
        default=None, description="Same text as `message` (a deployed stack's gateway responses carry both keys)."
    )


def _error(description: str, model: type[BaseModel] = ErrorBody, **extra: Any) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}, **extra}  # type: ignore[typeddict-item]


RETRY_AFTER = {
    "description": (
        "Seconds after which the request may succeed (the service sends "
        f"`{RETRY_AFTER_SECONDS}`). Always sent with the service's own `503`."
    ),
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}

ERRORS: dict[int, OpenAPIResponse] = {
    400: _error(
        "Invalid JSON, a body that is not a JSON object or not sent as `application/json`, a wrong type, an "
        "unknown key or query parameter, a repeated query parameter, a broken field rule, an `id` in the body "
        "that differs from the URL's, or a handler script that is missing or does not compile (named in `error`)."
    ),
    401: _error("Missing, malformed, unknown or revoked token (answered by API Gateway).", GatewayRefusal),
    403: _error(
        "`handler_script_path` is not in the caller's drive (its first segment is not the caller's account), "
        "or the request matches no route (API Gateway's `Missing Authentication Token`), e.g. an id "
        "containing `/`, an empty one, or a method the route does not serve."
    ),
    404: _error("No endpoint with this id in the caller's account (another account's is not found either)."),
    409: _error(
        "The id or the path is taken (by any account), or the account already has its maximum number of "
        "endpoints. Of two concurrent creates of one id or path exactly one wins."
    ),
    413: _error("The request body is larger than API Gateway accepts."),
    503: _error(
        "A dependency failed or throttled, or the endpoint is being changed concurrently; retry.",
        headers={RETRY_AFTER_HEADER: RETRY_AFTER},
    ),
}


def responses(
    success: int,
    description: str,
    *errors: int,
    links: dict[str, Any] | None = None,
    other_successes: dict[int, str] | None = None,
    error_descriptions: dict[int, str] | None = None,
) -> dict[int, Any]:
    """A route's documented answers: its success (schema from the route's return type), then `errors`.

    `error_descriptions` replaces the management API's wording of an error for routes of another API (files).
    """
    ok: dict[str, Any] = {"description": description}
    if links:
        ok["links"] = links
    answers: dict[int, Any] = {success: ok}
    answers.update({status: {"description": text} for status, text in (other_successes or {}).items()})
    for status in sorted({*errors, 401, 503}):
        answers[status] = ERRORS[status]
        if error_descriptions and status in error_descriptions:
            answers[status] = {**ERRORS[status], "description": error_descriptions[status]}
    return answers


def links_to(*operations: str, parameter: str = "id", source: str = "$response.body#/id") -> dict[str, Any]:
    """OpenAPI links from a response to operations whose `parameter` takes the value at `source`."""
    return {
        f"{operation[0].upper()}{operation[1:]}": {"operationId": operation, "parameters": {parameter: source}}
        for operation in operations
    }


# The id in the URL is taken as any string and judged by the operation (404 for get, update and delete;
# 400 for create), so that every route answers an id that breaks the rules the way the contract says.
UrlId = Annotated[
    str,
    Path(
        description="The endpoint's id. One that breaks the id rules names no endpoint (`404`; `400` on create).",
        json_schema_extra=ENDPOINT_ID_SCHEMA,
    ),
]


def _filter(schema: dict[str, Any]) -> dict[str, Any]:
    """A list filter: the value's schema, or empty (an empty value counts as not given)."""
    return {"anyOf": [{"type": "string", "maxLength": 0}, schema]}


STATE_PATTERN = "^([Ee][Nn][Aa][Bb][Ll][Ee][Dd]|[Dd][Ii][Ss][Aa][Bb][Ll][Ee][Dd])$"
BOOLEAN_PATTERN = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"
# 1 to MAX_LIMIT, in at most 9 digits (leading zeros allowed), as models.ListQuery reads it.
LIMIT_PATTERN = "^(0{0,8}[1-9]|0{0,7}[1-9][0-9]|0{0,6}[1-9][0-9]{2}|0{0,5}1000)$"

# The list route's query parameters as the route declares them: raw strings, folded and judged by
# models.parse_list_query (synonyms, empty values); each is documented with the rule it is held to.
IdFilter = Annotated[
    str, Query(description="Only the endpoint with this id.", json_schema_extra=_filter(ENDPOINT_ID_SCHEMA))
]
PathFilter = Annotated[
    str, Query(description="Only the endpoint at this path.", json_schema_extra=_filter(ENDPOINT_PATH_SCHEMA))
]
HandlerFilter = Annotated[
    str,
    Query(
        description="Only endpoints whose handler script is this drive path. Give at most one of `handler` and "
        "`handler_script_path`.",
        json_schema_extra=_filter({k: v for k, v in DRIVE_PATH_SCHEMA.items() if k != "description"}),
    ),
]
HandlerSynonym = Annotated[
    str,
    Query(
        description="Synonym of `handler`.",
        json_schema_extra=_filter({k: v for k, v in DRIVE_PATH_SCHEMA.items() if k != "description"}),
    ),
]
StateFilter = Annotated[
    str,
    Query(
        description="`ENABLED` or `DISABLED`, case-insensitive. Give at most one of `state` and `enabled`.",
        json_schema_extra=_filter({"type": "string", "pattern": STATE_PATTERN, "example": "ENABLED"}),
    ),
]
EnabledFilter = Annotated[
    str,
    Query(
        description="Synonym of `state`: `true` means `ENABLED` (case-insensitive).",
        json_schema_extra=_filter({"type": "string", "pattern": BOOLEAN_PATTERN}),
    ),
]
Offset = Annotated[
    str,
    Query(
        description="Position of the first result in the filtered list (default 0), e.g. a previous page's "
        "`next_offset`.",
        json_schema_extra=_filter({"type": "string", "pattern": "^[0-9]{1,9}$"}),
    ),
]
Limit = Annotated[
    str,
    Query(
        description=f"Page size (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}).",
        json_schema_extra=_filter({"type": "string", "pattern": LIMIT_PATTERN}),
    ),
]

# 1 to INVOCATIONS_MAX_LIMIT (100), as models.parse_invocations_limit reads it.
INVOCATIONS_LIMIT_PATTERN = "^(0{0,8}[1-9]|0{0,7}[1-9][0-9]|0{0,6}100)$"
InvocationsLimit = Annotated[
    str,
    Query(
        description=f"How many records, newest first (default {INVOCATIONS_DEFAULT_LIMIT}, 1 to "
        f"{INVOCATIONS_MAX_LIMIT}; else `400`).",
        json_schema_extra=_filter({"type": "string", "pattern": INVOCATIONS_LIMIT_PATTERN}),
    ),
]

# The trigger route's operations (one per method the template wires to it), which a created endpoint links to.
TRIGGER_OPERATIONS = ("triggerGet", "triggerPost", "triggerPut", "triggerPatch", "triggerDelete")
