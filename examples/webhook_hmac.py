"""A webhook receiver that accepts a delivery only if it is signed with the shared secret.

The sender signs every request with HMAC-SHA256 over the raw body and sends `X-Signature: sha256=<hex>`
(the scheme GitHub, Shopify and many others use, under their own header names). A forged or tampered
delivery gets 401 and is never processed; a genuine one gets 200 with a JSON receipt.
"""

import hashlib
import hmac
import json

from flask import Request, Response

# Handlers have no secret store, so the shared secret is a constant of the script. Replace this value with
# the secret you configured at the sender before registering the endpoint, and keep the script in your own
# drive; anyone who can read the script can forge signatures.
SECRET = b"replace-me-with-the-secret-you-gave-the-sender"
SIGNATURE_HEADER = "X-Signature"


def handler(request: Request) -> Response:
    if request.method != "POST":
        return reply(405, {"error": "deliveries are POSTed"}, {"Allow": "POST"})
    # The raw bytes as sent: the signature covers exactly these, so verify before any parsing.
    body = request.get_data()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
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
