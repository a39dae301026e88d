"""A GitHub webhook receiver with no signature code: registered with `--auth hmac`, the service checks
`X-Hub-Signature-256: sha256=<hex>` (HMAC-SHA256 of the raw body with the endpoint's secret) before this
handler runs. A delivery that gets here is genuine; a forged or tampered one got 401 and never ran it.
"""

import json

from flask import Request, Response


def handler(request: Request) -> Response:
    event = request.headers.get("X-GitHub-Event", "unknown")
    payload = request.get_json(silent=True) or {}
    if event == "ping":
        return Response(json.dumps({"pong": True}), mimetype="application/json")
    repository = (payload.get("repository") or {}).get("full_name")
    # Process the event here (at most the endpoint timeout, 10 s by default); a 2xx tells GitHub it landed.
    summary = {"received": event, "repository": repository, "action": payload.get("action")}
    return Response(json.dumps(summary), mimetype="application/json")
