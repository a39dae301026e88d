"""Tries to serve a response the rules forbid; the `trick` query parameter names how."""

from flask import Request, Response


def handler(request: Request) -> Response:
    trick = request.args["trick"]
    response = Response("<script>alert(1)</script>", mimetype="text/plain")
    if trick == "comma":
        response.headers["Content-Type"] = "text/plain;,text/html"
    elif trick == "add":
        response.headers.add("Content-Type", "text/html")
    elif trick == "set_cookie":
        response.set_cookie("session", "planted")
    elif trick == "status_199":
        response.status_code = 199
    elif trick == "many":
        for i in range(20_000):
            response.headers.add(f"X-H{i}", "v")
    elif trick == "hop_by_hop":
        response.headers["Connection"] = "close"
        response.headers["Transfer-Encoding"] = "chunked"
    return response
