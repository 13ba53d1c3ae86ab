"""Tokens: stored only as salted hashes, verified in constant time, revocable, province-scoped."""

from __future__ import annotations

import json

import pytest

from functions import layout
from functions.auth import tokens
from functions.auth.guard import authenticate, bearer, require_province
from functions.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from functions.lake import Lake


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    tokens.clear_cache()


def test_issue_stores_only_a_salted_hash(any_lake: Lake) -> None:
    token, record = tokens.issue_token(any_lake, name="platform 湖北", provinces=["42", "23", "42"])
    assert tokens.TOKEN_RE.match(token)
    secret = token.split("_", 2)[2]
    stored = any_lake.read_bytes(layout.token_key(record["token_id"])).decode()
    assert secret not in stored and token not in stored
    data = json.loads(stored)
    assert data["provinces"] == ["23", "42"] and len(bytes.fromhex(data["salt"])) == 16
    principal = tokens.verify_token(any_lake, token)
    assert principal.provinces == frozenset({"23", "42"}) and principal.name == "platform 湖北"


def test_same_secret_different_salt_different_hash(local_lake: Lake) -> None:
    _, a = tokens.issue_token(local_lake, name="a", provinces=["42"])
    _, b = tokens.issue_token(local_lake, name="b", provinces=["42"])
    assert a["salt"] != b["salt"] and a["hash"] != b["hash"]


@pytest.mark.parametrize("mutate", ["secret", "id", "prefix", "empty", "garbage"])
def test_bad_tokens_are_refused_alike(local_lake: Lake, mutate: str) -> None:
    token, _ = tokens.issue_token(local_lake, name="p", provinces=["42"])
    _, tid, secret = token.split("_", 2)
    bad = {
        "secret": f"crk_{tid}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
        "id": f"crk_{'0' * 12}_{secret}",
        "prefix": f"xyz_{tid}_{secret}",
        "empty": "",
        "garbage": "Bearer Bearer ☃",
    }[mutate]
    with pytest.raises(Unauthenticated) as err:
        tokens.verify_token(local_lake, bad, cache_seconds=0)
    assert err.value.message == "missing, malformed, unknown or revoked bearer token"


def test_revoke_and_list(local_lake: Lake) -> None:
    token, rec = tokens.issue_token(local_lake, name="p", provinces=["42"])
    tokens.verify_token(local_lake, token)  # cached now
    listed = tokens.list_tokens(local_lake)
    assert [r["token_id"] for r in listed] == [rec["token_id"]]
    assert "hash" not in listed[0] and "salt" not in listed[0]
    tokens.revoke_token(local_lake, rec["token_id"])
    with pytest.raises(Unauthenticated):
        tokens.verify_token(local_lake, token)
    assert tokens.list_tokens(local_lake)[0]["revoked_at"]
    with pytest.raises(NotFound):
        tokens.revoke_token(local_lake, "0" * 12)
    with pytest.raises(InvalidInput):
        tokens.revoke_token(local_lake, "../x")


@pytest.mark.parametrize("provinces", [[], ["99"], ["4"], ["42", "xx"]])
def test_provinces_must_be_real(local_lake: Lake, provinces: list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        tokens.issue_token(local_lake, name="p", provinces=provinces)
    assert err.value.field == "provinces"


def test_bearer_header_parsing_and_scope(local_lake: Lake) -> None:
    token, _ = tokens.issue_token(local_lake, name="p", provinces=["42"])
    for headers in (
        None,
        {},
        {"authorization": ""},
        {"Authorization": "Basic abc"},
        {"authorization": "Bearer "},
    ):
        with pytest.raises(Unauthenticated):
            bearer(headers)
    principal = authenticate(local_lake, {"AUTHORIZATION": f"bearer {token}"})
    require_province(principal, "42")
    with pytest.raises(Forbidden) as err:
        require_province(principal, "23")
    assert "23" not in err.value.message
