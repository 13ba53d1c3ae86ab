"""Chalice wiring only: parse input with a model from ``schemas/``, call one domain function,
return its result. Domain errors become HTTP answers in exactly one place (``_error_response``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from chalice.app import Chalice, Response
from pydantic import ValidationError

from functions.errors import (
    Conflict,
    CreditRiskError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unprocessable,
)
from functions.lake import Lake, open_lake
from functions.settings import get_settings

app = Chalice(app_name="creditrisk")
app.log.setLevel(os.environ.get("CREDITRISK_LOG_LEVEL", "INFO"))
logger = logging.getLogger(__name__)

_STATUS: dict[type[CreditRiskError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
}
_lake: Lake | None = None


def lake() -> Lake:
    """The lake, opened on first use (never at import time)."""
    global _lake
    if _lake is None:
        _lake = open_lake(settings=get_settings())
    return _lake


def _error_response(exc: Exception) -> Response:
    """The one place where exceptions become HTTP answers; never a stack trace to a caller."""
    if isinstance(exc, ValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or None, "problem": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0] if errors else {"field": None, "problem": "invalid request"}
        body: dict[str, Any] = {
            "error": "invalid_input",
            "message": f"{first['field']}: {first['problem']}" if first["field"] else str(first["problem"]),
            "field": first["field"],
            "details": {"errors": errors},
        }
        return Response(body=body, status_code=400)
    if isinstance(exc, CreditRiskError):
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
        return Response(body=exc.to_dict(), status_code=status)
    where = app.current_request.path if app.current_request else "event"
    logger.error("unhandled error in %s: %s", where, type(exc).__name__, exc_info=exc)
    return Response(
        body={"error": "internal", "message": "internal error; see the function log"}, status_code=500
    )
