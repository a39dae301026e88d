"""The service's own exceptions, each carrying its HTTP status; `management/resolver.py` makes them JSON."""

from __future__ import annotations


class ServiceError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status = 400


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PayloadTooLarge(ServiceError):
    status = 413


class Unavailable(ServiceError):
    """A dependency (DynamoDB, S3, the sandbox) failed or throttled; the client may retry."""

    status = 503
