"""openapi.yaml is what `make openapi` writes from the code, a valid document of exactly the template's routes,
and its schemas give the same answers as the checks the service runs."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from schemathesis.core.result import Ok

from httpendpoint.management import models
from httpendpoint.scripts import check_drive_path
from httpep import openapi
from httpep.local.template import LocalTemplate

REPO = Path(__file__).resolve().parents[3]
OPENAPI = REPO / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return openapi.generate(LocalTemplate(REPO / "template.yaml"))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(yaml.safe_load(OPENAPI.read_text()))


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def test_the_committed_document_is_what_make_openapi_writes(generated: dict[str, Any]) -> None:
    assert OPENAPI.read_text() == openapi.render(generated), "openapi.yaml is stale: run `make openapi`"


def test_document_routes_are_exactly_the_template_routes(document: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}
    template = LocalTemplate(REPO / "template.yaml")
    served = {
        (method, openapi.GREEDY.sub(r"{\1}", route.path)) for route in template.api.routes for method in route.methods
    }
    assert documented == served


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(OPENAPI)
    results = list(schema.get_all_operations())
    assert [result for result in results if not isinstance(result, Ok)] == []
    assert len(results) == 14
    assert schema.statistic.transitions.total > 0


def test_every_operation_needs_the_bearer_token_but_the_trigger_whose_endpoint_decides(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    for method, path, operation in operations(document):
        if "/u/" in path:
            assert operation["security"] == [{"bearerAuth": []}, {}], f"{method} {path}"
        else:
            assert "security" not in operation, f"{method} {path} overrides the global security"
        assert "401" in operation["responses"], f"{method} {path}"


def test_every_error_of_the_service_is_a_json_error_body(document: dict[str, Any]) -> None:
    """Each management operation documents its 4xx and 503 as JSON with a required, non-empty `error`."""
    statuses: set[str] = set()
    for method, path, operation in operations(document):
        if "/u/" in path:
            continue
        for status, response in operation["responses"].items():
            if status.startswith("2") or status == "401":
                continue
            statuses.add(status)
            schema = resolve(document, resolve(document, response)["content"]["application/json"]["schema"])
            assert "error" in schema["required"] and schema["properties"]["error"]["minLength"] == 1, (method, path)
        assert "503" in operation["responses"] and "Retry-After" in operation["responses"]["503"]["headers"]
    assert statuses == {"400", "403", "404", "409", "413", "503"}


def test_no_validation_error_of_powertools_is_left(document: dict[str, Any]) -> None:
    """The resolver answers every invalid request with a 400: Powertools' default 422 is not in the contract."""
    assert not [(method, path) for method, path, operation in operations(document) if "422" in operation["responses"]]
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_links_name_existing_operations_and_parameters(document: dict[str, Any]) -> None:
    by_id = {operation["operationId"]: (path, operation) for _, path, operation in operations(document)}
    links = [
        (source["operationId"], name, link)
        for _, _, source in operations(document)
        for response in source["responses"].values()
        for name, link in response.get("links", {}).items()
    ]
    assert {(source, link["operationId"]) for source, _, link in links} >= {
        ("createEndpoint", "getEndpoint"),
        ("createEndpoint", "updateEndpoint"),
        ("createEndpoint", "deleteEndpoint"),
        ("createEndpoint", "triggerGet"),
    }
    for source, name, link in links:
        path, _ = by_id[link["operationId"]]
        assert set(link["parameters"]) == set(re.findall(r"{(\w+)}", path)), f"{source}.{name}"


def test_management_bodies_are_closed_json_objects(document: dict[str, Any]) -> None:
    """Request and response bodies of the management routes reject unknown keys; every answer is JSON."""
    for method, path, operation in operations(document):
        if "/u/" in path or path.startswith("/api/v2/files/"):  # a handler's answer; a file's bytes
            continue
        bodies = [resolve(document, operation["requestBody"])] if "requestBody" in operation else []
        bodies += [resolve(document, response) for response in operation["responses"].values()]
        for body in bodies:
            assert list(body["content"]) == ["application/json"], f"{method} {path}"
            schema = resolve(document, body["content"]["application/json"]["schema"])
            assert schema["type"] == "object" and schema["additionalProperties"] is False, f"{method} {path}"


def test_list_states_that_its_id_is_nullable(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["EndpointListView"]
    validator = OAS31Validator(schema)
    page: dict[str, Any] = {"endpoints": [], "next_offset": None}
    assert validator.is_valid({"id": None, **page})
    assert validator.is_valid({"id": "my-endpoint-id", **page})


def test_the_document_cites_nothing_outside_the_repository() -> None:
    text = OPENAPI.read_text()
    assert "API" + ".md" not in text and "DESIGN" + ".md" not in text


# ---------------------------------------------------------------------------------------------- field rules


def field_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        **document,
        "$ref": f"#/components/schemas/{name}",
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }


def accepts(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("name", "check", "value"),
    [
        ("EndpointId", models.check_endpoint_id, value)
        for value in ["my-endpoint-id", "a" * 128, "a" * 129, "-leading-dash", "list", "u", "lists", "a.b_c", ""]
    ]
    + [
        ("EndpointPath", models.check_endpoint_path, value)
        for value in ["hello_world-2", "hello.world", "", "p" * 128, "p" * 129, "a/b"]
    ]
    + [
        ("HandlerScriptPath", check_drive_path, value)
        for value in [
            "/jaydoe/h.py",
            "/jaydoe/a b/h.py",
            "jaydoe/h.py",
            "/jaydoe/h.txt",
            "/jaydoe//h.py",
            "/jaydoe/../h.py",
            "/jaydoe/./h.py",
            "/jaydoe/\n/h.py",
            "/jaydoe/\x7f.py",
            "/.py",
            "/jaydoe/" + "a" * 1013 + ".py",
            "/jaydoe/" + "a" * 1014 + ".py",
        ]
    ]
    + [
        ("SecretName", models.check_secret_name, value)
        for value in ["API_KEY", "_X", "A" * 64, "A" * 65, "lower", "1ABC", "AWS_REGION", "HTTPEP_X", "AWS", "A-B", ""]
    ]
    + [
        ("Hmac/properties/prefix", models.check_prefix, value)
        for value in ["", "sha256=", "v1,", "p" * 128, "p" * 129, "a\nb", "\x7f", "\x85", "é", "☕"]
    ],
)
def test_each_field_schema_gives_the_services_answer(
    document: dict[str, Any], name: str, check: Callable[[str], str], value: str
) -> None:
    validator = OAS31Validator(field_schema(document, name))
    assert validator.is_valid(value) is accepts(check, value)


def test_examples_are_valid_and_use_one_drive_path(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    drive_path = schemas["HandlerScriptPath"]["example"]
    for name in ("CreateRequest", "UpdateRequest"):
        example = schemas[name]["example"]
        assert example["handler_script_path"] == drive_path
        OAS31Validator(field_schema(document, name)).validate(example)
    for name in ("EndpointId", "EndpointPath", "HandlerScriptPath"):
        OAS31Validator(field_schema(document, name)).validate(schemas[name]["example"])


# ---------------------------------------------------------------------------------------------- discovery

NEW_FUNCTION = """\
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Path

from httpendpoint.core import settings

app = APIGatewayRestResolver(enable_validation=True, strip_prefixes=[settings.api_base_path()])


@app.get("/<path>", operation_id="readFile", tags=["files"])
def read(path: Annotated[str, Path()]) -> dict[str, str]:
    return {"path": path}


def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def template_with_a_new_function(tmp_path: Path) -> Path:
    """The project's template plus a resolver-based function under another base path, as a later one would be."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "app.py").write_text(NEW_FUNCTION)
    resource = textwrap.dedent(f"""
        FilesFunction:
          Type: AWS::Serverless::Function
          Properties:
            CodeUri: {tmp_path / "files"}
            Handler: app.lambda_handler
            Environment:
              Variables:
                API_BASE_PATH: /api/v2/files
            Events:
              Read:
                Type: Api
                Properties:
                  RestApiId: !Ref HttpEndpointApi
                  Path: /api/v2/files/{{path}}
                  Method: GET
        """)
    resources, outputs = (REPO / "template.yaml").read_text().split("\nOutputs:", 1)
    # The copy lives in tmp_path: every code location is made absolute so that it still finds the project's code.
    resources = re.sub(r"(CodeUri|ContentUri): (\S+)", lambda m: f"{m[1]}: {REPO / m[2]}", resources)
    path = tmp_path / "template.yaml"
    path.write_text(resources + textwrap.indent(resource, "  ") + "\nOutputs:" + outputs)
    return path


def test_a_new_resolver_based_function_is_picked_up_from_the_template(tmp_path: Path) -> None:
    document = openapi.generate(LocalTemplate(template_with_a_new_function(tmp_path)))
    assert document["paths"]["/api/v2/files/{path}"]["get"]["operationId"] == "readFile"
    assert "/api/v1/http-endpoint/{id}" in document["paths"]
