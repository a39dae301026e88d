"""A webhook receiver that checks the sender's signature itself: registered with `--auth none`.

The sender signs every request with HMAC-SHA256 over the raw body and sends `X-Signature: sha256=<hex>`
(the scheme GitHub, Shopify and many others use, under their own header names). A forged or tampered
delivery gets 401 and is never processed; a genuine one gets 200 with a JSON receipt.

The shared secret is the endpoint's secret `WEBHOOK_SECRET` (`--secret WEBHOOK_SECRET=-`), which the service
gives this handler as an environment variable; it is in no script and no response. When the scheme is this
simple, `--auth hmac` has the service check it before the handler runs (see `github_webhook.py`); checking in
the handler is for schemes it cannot express, such as Stripe's signed timestamp.
"""

import hashlib
import hmac
import json
import os

from flask import Request, Response

SIGNATURE_HEADER = "X-Signature"


def handler(request: Request) -> Response:
    if request.method != "POST":
        return reply(405, {"error": "deliveries are POSTed"}, {"Allow": "POST"})
    secret = os.environ["WEBHOOK_SECRET"].encode()
    # The raw bytes as sent: the signature covers exactly these, so verify before any parsing.
    body = request.get_data()
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    given = request.headers.get(SIGNATURE_HEADER, "")
    # compare_digest takes as long for a near miss as for a wild guess, so timing reveals nothing.
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return reply(401, {"error": f"missing or invalid {SIGNATURE_HEADER}"})
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    event_type = event.get("type") if isinstance(event, dict) else None
    # Process the event here (at most the endpoint timeout, 10 s by default); a 2xx tells the sender it landed.
    return reply(200, {"received": True, "type": event_type, "bytes": len(body)})


def reply(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")
