"""openapi.yaml against the local stack: every route fuzzed with all of schemathesis' default checks, then stateful.

Positive and negative data, the examples, coverage and fuzzing phases, then random sequences that follow the
document's links (create -> get/update/delete/trigger, ...). Any 5xx, undocumented status, content type or
body, accepted invalid input or rejected valid input fails. The trigger route is fuzzed too: for paths nobody
registered its answers are the service's own, and the one handler that exists (the seed's hello.py, at the
documented example path) answers within the documented shapes.

Every check schemathesis has runs (as `--checks all`), but for two route-specific exceptions (`excluded_checks`),
plus two of this suite's: another account never sees what jaydoe reads, and the trigger's only 5xx is the 503
of a disabled endpoint. The figures (cases per operation and status, checks, failures) are printed at the end.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis.errors import Flaky
from schemathesis.checks import CHECKS, not_a_server_error, unsupported_method

from tests.support.repo import REPO_ROOT
from tests.support.stack import RunningStack, Stack

pytestmark = pytest.mark.e2e

OPENAPI = REPO_ROOT / "openapi.yaml"
HELLO = REPO_ROOT / "tests" / "handlers" / "hello.py"
ACCOUNT = "jaydoe"
# Another account: what jaydoe owns must not exist for it.
STRANGER = "schemathesis-stranger"
API = "/api/v1/http-endpoint"
ID_ROUTE = API + "/{id}"
TRIGGER_ROUTE = API + "/u/{path}"
# Cases per operation in the fuzzing phase (the contract's target: 200); the examples and coverage phases add
# their own, a bounded number. The whole module sends about 2,600 requests.
MANAGEMENT_EXAMPLES = 200
# Lists of an endpoint just made, on a deployed stack, until its eventually consistent index shows it.
LIST_ATTEMPTS = 4
TRIGGER_EXAMPLES = 200
# Stateful: scenarios, each a random walk of at most this many calls along the links.
STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 8
REQUEST_TIMEOUT = 30


@dataclass
class Tally:
    """What the run did, printed at the end of the module."""

    cases: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    rerouted: int = 0
    isolation_probes: int = 0
    handler_answers: int = 0
    stateful_steps: int = 0
    stateful_runs_cut_short: int = 0

    def record_case(self, case: Any) -> None:
        self.cases[case.operation.label] += 1
        meta = case.meta
        if meta is not None:
            self.modes[str(meta.generation.mode.value)] += 1
            self.phases[str(meta.phase.name.value)] += 1

    def after_validate(self, context: Any, case: Any, response: Any, results: list[Any]) -> None:
        """schemathesis' `after_validate` hook: one result per check run on a response."""
        self.statuses[(case.operation.label, response.status_code)] += 1
        for result in results:
            self.checks[result.name] += 1
            if result.failure is not None:
                self.failures[result.name] += 1

    def summary(self) -> list[str]:
        lines = ["schemathesis against the local stack:"]
        total = sum(self.cases.values())
        lines.append(f"  cases sent: {total} ({_counts(self.modes)}; by phase: {_counts(self.phases)})")
        for label, count in sorted(self.cases.items()):
            statuses = sorted((status, n) for (operation, status), n in self.statuses.items() if operation == label)
            lines.append(f"    {label}: {count} (" + ", ".join(f"{status}: {n}" for status, n in statuses) + ")")
        lines.append(
            f"  of which stateful steps: {self.stateful_steps}, answered by the handler: {self.handler_answers}"
        )
        lines.append(f"  checks run: {sum(self.checks.values())} ({_counts(self.checks)})")
        not_run = sorted(set(CHECKS.get_all_names()) - set(self.checks))
        lines.append(f"  schemathesis checks that never ran: {', '.join(not_run) or 'none'}")
        lines.append(f"  check failures: {sum(self.failures.values())} ({_counts(self.failures) or 'none'})")
        lines.append(
            f"  another account's GET of what jaydoe could read: {self.isolation_probes}, all 404 if no failure"
        )
        if self.rerouted:
            lines.append(f"  `GET {{id}}` cases with the id `list` sent with the id `u` instead: {self.rerouted}")
        if self.stateful_runs_cut_short:
            lines.append(
                f"  stateful runs ended early by a replay the server's state changed: {self.stateful_runs_cut_short}"
            )
        return lines


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counter.items()))


# One per module: the schemas below are built at import time, so their `after_validate` hook counts into it.
TALLY = Tally()


@dataclass
class Target:
    stack: RunningStack
    account: str
    headers: dict[str, str]
    stranger_headers: dict[str, str]
    script_paths: list[str]

    @property
    def base_url(self) -> str:
        """The document's server URL for this stack (API_ROOT minus its path)."""
        return self.stack.api_root.removesuffix(API)


def documented_script_paths() -> list[str]:
    """Every handler script path the document's examples use; the fixture uploads a working script to each."""
    raw = schemathesis.openapi.from_path(OPENAPI).raw_schema
    schemas = raw["components"]["schemas"]
    paths = {schemas["HandlerScriptPath"]["example"]}
    for name in ("CreateRequest", "UpdateRequest"):
        paths.add(schemas[name]["example"]["handler_script_path"])
    return sorted(paths)


def endpoint_auth(target: Target, path: str) -> str | None:
    """How the caller's endpoint at trigger path `path` authenticates its callers (None: no such endpoint).
    A deployed stack's list may miss an endpoint made a moment ago (its index is eventually consistent)."""
    for attempt in range(LIST_ATTEMPTS):
        response = requests.get(
            target.stack.api_root + "/list", params={"path": path}, headers=target.headers, timeout=REQUEST_TIMEOUT
        )
        assert response.status_code == 200, response.text
        found = [endpoint for endpoint in response.json()["endpoints"] if endpoint["path"] == path]
        if found:
            return str(found[0]["auth"])
        time.sleep(0.5 * (attempt + 1))
    return None


def endpoint_ids(stack: RunningStack, headers: dict[str, str]) -> set[str]:
    ids: set[str] = set()
    offset: int | None = 0
    while offset is not None:
        response = requests.get(
            stack.api_root + "/list", params={"offset": offset}, headers=headers, timeout=REQUEST_TIMEOUT
        )
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(endpoint["id"] for endpoint in page["endpoints"])
        offset = page["next_offset"]
    return ids


@pytest.fixture(scope="module")
def target(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Target]:
    """The stack as `request.param`'s account sees it, with a working handler script at every documented drive path.

    What the fuzzer creates is deleted afterwards.
    """
    account = str(request.param)
    local = tmp_path_factory.mktemp("schemathesis") / "hello.py"
    local.write_text(HELLO.read_text())
    script_paths = documented_script_paths()
    for drive_path in script_paths:
        assert drive_path.startswith(f"/{account}/"), drive_path
        stack.httpep(*stack.target, "script", "put", str(local), drive_path)
    headers = stack.headers(account)
    before = endpoint_ids(stack, headers)
    yield Target(stack, account, headers, stack.headers(STRANGER), script_paths)
    # Other tests of the session share this stack and these globally unique paths (e.g. the seed's `helloworld`).
    for endpoint_id in sorted(endpoint_ids(stack, headers) - before):
        requests.delete(f"{stack.api_root}/{endpoint_id}", headers=headers, timeout=REQUEST_TIMEOUT)
    report(request.config, TALLY.summary())


def report(config: pytest.Config, lines: list[str]) -> None:
    """Write to the terminal whether or not output is captured (`-s` is not needed)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def load_schema(max_examples: int) -> Any:
    schema = schemathesis.openapi.from_path(OPENAPI, config=schemathesis.Config())
    schema.config.generation.update(max_examples=max_examples)
    schema.hooks.register_hook_with_name(TALLY.after_validate, "after_validate")
    return schema


# ------------------------------------------------------------------------------------------ the contract's extras


def make_consistent(case: Any) -> None:
    """Keep positive cases valid where the contract has a rule a schema cannot state.

    - an `id` in a create/update body must equal the URL's (else 400);
    - `handler`/`handler_script_path` and `state`/`enabled` are synonyms: a list query gives one of each pair.
    Negative cases are sent as generated: whatever they break, the answer must be a 4xx.
    """
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return
    if isinstance(case.body, dict) and "id" in case.body and case.path_parameters:
        case.body["id"] = case.path_parameters["id"]
    if case.path == API + "/list" and case.query:
        for first, synonym in (("handler", "handler_script_path"), ("state", "enabled")):
            if case.query.get(first) not in (None, "") and case.query.get(synonym) not in (None, ""):
                del case.query[synonym]


def avoid_the_list_route(case: Any) -> None:
    """`GET API_ROOT/list` is the list route, not a get of the (reserved) id `list`: send the other reserved id.

    The document says so (a concrete path wins over a templated one, as in OpenAPI's own matching rule, and
    `list` is not an `EndpointId`), but a negative case for `getEndpoint` would still send `GET .../list` and
    take the list's `200` for an accepted invalid id.
    """
    if case.method.upper() == "GET" and case.path == ID_ROUTE and (case.path_parameters or {}).get("id") == "list":
        case.path_parameters["id"] = "u"
        TALLY.rerouted += 1


def prepare(case: Any) -> None:
    avoid_the_list_route(case)
    make_consistent(case)
    no_guessed_version(case)
    coherent_access(case)
    TALLY.record_case(case)


HMAC_SECRET = "HMAC_KEY"


def coherent_access(case: Any) -> None:
    """The rules that tie `auth`, `hmac` and `secrets` together are not in the schema: the secret `hmac` names
    must be one of the endpoint's, `hmac` goes with `auth: hmac` only, at most 32 secrets remain after an
    update. Positive cases keep them: a few fixed secret names (updates add to what earlier ones left), no
    removals (one could take the hmac secret of an endpoint made hmac a step before), and `hmac` with its auth
    and its secret. tests/integration/management covers each rule being broken."""
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    if not positive or case.path != ID_ROUTE or not isinstance(case.body, dict):
        return
    body = case.body
    secrets = body.get("secrets")
    if isinstance(secrets, dict):
        values = [value for value in secrets.values() if value is not None][:3]
        body["secrets"] = {f"S{n}": value for n, value in enumerate(values)}
    if isinstance(body.get("hmac"), dict) or body.get("auth") == "hmac":
        if not isinstance(body.get("hmac"), dict):
            body["hmac"] = {"header": "X-Signature"}
        body["auth"] = "hmac"
        body["hmac"]["secret"] = HMAC_SECRET
        body["secrets"] = {**(body.get("secrets") or {}), HMAC_SECRET: "k"}


def no_guessed_version(case: Any) -> None:
    """A script version id cannot be guessed: a made-up one is a 400 (it must exist), so positive cases pin the
    file's current version instead; tests/integration/files covers pinning a given one."""
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    if positive and case.path == ID_ROUTE and isinstance(case.body, dict) and "handler_script_version" in case.body:
        del case.body["handler_script_version"]
        if case.method.upper() == "PATCH" and not set(case.body) - {"id"}:
            case.body["enabled"] = True


def isolation_check(target: Target) -> Callable[..., bool | None]:
    """What the caller's GET finds, another account's identical GET does not (404, never 403 or the data). A
    trigger of a public endpoint (`auth: none`) answers anyone, as documented: it is left out. (An `hmac`
    endpoint never answers this suite's unsigned GET with 200, so it never comes here.)"""

    def another_account_sees_nothing(ctx: Any, response: Any, case: Any) -> bool | None:
        if case.method.upper() != "GET" or case.path not in (ID_ROUTE, TRIGGER_ROUTE) or response.status_code != 200:
            return None
        if case.path == TRIGGER_ROUTE:
            auth = endpoint_auth(target, case.path_parameters["path"])
            assert auth is not None, f"a trigger answered 200 for {case.path_parameters['path']!r}: no such endpoint"
            if auth == "none":
                return None
        url = response.request.url
        TALLY.isolation_probes += 1
        stranger = requests.get(url, headers=target.stranger_headers, timeout=REQUEST_TIMEOUT)
        assert stranger.status_code == 404, f"GET {url} as another account: {stranger.status_code} {stranger.text}"
        assert "error" in stranger.json(), stranger.text
        return None

    return another_account_sees_nothing


def trigger_server_errors_check(target: Target) -> Callable[..., bool | None]:
    """The trigger route's only 5xx here is the 503 of a disabled endpoint, which says when to retry.

    The contract's 500 and 504 report a failing handler; the one handler of this suite (hello.py) never fails,
    so either would be the service's own fault: the failure then quotes the end of the stack's log.
    (`not_a_server_error` is off for this route: 503 is documented.)
    """

    def only_a_disabled_endpoint_fails(ctx: Any, response: Any, case: Any) -> bool | None:
        if case.path != TRIGGER_ROUTE or response.status_code < 500:
            return None
        assert response.status_code == 503, f"{response.status_code}: {response.text}{sandbox_log(target.stack)}"
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), content_type
        assert response.json().get("error"), response.text
        assert response.headers.get("retry-after"), f"503 without Retry-After: {response.text}"
        return None

    return only_a_disabled_endpoint_fails


def sandbox_log(stack: Stack, lines: int = 60) -> str:
    """The end of the local stack's log, where the failing request's handler output and the sandbox's own
    traceback follow its line (nothing for a deployed stack)."""
    if not isinstance(stack, RunningStack):
        return ""
    return "\nThe stack's log ends:\n" + "\n".join(stack.logs().splitlines()[-lines:])


def use_the_uploaded_script(case: Any, target: Target) -> None:
    """Let a positive create succeed, so that the links have something to follow.

    A generated drive path is almost never in jaydoe's drive (403, which the per-operation tests cover).
    """
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    if positive and case.method.upper() == "PUT" and case.path == ID_ROUTE and isinstance(case.body, dict):
        case.body["handler_script_path"] = target.script_paths[0]


UNIQUE = itertools.count(1)


def make_unique(case: Any) -> None:
    """Give a positive create its own id and path, and a positive update its own path.

    Hypothesis re-walks the start of scenarios it has seen; a create that gave 201 the first time would give
    409 the next (the server keeps its state), the walk would change course and Hypothesis would stop the run
    as flaky. Conflicts are the per-operation tests' business.
    """
    meta = case.meta
    if (meta is not None and meta.generation.mode.is_negative) or case.path != ID_ROUTE:
        return
    if not isinstance(case.body, dict) or case.method.upper() not in ("PUT", "PATCH"):
        return
    suffix = f"-{next(UNIQUE)}"
    if case.method.upper() == "PUT":
        case.path_parameters["id"] = case.path_parameters["id"][: 128 - len(suffix)] + suffix
        if "id" in case.body:
            case.body["id"] = case.path_parameters["id"]
    if "path" in case.body:
        case.body["path"] = case.body["path"][: 128 - len(suffix)] + suffix


def credentials(case: Any, target: Target) -> dict[str, str] | None:
    """The account's real token, unless the case's negative data is the `Authorization` header itself."""
    return None if case.operation.schema.is_security_param_negated(case) else target.headers


def send(case: Any, target: Target) -> None:
    prepare(case)
    case.call_and_validate(
        base_url=target.base_url,
        headers=credentials(case, target),
        timeout=REQUEST_TIMEOUT,
        additional_checks=[isolation_check(target), trigger_server_errors_check(target)],
        excluded_checks=excluded_checks(case),
    )


def excluded_checks(case: Any) -> list[Any]:
    """Checks whose expectation differs from the contract on one route.

    - trigger: `not_a_server_error`, as the contract's 503 (disabled endpoint) is a 5xx; see
      `trigger_server_errors_check`.
    - list: `unsupported_method` expects 405 (or 401/403) for e.g. `PUT API_ROOT/list`. API Gateway answers 403
      there, but the local stack (SAM CLI's Flask router) hands it to the `{id}` route's function with the id
      `list`, which rejects it as a reserved id (400) or finds nothing (404): a difference of the local
      gateway, not of the service.
    """
    if case.path == TRIGGER_ROUTE:
        return [not_a_server_error]
    if case.path == API + "/list":
        return [unsupported_method]
    return []


# ------------------------------------------------------------------------------------------ the tests

# Built at import time (pytest collects one test per operation); the stack's URL and token are given per call.
management = load_schema(MANAGEMENT_EXAMPLES).include(tag="management")
trigger = load_schema(TRIGGER_EXAMPLES).include(tag="trigger")


# `target` is parametrized by the account under test. This also gives every operation its own node id: with
# pytest 9.2, schemathesis 4.32.5 names all the operations of one test alike, and pytest-xdist (`make test`)
# would then run only one of them.
@pytest.mark.parametrize("target", [ACCOUNT], indirect=True)
@management.parametrize()
def test_management_routes_conform_to_the_document(case: Any, target: Target) -> None:
    send(case, target)


@pytest.mark.parametrize("target", [ACCOUNT], indirect=True)
@trigger.parametrize()
def test_trigger_route_conforms_to_the_document(case: Any, target: Target) -> None:
    send(case, target)


@pytest.mark.parametrize("target", [ACCOUNT], indirect=True)
def test_stateful_sequences_follow_the_links(target: Target) -> None:
    """Create, then get / update / delete / trigger what was created (the document's links), in random order."""
    api = load_schema(MANAGEMENT_EXAMPLES)
    api.config.update(base_url=target.base_url)
    checks = [isolation_check(target), trigger_server_errors_check(target)]

    class Workflow(api.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            prepare(case)
            use_the_uploaded_script(case, target)
            make_unique(case)
            TALLY.stateful_steps += 1

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            content_type = (response.headers.get("content-type") or [""])[0]
            if case.path == TRIGGER_ROUTE and content_type.startswith("text/plain"):
                TALLY.handler_answers += 1  # only a handler answers in text/plain

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": credentials(case, target), "timeout": REQUEST_TIMEOUT}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            # As the base class does, plus this suite's checks and exclusions.
            case.validate_response(
                response,
                additional_checks=checks,
                excluded_checks=excluded_checks(case),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    settings = hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS,
        stateful_step_count=STATEFUL_STEPS,
        # Generation only, as schemathesis' own stateful runner: the server keeps state between scenarios, so
        # replaying a scenario (to shrink it) does not see the same responses.
        phases=[hypothesis.Phase.generate],
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    failures_before = sum(TALLY.failures.values())
    created = ("PUT " + ID_ROUTE, 201)
    created_before, answers_before = TALLY.statuses[created], TALLY.handler_answers
    try:
        Workflow.run(settings=settings)
    except Flaky:
        # Hypothesis re-walked a prefix it had seen and the server, whose state moved on, answered otherwise
        # (e.g. 409 for a create that once gave 201). That ends the run; it is a failure only if a check failed.
        if sum(TALLY.failures.values()) > failures_before:
            raise
        TALLY.stateful_runs_cut_short += 1
    # The walks did create endpoints and reach them through the links (create -> trigger runs the handler).
    assert TALLY.statuses[created] > created_before
    assert TALLY.handler_answers > answers_before
