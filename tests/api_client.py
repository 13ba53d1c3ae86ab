"""The REST app on a local lake through ``chalice.test.Client``, with a token for province 42 and
one for 23 only: the set-up of the read-only API tests (warnings, effectiveness)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from functions.auth import tokens
from functions.lake import Lake
from functions.settings import Settings


def two_provinces(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, lake: Lake
) -> Iterator[tuple[Client, str, str]]:
    """The client, a token of province 42 and one of 23; the app's cached lake and settings are
    dropped before and after, so each test sees its own lake."""
    monkeypatch.setenv("CREDITRISK_LAKE_URI", settings.lake_uri)
    app_module.reset()
    mine, _ = tokens.issue_token(lake, name="p42", provinces=["42"])
    other, _ = tokens.issue_token(lake, name="p23", provinces=["23"])
    with Client(app_module.app) as client:
        yield client, mine, other
    app_module.reset()


def get(client: Client, path: str, token: str | None) -> Any:
    """``GET path`` with ``token`` as the bearer (none: no Authorization header)."""
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})
