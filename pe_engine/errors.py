"""Engine errors. Each carries the HTTP status a client should see, so every
front end (HTTP, CLI, console) reports the same failure the same way."""
from __future__ import annotations


class PeError(Exception):
    status = 500

    def __init__(self, message: str, *, data: object | None = None):
        super().__init__(message)
        self.message = message
        self.data = data

    def to_json(self) -> dict:
        body: dict = {"error": self.message}
        if self.data is not None:
            body["data"] = self.data
        return body


class BadRequest(PeError):
    status = 400


class InvalidName(BadRequest):
    pass


class InvalidSpec(BadRequest, ValueError):
    """User text (a duration, a trigger spec, an argument list, a setting) was rejected.

    A ValueError for plain Python callers and a 400 for the front ends, so the
    same message reaches every user.
    """


class LimitExceeded(PeError):
    status = 422


class NotFound(PeError):
    status = 404


class DatabaseNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(f"database not found: {name}")
        self.name = name


class TableNotFound(NotFound):
    pass


class AlreadyExists(PeError):
    status = 409


class WriteError(BadRequest):
    """Some or all lines were rejected. `data` lists them in InfluxDB 3's shape."""


class QueryError(PeError):
    status = 400


class Unauthorized(PeError):
    status = 401


class Forbidden(PeError):
    status = 403


class StorageError(PeError):
    """The WAL or the store failed; writers get this instead of an acknowledgement."""

    status = 500
