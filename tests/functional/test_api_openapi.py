"""The OpenAPI document agrees with the code, and fuzzing from it never yields a 5xx.

The fuzz runs against the real ``chalice local`` gateway (authorizer included) served in this
process on a loopback port, with a bounded number of examples per operation.
"""

from __future__ import annotations

import collections
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

import app as app_module
from functions import layout
from functions.auth import tokens
from functions.lake import Lake
from functions.settings import Settings
from tests.sampling_data import publish, results_table
from tests.uploads_data import ingest_examples

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "openapi" / "openapi.yaml"
DOC = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
MONTH = "2026-10"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("openapi_generate", ROOT / "openapi" / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_routes_in_app_match_the_document() -> None:
    in_app = {(path, method.lower()) for path, methods in app_module.app.routes.items() for method in methods}
    in_doc = {(path, method) for path, ops in DOC["paths"].items() for method in ops}
    assert in_app == in_doc


def test_document_is_generated_from_the_models() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == _generator().render()


def test_document_is_valid_openapi() -> None:
    from openapi_spec_validator import validate

    validate(DOC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``chalice local``'s gateway on 127.0.0.1:<free port>, on a lake with one published month."""
    from chalice.config import Config
    from chalice.local import LocalDevServer

    lake_dir = tmp_path_factory.mktemp("fuzz-lake")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CREDITRISK_LAKE_URI", str(lake_dir))
        mp.delenv("CREDITRISK_AWS_ENDPOINT_URL", raising=False)
        app_module.reset()
        lake = Lake.from_uri(str(lake_dir))
        publish(lake, results_table("42", 400, run_id="run-fuzz"), MONTH, "42")
        ingest_examples(lake, Settings(lake_uri=str(lake_dir)))  # uploads of every outcome
        token, _ = tokens.issue_token(lake, name="fuzzer", provinces=list(layout.PROVINCES))
        dev = LocalDevServer(app_module.app, Config(chalice_stage="dev"), "127.0.0.1", 0)
        port = dev.server.server_address[1]
        thread = threading.Thread(target=dev.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield {"base_url": f"http://127.0.0.1:{port}", "token": token}
        finally:
            dev.shutdown()
            thread.join(timeout=5)
            app_module.reset()


def test_local_gateway_enforces_the_authorizer(server: dict[str, str]) -> None:
    import requests

    url = f"{server['base_url']}/v1/classifications/91420100000000000X?month={MONTH}"
    assert requests.get(url, timeout=10).status_code == 401
    bad = requests.get(url, headers={"Authorization": "Bearer crk_000000000000_" + "x" * 43}, timeout=10)
    assert bad.status_code == 401 and bad.json()["error"] == "unauthenticated"
    ok = requests.get(url, headers={"Authorization": f"Bearer {server['token']}"}, timeout=10)
    assert ok.status_code in (400, 404)  # authenticated: the handler answered


@pytest.fixture(scope="module")
def http() -> Iterator[Any]:
    """One session for every fuzz case: ``trust_env`` off, so no proxy settings apply to the
    loopback gateway and requests skips its per-call environment scan (~20% of a case's CPU).
    Every case says ``Connection: close``: python's http.server under ``chalice local`` keeps a
    kept-alive connection waiting for the next request while an answer without a length (HEAD,
    some errors) is read to its end, and the two would wait on each other until the timeout."""
    import requests

    with requests.Session() as session:
        session.trust_env = False
        yield session


schema = schemathesis.openapi.from_dict(DOC)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_fuzz_no_5xx_and_conforming_answers(case: Any, server: dict[str, str], http: Any) -> None:
    if case.method.upper() != case.operation.method.upper():
        # Probes such as TRACE hit python's http.server (501), not the app; API Gateway answers those.
        return
    response = case.call_and_validate(
        base_url=server["base_url"],
        session=http,
        headers={"Authorization": f"Bearer {server['token']}", "Connection": "close"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    STATUSES[f"{case.method} {case.operation.path}"].add(response.status_code)


STATUSES: dict[str, set[int]] = collections.defaultdict(set)


def test_fuzz_reached_the_handlers() -> None:
    """The fuzz got past validation: a plan was drawn (201) and bad input was refused (400)."""
    if not STATUSES:
        pytest.skip("fuzz test not run in this session")
    assert 201 in STATUSES["POST /v1/sampling/plans"]
    assert 400 in STATUSES["POST /v1/sampling/plans"]
    assert 200 in STATUSES["GET /v1/uploads"] and 400 in STATUSES["GET /v1/uploads"]
