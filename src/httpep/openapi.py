"""Write `openapi.yaml` from the code: the resolver-based functions' routes and models, plus the trigger route.

`python -m httpep.openapi [--template template.yaml] [--output openapi.yaml]` (`make openapi`). Every function
of the template whose handler module holds a Powertools resolver is found, imported with the environment the
template gives it, and asked for its OpenAPI schema; its relative routes are put under its `API_BASE_PATH`, and
each must be one of the template's routes for that function (and the other way round). Powertools'
`OpenAPIMerge` merges them with the trigger route, which is no resolver (its handler's answers are the user's)
and is described once, below. A test fails when the committed document differs from what this writes.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import yaml
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import Server, Tag

from httpep.local.template import LocalTemplate

TITLE = "HTTP Endpoint API"
VERSION = "1.0.0"
BASE_PATH_VARIABLE = "API_BASE_PATH"
# The router function: the one route that is no resolver's (its template routes are described here).
TRIGGER_PARAMETER = "path"

DESCRIPTION = """\
Register an endpoint (an id, a URL path and the drive path of a Python script defining
`handler(request: flask.Request)`); every request to `/api/v1/http-endpoint/u/<path>` then runs that
handler and returns its response.

`API_ROOT` is the server URL below followed by `/api/v1/http-endpoint`. Every route needs
`Authorization: Bearer <token>`, except the trigger route, where the endpoint's `auth` decides (`bearer`, the
default: a token; `none`: anyone; `hmac`: an HMAC-SHA256 signature of the body). A token belongs to one
account and everything is scoped to it: another account's endpoint behaves exactly as if it did not exist
(`404`). Tokens are minted with `httpep token create --account ACCOUNT`.

Every error the service itself answers is a JSON object with an `error` key naming what is wrong.
API Gateway's own answers carry a `message` key: the `401` (`{"message": "Unauthorized"}`; a deployed
stack adds `error`) and the `403` of a request that matches no route, such as an id containing `/`
(`Missing Authentication Token`, in both keys).

Rules a schema cannot state, enforced by the service: an `id` in a request body must equal the one in the
URL (else `400`); a `handler_script_path` must start with the caller's account (`/<account>/...`, else
`403`) and name a script that exists in the script store and compiles with a top-level `def handler` (else
`400`, naming the problem); `path` and `id` are unique across all accounts (`409`); in `list`, give at most
one of `handler` / `handler_script_path` and of `state` / `enabled` (else `400`).

`API_ROOT/list` is a concrete route beside `API_ROOT/{id}` and wins over it (as in OpenAPI's own path
matching): `GET API_ROOT/list` is `listEndpoints`, never `getEndpoint` of an endpoint named `list`, which is
why `list` (and `u`, the trigger route's segment) are reserved ids. Another method on `API_ROOT/list` is API
Gateway's `403` on AWS; the local stack hands it to the `{id}` route, which refuses the reserved id (`400` on
create, `404` otherwise).
"""

SERVER = Server(
    url="http://127.0.0.1:3000",
    description="The local stack (`make dev`; another port with `make dev PORT=...`). For a deployed stack use "
    "its `ApiRoot` output minus the trailing `/api/v1/http-endpoint`, e.g. "
    "`https://<api-id>.execute-api.<region>.amazonaws.com/Prod`.",
)
TAGS = [
    Tag(name="management", description="Create, read, update, delete and list the caller's endpoints."),
    Tag(name="trigger", description="Run an endpoint's handler. Requests and responses are whatever it defines."),
]
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token minted by `httpep token create --account ACCOUNT`; it acts as that account.",
    }
}

# ------------------------------------------------------------------------------------------ the trigger route

TRIGGER_DESCRIPTION = """\
Calls the caller's endpoint at `path`: its handler gets a real `flask.Request` for this call (method,
headers, query string, body) and its return value becomes the response. A `str` is served as `200`
`text/plain; charset=utf-8`; a `flask.Response` of mimetype `application/json` or `text/plain` is served
as it is (status, headers, body); an empty `flask.Response` is served as `text/plain` with its status
and headers. Anything else is a `500`. Editing the script in the store changes behaviour on the next
request.

Who may call depends on the endpoint's `auth`. `bearer` (the default): a token of the endpoint's account (a
`manage` token, or a `call` token covering the endpoint); the handler never sees the `Authorization` header.
`none`: anyone. `hmac`: anyone whose request carries, in the endpoint's `hmac.header`, `hmac.prefix`
followed by the HMAC-SHA256 of the raw body keyed with the endpoint's secret `hmac.secret` (hex or base64);
a missing or wrong signature is a `401` and the handler does not run. For `none` and `hmac` endpoints the
request reaches the handler as sent (except a token of this service, which never reaches any handler). The
handler's environment variables (`os.environ`) are the endpoint's `secrets`.
"""


def _trigger_error(description: str, **extra: Any) -> dict[str, Any]:
    """A status the service answers itself (JSON `error`) and that the handler may answer too (its own body)."""
    return {
        "description": description,
        **extra,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/TriggerError"},
                        {"description": "The handler's own JSON body."},
                    ]
                }
            },
            "text/plain": {"schema": {"type": "string"}},
        },
    }


# Status -> (component name, response); the operations refer to the components.
TRIGGER_RESPONSES: dict[str, tuple[str, dict[str, Any]]] = {
    "401": (
        "TriggerUnauthorized",
        _trigger_error(
            "A `bearer` endpoint called without a valid token of its account that may call it, a path without an "
            "endpoint called without a valid token, or an `hmac` endpoint called without a valid signature "
            "(answered by the service, JSON; the handler did not run). Or the handler's own 401."
        ),
    ),
    "403": (
        "NoRoute",
        {
            "description": "The request matches no route (API Gateway's `Missing Authentication Token`), e.g. a "
            "path containing `/` or an empty one.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        },
    ),
    "404": (
        "TriggerNotFound",
        _trigger_error(
            "No endpoint at this path in the caller's account (answered by the service, JSON), or the handler's "
            "own 404."
        ),
    ),
    "413": ("TriggerTooLarge", _trigger_error("The request is too large to hand to the handler.")),
    "500": (
        "TriggerFault",
        _trigger_error(
            "The handler failed: its script is missing or has a syntax error, it defines no `handler`, it raised, "
            "or it returned something not allowed (HTML, a dict, bytes, `None`, ...). Or the handler's own 500."
        ),
    ),
    "503": (
        "TriggerDisabled",
        _trigger_error(
            "The endpoint is disabled, or a dependency failed (answered by the service, JSON, with "
            "`Retry-After`), or the handler's own 503.",
            headers={
                "Retry-After": {
                    "description": "Seconds after which the request may succeed. Always sent with the service's "
                    "own `503`; a handler's own `503` carries whatever headers it sets.",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
            },
        ),
    ),
    "504": (
        "TriggerTimeout",
        _trigger_error("The handler ran longer than the endpoint timeout (a template parameter, 10 s by default)."),
    ),
    "default": (
        "HandlerResponse",
        {
            "description": "Whatever the handler returned (any status), as `text/plain` or `application/json`.",
            "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}},
        },
    ),
}
TRIGGER_SCHEMAS: dict[str, Any] = {
    "TriggerError": {
        "type": "object",
        "additionalProperties": False,
        "required": ["error"],
        "properties": {
            "error": {
                "type": "string",
                "minLength": 1,
                "description": "For a handler fault: `<exception type>: <message>`.",
            },
            "request_id": {"type": "string", "description": "The request's id, to find its logs."},
            "message": {
                "type": "string",
                "description": "`Unauthorized` in the service's own 401, as in API Gateway's 401 on every other route.",
            },
        },
    }
}
TRIGGER_BODY = {
    "description": "Whatever the handler expects; it is passed through untouched.",
    "required": False,
    "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}},
}
METHODS_WITH_BODY = {"POST", "PUT", "PATCH"}


def trigger_schema(path: str, methods: list[str]) -> dict[str, Any]:
    """The trigger route's path item, one operation per method the template wires to the router."""
    item: dict[str, Any] = {
        "parameters": [
            {
                "name": TRIGGER_PARAMETER,
                "in": "path",
                "required": True,
                "description": "The endpoint's path, as registered.",
                "schema": {"$ref": "#/components/schemas/EndpointPath"},
            }
        ]
    }
    for method in sorted(methods, key=["GET", "POST", "PUT", "PATCH", "DELETE"].index):
        operation: dict[str, Any] = {
            "tags": ["trigger"],
            "summary": f"Run the endpoint's handler ({method})",
            "description": TRIGGER_DESCRIPTION,
            "operationId": f"trigger{method.title()}",
            # A token for `bearer` endpoints; nothing (or a signature) for `none` and `hmac` ones.
            "security": [{"bearerAuth": []}, {}],
            "responses": {
                status: {"$ref": f"#/components/responses/{name}"} for status, (name, _) in TRIGGER_RESPONSES.items()
            },
        }
        if method in METHODS_WITH_BODY:
            operation["requestBody"] = {"$ref": "#/components/requestBodies/TriggerBody"}
        item[method.lower()] = operation
    components = {
        "schemas": TRIGGER_SCHEMAS,
        "responses": {name: response for name, response in TRIGGER_RESPONSES.values()},
        "requestBodies": {"TriggerBody": TRIGGER_BODY},
    }
    return {"paths": {path: item}, "components": copy.deepcopy(components)}


# ------------------------------------------------------------------------------------------ the resolvers


def load_handler_module(function: Any) -> ModuleType:
    """The function's handler module (`app.lambda_handler` -> `<CodeUri>/app.py`), under a name of its own."""
    module_path = Path(function.codeuri) / (function.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(f"_openapi_{function.name}", module_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def resolver_of(module: ModuleType) -> ApiGatewayResolver | None:
    resolvers = [value for value in vars(module).values() if isinstance(value, ApiGatewayResolver)]
    if len(resolvers) > 1:
        raise ValueError(f"{module.__file__} holds more than one resolver")
    return resolvers[0] if resolvers else None


GREEDY = re.compile(r"\{(\w+)\+\}")


def function_schemas(template: LocalTemplate) -> Iterator[dict[str, Any]]:
    """One schema per function: a resolver's from Powertools, the router's from `trigger_schema`."""
    routes: dict[str, set[tuple[str, str]]] = {}
    for route in template.api.routes:
        # API Gateway's greedy `{name+}` is an ordinary `{name}` in OpenAPI (whose parameters may hold slashes).
        path = GREEDY.sub(r"{\1}", route.path)
        routes.setdefault(route.function_name, set()).update((method, path) for method in route.methods)
    for function in sorted(template.functions(), key=lambda function: function.name):
        served = routes.get(function.name)
        if not served:
            continue  # not behind the API (authorizer, sandbox)
        variables = {name: str(value) for name, value in (function.environment or {}).get("Variables", {}).items()}
        with mock.patch.dict(os.environ, variables):
            resolver = resolver_of(load_handler_module(function))
        if resolver is None:
            paths = {path for _, path in served}
            if len(paths) != 1 or not paths.pop().endswith("/{" + TRIGGER_PARAMETER + "}"):
                raise ValueError(f"{function.name} is no resolver and not the trigger route: describe it")
            path = next(path for _, path in served)
            yield trigger_schema(path, [method for method, _ in served])
            continue
        schema = resolver.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
        base = variables.get(BASE_PATH_VARIABLE)
        if base is None:
            raise ValueError(f"{function.name}: a resolver's routes need {BASE_PATH_VARIABLE} in the template")
        schema["paths"] = {base + path: item for path, item in schema["paths"].items()}
        documented = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
        if documented != served:
            raise ValueError(
                f"{function.name}: the resolver's routes {sorted(documented)} under {BASE_PATH_VARIABLE}={base} "
                f"are not the template's {sorted(served)}"
            )
        yield schema


def without_validation_error(document: dict[str, Any]) -> dict[str, Any]:
    """Drop Powertools' default `422`: the resolver answers every validation error with a `400` `{"error"}`."""
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].pop("422", None)
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return document


def generate(template: LocalTemplate) -> dict[str, Any]:
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        servers=[SERVER],
        tags=list(TAGS),
        security_schemes=SECURITY_SCHEMES,
        security=[{"bearerAuth": []}],
        on_conflict="error",
    )
    for schema in function_schemas(template):
        merge.add_schema(schema)
    document = without_validation_error(merge.get_openapi_schema())
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"] = {kind: dict(sorted(items.items())) for kind, items in document["components"].items()}
    return document


class _Dumper(yaml.SafeDumper):
    """Multi-line text as a literal block, so the descriptions read as written."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render(document: dict[str, Any]) -> str:
    header = "# Generated by `make openapi` from the functions' routes and models; do not edit by hand.\n"
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--output", type=Path, default=Path("openapi.yaml"))
    args = parser.parse_args(argv)
    text = render(generate(LocalTemplate(args.template.resolve())))
    args.output.write_text(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
