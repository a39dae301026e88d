"""Shared code of the HTTP Endpoint service, shipped to every function as one Lambda layer."""
