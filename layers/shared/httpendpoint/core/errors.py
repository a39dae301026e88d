"""The service's own exceptions. Each carries its HTTP status; `http.py` turns them into JSON in one place."""

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


class TooManyRequests(ServiceError):
    status = 429


# Seconds a client should wait before retrying a 503 (a dependency failed, or the endpoint is disabled).
RETRY_AFTER_SECONDS = "30"


class Unavailable(ServiceError):
    """A dependency (DynamoDB, S3, the sandbox) failed or throttled; the client may retry."""

    status = 503


class NotImplementedYet(ServiceError):
    status = 501
