"""The one authentication and scope check, shared by the custom authorizer and every handler.

Chalice's test client skips authorizers and API Gateway may be misconfigured, so handlers never
rely on the authorizer having run: they call :func:`authenticate` themselves (docs/adr/0043).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from functions.auth.tokens import CACHE_SECONDS, Principal, verify_token
from functions.errors import Forbidden, Unauthenticated

if TYPE_CHECKING:
    from functions.lake import Lake


def bearer(headers: Mapping[str, str] | None) -> str:
    """The token of an ``Authorization: Bearer …`` header (header names are case-insensitive)."""
    value = None
    for k, v in (headers or {}).items():
        if k.lower() == "authorization":
            value = v
            break
    if not value:
        raise Unauthenticated("an Authorization: Bearer token is required", field="Authorization")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use Authorization: Bearer <token>", field="Authorization")
    return token.strip()


def authenticate(
    lake: Lake, headers: Mapping[str, str] | None, *, cache_seconds: float = CACHE_SECONDS
) -> Principal:
    return verify_token(lake, bearer(headers), cache_seconds=cache_seconds)


def require_province(principal: Principal, province: str) -> None:
    """403 outside the caller's provinces; the message names nothing about the province's data."""
    if province not in principal.provinces:
        raise Forbidden("this token is not allowed for the requested province", field="province")
