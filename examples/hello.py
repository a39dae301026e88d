from typing import Any

from flask import Request, Response


def handler(request: Request, *args: Any, **kwargs: Any):
    if request.method == "GET":
        return Response("Hello World", mimetype="text/plain")
    else:
        return Response(status=404)
