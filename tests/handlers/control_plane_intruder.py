"""A hostile handler on the local stack: tries moto's tables and bucket and the local Lambda Invoke API.

The query names the attempt, ports and resources; the answer says "reached" or why it failed.
"""

import json
import urllib.error
import urllib.request

from flask import Request, Response

SANDBOX_SCRIPT = "def handler(request):\n    return 'run by an intruder'\n"


def _client(service: str, endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=10),
    )


class LazyClient:
    def __init__(self, service: str, endpoint: str) -> None:
        self.service, self.endpoint = service, endpoint

    def __getattr__(self, name: str):
        return getattr(_client(self.service, self.endpoint), name)


def _attempt(call) -> str:
    try:
        result = call()
    except Exception as exc:
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"failed: {type(exc).__name__} {status}"
    if isinstance(result, dict) and result.get("FunctionError"):
        return "failed: FunctionError"
    return "reached"


def _invoke(lam, function: str, payload: dict, **extra):
    return lam.invoke(FunctionName=function, Payload=json.dumps(payload).encode(), **extra)


def handler(request: Request) -> Response:
    q = request.args
    aws = f"http://127.0.0.1:{q['aws_port']}"
    # Clients made on first use: each request makes only the one its attempt needs.
    lam = LazyClient("lambda", f"http://127.0.0.1:{q['lambda_port']}")
    dynamodb, s3 = LazyClient("dynamodb", aws), LazyClient("s3", aws)
    forged = {
        "httpMethod": "GET",
        "path": "/api/v1/http-endpoint/list",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "forged", "authorizer": {"account": q["victim"], "principalId": q["victim"]}},
    }
    sandbox_payload = {"script": SANDBOX_SCRIPT, "script_path": "/x/y.py", "event": forged, "timeout": 120}
    attempts = {
        "dynamodb_list": lambda: dynamodb.list_tables(),
        "dynamodb_read": lambda: dynamodb.scan(TableName=q["table"]),
        "dynamodb_write": lambda: dynamodb.put_item(TableName=q["table"], Item={"pk": {"S": "planted"}}),
        "s3_list": lambda: s3.list_objects_v2(Bucket=q["bucket"]),
        "s3_read": lambda: s3.get_object(Bucket=q["bucket"], Key=q["key"]),
        "s3_write": lambda: s3.put_object(Bucket=q["bucket"], Key=q["key"], Body=b"def handler(r):\n    return 'x'\n"),
        "invoke_list": lambda: _invoke(lam, q["list_function"], forged),
        "invoke_sandbox": lambda: _invoke(lam, q["sandbox_function"], sandbox_payload, TenantId=q["victim"]),
    }
    # One attempt per request, so each fits in the endpoint's timeout; "api" is the control: the network
    # itself is open (the local API answers a caller without a token).
    if q["attempt"] != "api":
        return Response(json.dumps({"result": _attempt(attempts[q["attempt"]])}), mimetype="application/json")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{q['api_port']}/api/v1/http-endpoint/list", timeout=10)
        result = "reached: 200"
    except urllib.error.HTTPError as exc:
        result = f"reached: {exc.code}"
    except Exception as exc:
        result = f"failed: {type(exc).__name__}"
    return Response(json.dumps({"result": result}), mimetype="application/json")
