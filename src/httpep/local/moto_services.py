"""The embedded AWS as the stack's socket serves it: a DynamoDB or S3 request goes straight to the handler moto's
server application routes it to, without Flask's handling of a request around that handler.

Through moto's server application, each request also pays for a Flask request context (a second request
object, a URL adapter, an application context, a session) and Flask's dispatch (hooks, error handling): about a
quarter of what moto spends on a warm trigger's two small DynamoDB requests. Here the handler is found as moto
finds it (the service's application, picked by moto's own dispatcher; the same URL rule), is called as moto's
view calls it, and its status, headers and body become the answer that view gives (a HEAD answer keeps
the Content-Length the handler set). These two services answer their errors themselves (moto's own
exceptions); anything else a handler raises is a 500, as when moto's application lets it through.
`tests/unit/local/test_moto_services.py` compares the answers with those of moto's own server over HTTP.

Requests of any other service go through moto's application as they are (moto's own API, for one, reads
Flask's request context).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# The services a trigger and the management functions call: the only ones served directly.
DIRECT_SERVICES = frozenset({"dynamodb", "s3"})


class MotoServices:
    """A WSGI application: moto's server application, with DynamoDB's and S3's handlers called directly."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher  # moto's DomainDispatcherApplication

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        from flask import Response
        from werkzeug.exceptions import HTTPException

        application = self.dispatcher.get_application(environ)
        if getattr(application, "service", None) not in DIRECT_SERVICES:
            return application(environ, start_response)  # type: ignore[no-any-return]
        try:
            rule, _ = application.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException as refusal:  # no such route or method: Flask answers with the exception itself
            return refusal(environ, start_response)
        # moto's view of the route, which hands the request to this handler (and ignores the route's arguments).
        handler = application.view_functions[rule.endpoint].callback
        request = application.request_class(environ)
        result = handler(request, request.raw_url, dict(request.headers))
        status, headers, body = result  # these two services' handlers answer with all three
        response = Response(response=body, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:  # the object's length, not the empty body's
            response.headers["Content-Length"] = headers["content-length"]
        return response(environ, start_response)
