"""A Stripe-style webhook receiver, registered with `--auth none`: the handler checks the signature itself.

Stripe signs `<timestamp>.<raw body>` (not the body alone) with HMAC-SHA256 and sends
`Stripe-Signature: t=<timestamp>,v1=<hex>[,v1=<hex>...]`; a receiver must also refuse an old timestamp, or a
recorded delivery could be replayed. The service's `hmac` mode signs the body alone, so this check lives
here, with the endpoint's secret `STRIPE_WEBHOOK_SECRET` from the environment.
"""

import hashlib
import hmac
import json
import os
import time

from flask import Request, Response

TOLERANCE_SECONDS = 300


def handler(request: Request) -> Response:
    body = request.get_data()
    if not signed_by_stripe(request.headers.get("Stripe-Signature", ""), body):
        return reply(401, {"error": "missing, invalid or expired Stripe-Signature"})
    event = json.loads(body)
    # Process the event here (at most the endpoint timeout, 10 s by default); a 2xx tells Stripe it landed.
    return reply(200, {"received": event.get("type")})


def signed_by_stripe(header: str, body: bytes) -> bool:
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in fields if key.strip() == "t"]
    signatures = [value.strip() for key, value in fields if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = timestamps[0].strip()
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    secret = os.environ["STRIPE_WEBHOOK_SECRET"].encode()
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    # Any of the v1 signatures may match (Stripe sends several while a secret is being rolled).
    return any(hmac.compare_digest(expected.encode(), signature.encode()) for signature in signatures)


def reply(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
