"""Reports what the handler saw of the request, as JSON."""

import hashlib
import json

import flask
from flask import Request, Response


def handler(request: Request) -> Response:
    data = request.get_data()
    seen = {
        "method": request.method,
        "path": request.path,
        "args": request.args.to_dict(flat=False),
        "json": request.get_json(silent=True),
        "form": request.form.to_dict(flat=False),
        "headers": {key.lower(): value for key, value in request.headers.items()},
        "body_length": len(data),
        "body_sha256": hashlib.sha256(data).hexdigest(),
        "same_as_flask_request": flask.request.get_data() == data,
    }
    return Response(json.dumps(seen), status=200, mimetype="application/json")
