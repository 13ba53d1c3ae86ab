"""The built artifacts work on their own: proof that ``functions/`` and ``schemas/`` ship.

``make package`` output (built once per input hash, cached under build/package/) is unpacked
into an empty folder the way Lambda does it: the function zip as the task root, the dependency
layer's ``python/`` beside it. The managed "AWS SDK for pandas" layer cannot be downloaded
offline, so its locally installed equivalent stands in: a folder of symlinks to exactly
awswrangler and its dependency closure (pandas, pyarrow, numpy, boto3, botocore …) — nothing else
from the venv. A fresh ``python -S -E`` (no site-packages, no PYTHONPATH) that sees only those
folders imports ``app`` and invokes the handlers against a moto server (docs/adr/0051).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from functions.aws import new_session
from functions.lake import Lake
from infra import package

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("lambda_probe.py")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
MANAGED_ROOT_DIST = "awswrangler"
REGION = "cn-north-1"

pytestmark = pytest.mark.slow


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    out = []
    for req in dist.requires or []:
        if "extra ==" in req:
            continue  # optional extras are not in the managed layer
        out.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    return out


def managed_closure() -> list[metadata.Distribution]:
    """awswrangler and everything it needs (what AWS builds the managed layer from)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [MANAGED_ROOT_DIST]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        todo.extend(_requirement_names(dist))
    return list(seen.values())


def _top_level_paths(dist: metadata.Distribution) -> set[Path]:
    base = Path(str(dist.locate_file("")))
    tops: set[Path] = set()
    for f in dist.files or []:
        first = f.parts[0]
        if first.endswith(".dist-info") or first == ".." or first.startswith("__pycache__"):
            continue
        tops.add(base / first)
    return tops


def _tree_size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


@pytest.fixture(scope="session")
def artifacts() -> package.Artifacts:
    """``make package`` for dev, reused across sessions while its inputs are unchanged."""
    return package.build("dev", with_layer=True)


@pytest.fixture(scope="session")
def unpacked(artifacts: package.Artifacts, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lambda")
    task, opt = root / "task", root / "opt"
    with zipfile.ZipFile(artifacts.function_zip) as zf:
        zf.extractall(task)
    assert artifacts.layer_zip is not None
    with zipfile.ZipFile(artifacts.layer_zip) as zf:
        zf.extractall(opt)
    managed = root / "managed"
    managed.mkdir()
    for dist in managed_closure():
        for top in _top_level_paths(dist):
            if top.exists() and not (managed / top.name).exists():
                (managed / top.name).symlink_to(top)
    return {"task": task, "layer": opt / "python", "managed": managed}


def test_function_zip_ships_the_domain_code_and_no_third_party_libraries(
    artifacts: package.Artifacts,
) -> None:
    names = zipfile.ZipFile(artifacts.function_zip).namelist()
    assert "app.py" in names
    for pkg in ("functions/__init__.py", "functions/lake.py", "schemas/datasets.py", "schemas/results.py"):
        assert pkg in names, pkg
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & {"pandas", "pyarrow", "numpy", "boto3", "botocore", "awswrangler", "pydantic", "duckdb"}
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)


def test_dependency_layer_has_the_runtime_requirements_for_linux(artifacts: package.Artifacts) -> None:
    assert artifacts.layer_zip is not None
    names = zipfile.ZipFile(artifacts.layer_zip).namelist()
    assert all(n.startswith("python/") for n in names)
    tops = {n.split("/")[1] for n in names}
    for wanted in ("pydantic", "pydantic_core", "pydantic_settings", "yaml", "sqlglot"):
        assert wanted in tops, wanted
    assert not tops & {"pandas", "pyarrow", "numpy", "boto3", "botocore", "awswrangler"}
    assert any(
        re.search(r"pydantic_core/_pydantic_core\.cpython-311-x86_64-linux-gnu\.so$", n) for n in names
    )


def test_unzipped_size_fits_lambda(artifacts: package.Artifacts) -> None:
    """Function + our layer + the managed layer's documented unzipped size < 250 MB.

    The locally installed equivalents are not counted: PyPI's pyarrow/pandas wheels are far
    larger than the slimmed builds in the managed layer, so they say nothing about Lambda.
    """
    ours = 0
    for z in (artifacts.function_zip, artifacts.layer_zip):
        assert z is not None
        ours += sum(i.file_size for i in zipfile.ZipFile(z).infolist())
    managed = json.loads(package.MANAGED_LAYERS.read_text())["unzipped_size_mb"]["x86_64"] * 1024 * 1024
    total = ours + managed
    assert total < LAMBDA_UNZIPPED_LIMIT, f"{total / 2**20:.0f} MiB > 250 MiB (ours {ours / 2**20:.1f} MiB)"


@pytest.fixture
def aws(moto_endpoint: str) -> Iterator[dict[str, Any]]:
    session = new_session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    s3 = session.client("s3", endpoint_url=moto_endpoint)
    names = {}
    for kind in ("landing", "lake"):
        name = f"art-{kind}-{os.urandom(4).hex()}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        names[kind] = name
    # The platform stack's workgroup and database (infra/platform.yaml), as the functions see them.
    athena = session.client("athena", endpoint_url=moto_endpoint)
    workgroup = f"creditrisk-art-{os.urandom(3).hex()}"
    athena.create_work_group(
        Name=workgroup,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{names['lake']}/athena-results/platform/"}
        },
    )
    glue = session.client("glue", endpoint_url=moto_endpoint)
    database = f"creditrisk_art_{os.urandom(3).hex()}"
    glue.create_database(DatabaseInput={"Name": database})
    yield {
        "session": session,
        "s3": s3,
        "endpoint": moto_endpoint,
        "workgroup": workgroup,
        "database": database,
        **names,
    }


def run_probe(
    unpacked: dict[str, Path], aws: dict[str, Any], calls: list[Any], tmp_path: Path
) -> dict[str, Any]:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"calls": calls}), encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "CREDITRISK_LAKE_URI": f"s3://{aws['lake']}",
        "CREDITRISK_LANDING_URI": f"s3://{aws['landing']}",
        "CREDITRISK_AWS_ENDPOINT_URL": aws["endpoint"],
        "AWS_ENDPOINT_URL": aws["endpoint"],
        "CREDITRISK_ENGINE": "athena",
        "CREDITRISK_ATHENA_WORKGROUP": aws["workgroup"],
        "CREDITRISK_ATHENA_DATABASE": aws["database"],
        "CREDITRISK_ATHENA_OUTPUT_URI": f"s3://{aws['lake']}/athena-results/platform/",
    }
    cmd = [sys.executable, "-S", "-E", "-B", str(PROBE)]
    cmd += [str(unpacked["task"]), str(unpacked["layer"]), str(unpacked["managed"]), str(scenario)]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE-RESULT ")), None)
    assert line is not None, f"probe failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    result: dict[str, Any] = json.loads(line[len("PROBE-RESULT ") :])
    return result


def _assert_isolated(result: dict[str, Any], unpacked: dict[str, Path]) -> None:
    assert result["app_file"].startswith(str(unpacked["task"]))
    roots = result["module_roots"]
    assert roots["functions"].startswith(str(unpacked["task"]))
    assert roots["schemas"].startswith(str(unpacked["task"]))
    assert roots["chalice"].startswith(str(unpacked["task"]))
    if "pydantic" in roots:
        assert roots["pydantic"].startswith(str(unpacked["layer"]))
    assert result["foreign_modules"] == []


def _api_event(method: str, path: str, resource: str, token: str | None, **extra: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": extra.get("query"),
        "multiValueQueryStringParameters": {k: [v] for k, v in (extra.get("query") or {}).items()} or None,
        "pathParameters": extra.get("path_params"),
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "dev", "path": path},
        "body": extra.get("body"),
        "isBase64Encoded": False,
    }


def _handler(artifacts: package.Artifacts, kind: str) -> str:
    names = [h.name for h in artifacts.handlers if h.kind == kind]
    if not names:
        pytest.skip(f"app.py defines no {kind} handler (yet): nothing to invoke")
    return names[0]


def test_sampling_api_and_authorizer_run_from_the_artifacts(
    artifacts: package.Artifacts, unpacked: dict[str, Path], aws: dict[str, Any], tmp_path: Path
) -> None:
    from functions.auth.tokens import issue_token
    from functions.uscc import make

    lake = Lake.from_uri(
        f"s3://{aws['lake']}", region=REGION, endpoint_url=aws["endpoint"], boto3_session=aws["session"]
    )
    token, _ = issue_token(lake, name="artifact-test", provinces=["42"])
    auth = _handler(artifacts, "authorizer")
    arn = "arn:aws-cn:execute-api:cn-north-1:111122223333:abc/dev/GET/v1/classifications/x"
    uscc = make("420100", "MA4K0001")
    calls: list[list[Any]] = [
        [auth, "good", {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": arn}],
        [auth, "bad", {"type": "TOKEN", "authorizationToken": "Bearer crk_nope", "methodArn": arn}],
        [
            "api_handler",
            "lookup",
            _api_event(
                "GET",
                f"/v1/classifications/{uscc}",
                "/v1/classifications/{uscc}",
                token,
                query={"month": "2026-10"},
                path_params={"uscc": uscc},
            ),
        ],
        [
            "api_handler",
            "anonymous",
            _api_event(
                "GET",
                f"/v1/classifications/{uscc}",
                "/v1/classifications/{uscc}",
                None,
                path_params={"uscc": uscc},
            ),
        ],
        [
            "api_handler",
            "badjson",
            _api_event("POST", "/v1/sampling/plans", "/v1/sampling/plans", token, body="{not json"),
        ],
    ]
    for c in calls[2:]:
        c[2]["headers"]["Content-Type"] = "application/json"
    result = run_probe(unpacked, aws, calls, tmp_path)
    _assert_isolated(result, unpacked)
    got = result["calls"]
    good = got[f"{auth}:good"]
    assert good["ok"], good
    assert good["result"]["principalId"]
    assert good["result"]["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert got[f"{auth}:bad"]["ok"] is False and got[f"{auth}:bad"]["message"] == "Unauthorized"
    lookup = got["api_handler:lookup"]
    assert lookup["ok"], lookup
    assert lookup["result"]["statusCode"] in (200, 404), lookup
    assert (
        json.loads(lookup["result"]["body"])["error"] == "not_found" or lookup["result"]["statusCode"] == 200
    )
    assert got["api_handler:anonymous"]["result"]["statusCode"] == 401
    assert got["api_handler:badjson"]["result"]["statusCode"] == 400


def test_upload_handler_runs_from_the_artifacts(
    artifacts: package.Artifacts, unpacked: dict[str, Path], aws: dict[str, Any], tmp_path: Path
) -> None:
    name = _handler(artifacts, "ingest")
    key = "incoming/42/penalties/2026-10.csv"
    body = (ROOT / "tests" / "fixtures" / "artifact-penalties.csv").read_bytes()
    put = aws["s3"].put_object(Bucket=aws["landing"], Key=key, Body=body)
    event = json.loads((ROOT / "tests" / "fixtures" / "eventbridge-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = aws["landing"]
    event["detail"]["object"].update({"key": key, "size": len(body), "etag": put["ETag"].strip('"')})
    result = run_probe(unpacked, aws, [[name, "upload", event]], tmp_path)
    _assert_isolated(result, unpacked)
    call = result["calls"][f"{name}:upload"]
    assert call["ok"], call
    listed = aws["s3"].list_objects_v2(Bucket=aws["lake"], Prefix="reports/ingest/42/penalties/")
    assert listed.get("KeyCount", 0) >= 1, "no ingest report written"
    archived = aws["s3"].list_objects_v2(Bucket=aws["lake"], Prefix="archive/42/penalties/")
    assert archived.get("KeyCount", 0) >= 1, "upload not archived"
    # Real-time warnings ran on the Athena path without DuckDB (docs/adr/0068): one UNLOAD per
    # rule reached the workgroup; moto executes none, so nothing is raised, and nothing failed.
    warned = call["result"]["warnings"]
    assert warned["status"] == "raised" and warned["raised"] == 0, warned
    athena = aws["session"].client("athena", endpoint_url=aws["endpoint"])
    ids = athena.list_query_executions(WorkGroup=aws["workgroup"])["QueryExecutionIds"]
    sqls = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]
    assert sqls and all(q.startswith("UNLOAD (") for q in sqls)


def test_monthly_handler_runs_from_the_artifacts(
    artifacts: package.Artifacts, unpacked: dict[str, Path], aws: dict[str, Any], tmp_path: Path
) -> None:
    """An upload, then the monthly run over it, both from the artifacts (Athena engine on moto)."""
    upload = _handler(artifacts, "ingest")
    name = _handler(artifacts, "classify")
    key = "incoming/42/entities/2026-10.csv"
    body = (ROOT / "tests" / "fixtures" / "artifact-entities.csv").read_bytes()
    aws["s3"].put_object(Bucket=aws["landing"], Key=key, Body=body)
    created = json.loads((ROOT / "tests" / "fixtures" / "eventbridge-object-created.json").read_text())
    created["detail"]["bucket"]["name"] = aws["landing"]
    created["detail"]["object"].update({"key": key, "size": len(body)})
    event = json.loads((ROOT / "tests" / "fixtures" / "scheduled-event.json").read_text())
    result = run_probe(unpacked, aws, [[upload, "entities", created], [name, "monthly", event]], tmp_path)
    _assert_isolated(result, unpacked)
    assert result["calls"][f"{upload}:entities"]["ok"], result["calls"][f"{upload}:entities"]
    call = result["calls"][f"{name}:monthly"]
    assert call["ok"], call
    assert call["result"]["month"] == "2026-10"
    # The run found the province the upload created and submitted its SQL to the workgroup.
    # moto's Athena executes no SQL, so the run then stops with a clear "no output" message
    # (never a crash); with real Athena the same statements publish the month.
    outcome = call["result"]["provinces"]["42"]
    athena = aws["session"].client("athena", endpoint_url=aws["endpoint"])
    submitted = athena.list_query_executions(WorkGroup=aws["workgroup"])["QueryExecutionIds"]
    assert submitted, "no query reached the Athena workgroup"
    assert outcome["status"] == "published" or "Athena wrote 0 data files" in outcome["message"], outcome
