"""`pytest tests/e2e --stack NAME`: the e2e suite's `stack` is the deployed stack its CloudFormation outputs
name, and local-only tests are skipped with their reason. A stack in moto's CloudFormation stands in for AWS."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from httpep.local.template import LocalTemplate
from tests.support.aws import aws_client
from tests.support.stack import deployed_stack

pytest_plugins = ["pytester"]
# The inner sessions run without the project's ini file: no xdist, no cache, none of its warning filters.
INNER = ["-p", "no:xdist", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]

API_ROOT = "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/api/v1/http-endpoint"


def deploy(name: str, outputs: dict[str, str]) -> None:
    template: dict[str, Any] = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws_client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_a_deployed_stack_is_found_by_its_outputs(aws: LocalTemplate) -> None:
    deploy("httpep-prod", {"ApiRoot": API_ROOT, "TokensTableName": "tokens"})
    stack = deployed_stack("httpep-prod")
    assert stack.api_root == API_ROOT
    # Tokens are minted by `httpep` itself against the same stack, with the operator's credentials.
    assert stack.target == ("--stack", "httpep-prod")
    assert deployed_stack("httpep-prod", "us-east-1").target == ("--stack", "httpep-prod", "--region", "us-east-1")


def test_the_e2e_fixture_uses_the_stack_and_skips_local_only_tests(
    aws: LocalTemplate, pytester: pytest.Pytester
) -> None:
    deploy("httpep-staging", {"ApiRoot": API_ROOT})
    pytester.makeconftest('pytest_plugins = ["tests.conftest", "tests.e2e.conftest"]\n')
    pytester.makepyfile(
        test_suite=textwrap.dedent(
            f"""
            import pytest

            def test_over_http(stack):
                assert stack.api_root == {API_ROOT!r}
                assert stack.target == ("--stack", "httpep-staging")

            @pytest.mark.local_only
            def test_reads_the_local_log(stack):
                stack.logs()
            """
        )
    )
    result = pytester.runpytest_inprocess(
        "--stack", "httpep-staging", "-p", "no:xdist", "-p", "no:cacheprovider", "-rs"
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*needs the local stack*--stack runs what goes over HTTP*"])


def test_an_unknown_stack_fails_the_session_saying_so(aws: LocalTemplate, pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.conftest", "tests.e2e.conftest"]\n')
    pytester.makepyfile(test_suite="def test_over_http(stack):\n    pass\n")
    result = pytester.runpytest_inprocess("--stack", "no-such-stack", *INNER)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot read stack no-such-stack*"])
