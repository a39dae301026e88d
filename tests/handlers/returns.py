"""Returns whatever the `kind` query parameter names, to exercise the response rules."""

from flask import Request, Response


def handler(request: Request):
    kind = request.args.get("kind", "str")
    if kind == "str":
        return "plain text"
    if kind == "custom":
        return Response('{"created": true}', status=201, headers={"X-Custom": "yes"}, mimetype="application/json")
    if kind == "refuse":  # a refusal of the handler's own, in the shape of the service's
        return Response('{"error": "go away", "message": "Forbidden"}', status=403, mimetype="application/json")
    if kind == "html":
        return Response("<script>alert(1)</script>", mimetype="text/html")
    if kind == "empty_html":
        return Response(status=204)
    if kind == "dict":
        return {"a": 1}
    if kind == "bytes":
        return b"bytes"
    if kind == "none":
        return None
    if kind == "tuple":
        return ("body", 200)
    if kind == "big":
        return "x" * (7 * 1024 * 1024)
    if kind == "raise":
        raise ZeroDivisionError("division by zero")
    if kind == "sleep":
        import time

        time.sleep(60)
    return 42
