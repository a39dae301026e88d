"""openapi.yaml describes exactly the template's routes, is a valid OpenAPI document, and its examples are valid."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from openapi_schema_validator import OAS30Validator, validate
from openapi_spec_validator import validate_url
from openapi_spec_validator.readers import read_from_filename
from schemathesis.core.result import Ok

from httpep.local.template import REPO_ROOT, LocalTemplate

OPENAPI = REPO_ROOT / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    spec, _ = read_from_filename(str(OPENAPI))
    return dict(spec)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    """A named schema with the document around it, so that its `$ref`s resolve."""
    return {**document, "$ref": f"#/components/schemas/{name}"}


def test_document_routes_are_exactly_the_template_routes(document: dict[str, Any], template: LocalTemplate) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}
    served = {(method, route.path) for route in template.api.routes for method in route.methods}
    assert documented == served


def test_document_is_valid_openapi() -> None:
    validate_url(OPENAPI.as_uri())


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(OPENAPI)
    results = list(schema.get_all_operations())
    assert [result for result in results if not isinstance(result, Ok)] == []
    assert len(results) == 13
    assert schema.statistic.transitions.total > 0


def test_every_operation_needs_the_bearer_token(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    for method, path, operation in operations(document):
        assert "security" not in operation, f"{method} {path} overrides the global security"
        assert "401" in operation["responses"], f"{method} {path}"


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
    }
    for source, name, link in links:
        path, _ = by_id[link["operationId"]]
        assert set(link["parameters"]) == set(re.findall(r"{(\w+)}", path)), f"{source}.{name}"


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


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


def test_examples_are_valid_and_use_the_seed_drive_path(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    seed_path = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
    assert schemas["HandlerScriptPath"]["example"] == seed_path
    for name in ("CreateRequest", "UpdateRequest"):
        assert schemas[name]["example"]["handler_script_path"] == seed_path
        validate(schemas[name]["example"], schema_of(document, name), cls=OAS30Validator, check_schema=False)
    for name in ("EndpointId", "EndpointPath", "HandlerScriptPath"):
        validate(schemas[name]["example"], schema_of(document, name), cls=OAS30Validator, check_schema=False)


@pytest.mark.parametrize(
    ("name", "value", "valid"),
    [
        ("EndpointId", "my-endpoint-id", True),
        ("EndpointId", "a" * 128, True),
        ("EndpointId", "a" * 129, False),
        ("EndpointId", "-leading-dash", False),
        ("EndpointId", "list", False),
        ("EndpointId", "u", False),
        ("EndpointId", "lists", True),
        ("EndpointPath", "hello_world-2", True),
        ("EndpointPath", "hello.world", False),
        ("EndpointPath", "", False),
        ("HandlerScriptPath", "/jaydoe/h.py", True),
        ("HandlerScriptPath", "/jaydoe/a b/h.py", True),
        ("HandlerScriptPath", "jaydoe/h.py", False),
        ("HandlerScriptPath", "/jaydoe/h.txt", False),
        ("HandlerScriptPath", "/jaydoe//h.py", False),
        ("HandlerScriptPath", "/jaydoe/../h.py", False),
        ("HandlerScriptPath", "/jaydoe/./h.py", False),
        ("HandlerScriptPath", "/jaydoe/\n/h.py", False),
        ("HandlerScriptPath", "/jaydoe/" + "a" * 1013 + ".py", True),
        ("HandlerScriptPath", "/jaydoe/" + "a" * 1014 + ".py", False),
    ],
)
def test_field_rules_match_the_contract(document: dict[str, Any], name: str, value: str, valid: bool) -> None:
    validator = OAS30Validator(schema_of(document, name))
    assert validator.is_valid(value) is valid
