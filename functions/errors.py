"""One small exception hierarchy with structured fields.

Every error a caller can cause is a ``CreditRiskError``; ``app.py`` maps the classes to HTTP
statuses in one place and the CLI prints ``str(err)``. ``details`` is machine-readable and must
never carry personal data.
"""

from __future__ import annotations

from typing import Any


class CreditRiskError(Exception):
    """Base class: a clear message plus a machine-readable ``code`` and optional ``field``."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(CreditRiskError):
    """The caller sent something malformed (HTTP 400)."""

    code = "invalid_input"


class Unauthenticated(CreditRiskError):
    """No or bad credential (HTTP 401)."""

    code = "unauthenticated"


class Forbidden(CreditRiskError):
    """Authenticated, but not allowed to touch this province (HTTP 403)."""

    code = "forbidden"


class NotFound(CreditRiskError):
    """The thing asked for does not exist (HTTP 404)."""

    code = "not_found"


class Conflict(CreditRiskError):
    """The request contradicts stored state (HTTP 409)."""

    code = "conflict"


class WriteConflict(Conflict):
    """A conditional write lost a race: the object exists already (create-once) or changed since
    it was read (``If-Match``). Retry from a fresh read, or answer 409 (docs/adr/0126)."""

    code = "conflict"


class RunInProgress(CreditRiskError):
    """Another worker holds the job (its lease has not expired): a queued message is delivered
    again later (docs/adr/0144)."""

    code = "run_in_progress"


class Unprocessable(CreditRiskError):
    """Well-formed, but impossible to satisfy, e.g. no valid inspector assignment (HTTP 422)."""

    code = "unprocessable"


class ConfigError(CreditRiskError):
    """A configuration file (indicator system, warning rules) is invalid."""

    code = "config_error"


class FileRejected(CreditRiskError):
    """An uploaded file is rejected as a whole (unreadable, wrong path, too many bad rows)."""

    code = "file_rejected"


class EngineError(CreditRiskError):
    """A query engine (DuckDB or Athena) failed to run a statement."""

    code = "engine_error"


class StorageError(CreditRiskError):
    """The lake could not be read or written."""

    code = "storage_error"


class StorageAccessDenied(StorageError):
    """The lake refused an operation (S3 403): a permission problem, never a missing object.

    Without ``s3:ListBucket`` S3 answers 403 even for a key that does not exist, so this is
    raised (and retried by Lambda, then dead-lettered) rather than read as "object gone"."""

    code = "storage_access_denied"
