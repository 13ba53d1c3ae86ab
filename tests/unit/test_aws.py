"""boto3 sessions share the parsed service models, never credentials or region (docs/adr/0159)."""

from __future__ import annotations

import pytest

from functions.aws import new_session


def test_sessions_share_the_loader_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    a = new_session(aws_access_key_id="key-a", aws_secret_access_key="s", region_name="cn-north-1")
    b = new_session(aws_access_key_id="key-b", aws_secret_access_key="s", region_name="cn-northwest-1")
    assert a._session.get_component("data_loader") is b._session.get_component("data_loader")
    assert a._session is not b._session
    assert (a.get_credentials().access_key, a.region_name) == ("key-a", "cn-north-1")
    assert (b.get_credentials().access_key, b.region_name) == ("key-b", "cn-northwest-1")
    # a role's environment is read by the session made under it (the rehearsal switches roles so)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env-1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    assert new_session().get_credentials().access_key == "from-env-1"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env-2")
    assert new_session().get_credentials().access_key == "from-env-2"


def test_the_loaders_search_path_does_not_grow_with_each_session() -> None:
    """boto3 appends its data folder to the loader at every ``Session``: shared, it is kept once."""
    loader = new_session()._session.get_component("data_loader")
    before = list(loader.search_paths)
    for _ in range(3):
        new_session()
    assert loader.search_paths == before and len(set(before)) == len(before)


def test_a_client_is_made_from_the_shared_models() -> None:
    client = new_session(region_name="cn-north-1").client(
        "s3", aws_access_key_id="k", aws_secret_access_key="s", endpoint_url="http://127.0.0.1:9"
    )
    assert client.meta.region_name == "cn-north-1" and client.meta.partition == "aws-cn"
    assert "PutObject" in client.meta.service_model.operation_names
