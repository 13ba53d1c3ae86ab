"""One rehearsal per session: the stacks on a moto server with IAM enforced, then an upload, the
ingest, the monthly run, an auditor read, the inspection platform and ``creditrisk evaluate``,
each with its own role's credentials.

The scenario runs once (module fixtures would repeat 30 s of work); tests read its outcome.
IAM enforcement is on only while the scenario runs, so no other test sees it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.rehearsal.moto_stack import ADMIN, Call, Credentials, Recorder, deploy
from tests.rehearsal.stack import REGION, Stack, load_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROVINCE = "42"
MONTH = "2026-10"
UPLOADS = {  # landing key → fixture body
    f"incoming/{PROVINCE}/entities/{MONTH}.csv": "artifact-entities.csv",
    f"incoming/{PROVINCE}/penalties/{MONTH}.csv": "artifact-penalties.csv",
    f"incoming/{PROVINCE}/inspectors/{MONTH}.csv": "artifact-inspectors.csv",  # plans need a roster
}
GONE = f"incoming/{PROVINCE}/penalties/never-uploaded.csv"
CURATED_FALLBACK = f"curated/entities/province={PROVINCE}/ingest=0/part-0.parquet"


@dataclass
class Attempt:
    """A request a role must not be able to make, and what moto answered."""

    role: str
    action: str
    bucket: str
    key: str
    moto_blind: str = ""  # why moto lets it through (docs/rehearsal.md); the simulator must not
    status: int | None = None  # HTTP status moto answered (None: it succeeded)


@dataclass
class Rehearsal:
    stack: Stack
    endpoint: str
    creds: dict[str, Credentials]
    calls: list[Call] = field(default_factory=list)
    ingests: list[dict[str, Any]] = field(default_factory=list)
    gone: dict[str, Any] = field(default_factory=dict)
    monthly: dict[str, Any] = field(default_factory=dict)
    audit_counts: dict[str, int] = field(default_factory=dict)
    authorized: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    plan_status: list[int] = field(default_factory=list)
    token_id: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)  # creditrisk evaluate's outcome
    failures: dict[str, str] = field(default_factory=dict)  # step → what went wrong
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def landing(self) -> str:
        return self.stack.buckets["LandingBucket"].name

    @property
    def lake(self) -> str:
        return self.stack.buckets["LakeBucket"].name


def _invoke(r: Rehearsal, handler: str, event: dict[str, Any]) -> Any:
    """Run a Chalice handler as Lambda would (``as_function``)."""
    with as_function(r, handler) as client:
        return client.lambda_.invoke(handler, event).payload


@contextmanager
def as_function(r: Rehearsal, handler: str) -> Iterator[Any]:
    """A Chalice test client in the function's environment from the template, with its role's
    credentials in AWS_*; DuckDB instead of Athena, S3 at the moto endpoint."""
    from chalice.test import Client

    import app as app_module

    fn = r.stack.function(handler)
    env = {
        **fn.env,
        **r.creds[fn.role].env(),
        "CREDITRISK_ENGINE": "duckdb",
        "CREDITRISK_AWS_ENDPOINT_URL": r.endpoint,
        "CREDITRISK_REGION": REGION,
    }
    if env.pop("CREDITRISK_AUDIT_KMS_KEY_ID", None) is not None:
        # moto checks KMS calls against Resource "*" only (a blind spot: the API role's
        # GenerateMac on the audit key is denied there); the grant is proven by the policy tests
        # (tests/infra/test_iam_policies.py), the chain here is signed with a local key (ADR 0126)
        key_file = Path(tempfile.mkdtemp(prefix="rehearsal-audit-")) / "audit.key"
        key_file.write_text("ef" * 32, encoding="ascii")
        env["CREDITRISK_AUDIT_KEY_FILE"] = str(key_file)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CREDITRISK_")]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        app_module.reset()
        try:
            with Client(app_module.app) as client:
                yield client
        finally:
            app_module.reset()


def _upload_event(bucket: str, key: str, put: dict[str, Any] | None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / "eventbridge-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = bucket
    obj = event["detail"]["object"]
    obj["key"] = key
    obj["etag"] = (put or {}).get("ETag", '"0"').strip('"')
    obj["version-id"] = (put or {}).get("VersionId", obj["version-id"])
    return event


NOT_RESOURCE = "moto reads a Deny statement with NotResource (no Resource) as an Allow"
CONDITIONED = "moto is given no conditioned bucket-policy statement (moto_evaluable)"


def forbidden(r: Rehearsal, curated_key: str, result_key: str) -> list[Attempt]:
    """Requests each role must not make, on objects the run really wrote (writes go beside them)."""
    from functions import layout

    upload = next(iter(UPLOADS))
    other = upload.replace(f"/{PROVINCE}/", "/23/")
    forged = result_key.rsplit("/", 1)[0] + "/part-forged.parquet"
    plan = layout.plan_key(PROVINCE, str(r.plan.get("plan_id") or f"{PROVINCE}-{'0' * 20}"))
    return [
        Attempt("Uploader42", "s3:PutObject", r.landing, other),
        Attempt("Uploader42", "s3:GetObject", r.landing, upload),
        Attempt("Uploader42", "s3:DeleteObject", r.landing, upload),
        Attempt("Uploader42", "s3:PutObject", r.lake, upload),
        Attempt("Uploader23", "s3:PutObject", r.landing, upload),
        Attempt("AuditorRole", "s3:GetObject", r.lake, curated_key),
        Attempt("AuditorRole", "s3:PutObject", r.lake, forged, moto_blind=NOT_RESOURCE),
        Attempt("AuditorRole", "s3:DeleteObject", r.lake, result_key),
        Attempt("AuditorRole", "s3:GetObject", r.landing, upload),
        Attempt("OnUploadEventRole", "s3:PutObject", r.lake, forged),
        Attempt("OnUploadEventRole", "s3:PutObject", r.landing, upload),
        Attempt("ClassifyMonthlyRole", "s3:GetObject", r.landing, upload),
        Attempt("ClassifyMonthlyRole", "s3:PutObject", r.lake, curated_key),
        Attempt("BearerAuthRole", "s3:GetObject", r.lake, result_key),
        # creditrisk evaluate publishes nothing and deletes no scratch (the lifecycle rule does)
        Attempt("EvaluatorRole", "s3:PutObject", r.lake, forged, moto_blind=NOT_RESOURCE),
        Attempt("EvaluatorRole", "s3:DeleteObject", r.lake, forged, moto_blind=NOT_RESOURCE),
        Attempt("EvaluatorRole", "s3:GetObject", r.landing, upload),
        Attempt("EvaluatorRole", "s3:GetObject", r.lake, "_auth/tokens/none.json"),
        # the API reads four curated datasets for a task's supervision set (ADR 0123), not penalties
        Attempt("ApiHandlerRole", "s3:GetObject", r.lake, curated_key.replace("/entities/", "/penalties/")),
        # nobody rewrites or removes a stored plan, the role that wrote it included (ADR 0166)
        Attempt("ApiHandlerRole", "s3:PutObject", r.lake, plan, moto_blind=CONDITIONED),
        Attempt("ApiHandlerRole", "s3:DeleteObject", r.lake, plan),
    ]


def _attempt(r: Rehearsal, a: Attempt) -> None:
    s3 = r.creds[a.role].session().client("s3", endpoint_url=r.endpoint)
    ops: dict[str, Callable[[], Any]] = {
        "s3:PutObject": lambda: s3.put_object(Bucket=a.bucket, Key=a.key, Body=b"rehearsal"),
        "s3:GetObject": lambda: s3.get_object(Bucket=a.bucket, Key=a.key)["Body"].read(),
        "s3:DeleteObject": lambda: s3.delete_object(Bucket=a.bucket, Key=a.key),
    }
    try:
        ops[a.action]()
    except ClientError as exc:
        a.status = int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def _audit(r: Rehearsal) -> dict[str, int]:
    """The auditor reads the published month with its own credentials (S3 part of a query)."""
    import pyarrow.parquet as pq

    from functions import layout

    s3 = r.creds["AuditorRole"].session().client("s3", endpoint_url=r.endpoint)
    key = layout.classification_key(MONTH, PROVINCE)
    listed = s3.list_objects_v2(Bucket=r.lake, Prefix=key.rsplit("/", 1)[0] + "/")
    assert key in [o["Key"] for o in listed.get("Contents", [])]
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=r.lake, Key=key)["Body"].read()))
    classes = table.column("risk_class").to_pylist()
    return {c: classes.count(c) for c in sorted(set(classes))}


def _evaluate(r: Rehearsal) -> dict[str, Any]:
    """``creditrisk evaluate`` as an analyst with the evaluator role (docs/adr/0150): the
    backtest of the published month and samr-general 1.1 against 1.2 (the side that did not
    publish the month is re-classified into ``backtests/``). DuckDB over S3 here; what Athena
    checks as the caller is simulated."""
    from functions.analysis.backtest import backtest
    from functions.analysis.challenger import compare
    from functions.classify.load import load_system
    from functions.lake import Lake
    from functions.settings import Settings

    creds = r.creds["EvaluatorRole"]
    settings = Settings(
        lake_uri=f"s3://{r.lake}", region=REGION, aws_endpoint_url=r.endpoint, engine="duckdb"
    )
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith(("CREDITRISK_", "AWS_"))]:
            mp.delenv(name)
        for name, value in creds.env().items():
            mp.setenv(name, value)
        lake = Lake.from_uri(
            settings.lake_uri, region=REGION, endpoint_url=r.endpoint, boto3_session=creds.session()
        )
        cut = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
        run = {"first": MONTH, "last": MONTH, "province": PROVINCE, "settings": settings, "cutoff": cut}
        alone = backtest(lake, **run, replicates=100)
        versus = compare(
            lake,
            **run,
            champion=load_system("samr-general@1.1"),
            challenger=load_system("samr-general@1.2"),
            replicates=100,
        )
    return {"backtest": alone, "compare": versus}


def _issue_token(r: Rehearsal) -> str:
    """An operator's job (``creditrisk token issue``), done with set-up credentials."""
    from functions.auth import tokens
    from functions.aws import new_session
    from functions.lake import Lake

    admin = new_session(aws_access_key_id=ADMIN, aws_secret_access_key=ADMIN, region_name=REGION)
    lake = Lake.from_uri(f"s3://{r.lake}", region=REGION, endpoint_url=r.endpoint, boto3_session=admin)
    token, record = tokens.issue_token(lake, name=f"platform-{PROVINCE}", provinces=[PROVINCE])
    r.token_id = record["token_id"]
    return token


def _sampling(r: Rehearsal, token: str) -> None:
    """The inspection platform's calls: the authorizer Lambda, then the API Lambda (whose local
    gateway runs the authorizer again in-process, under the API role)."""
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": "arn:rehearsal"}
    r.authorized = _invoke(r, "bearer_auth", event)
    with as_function(r, "app") as client:
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = {
            "month": MONTH,
            "province": PROVINCE,
            "ratios": {"A": 1.0, "B": 1.0, "C": 1.0, "D": 1.0},
            "mode": "test",
        }
        created = client.http.post("/v1/sampling/plans", headers=auth, body=json.dumps(body).encode())
        r.plan = json.loads(created.body)
        fetched = client.http.get(f"/v1/sampling/plans/{r.plan.get('plan_id')}/targets", headers=auth)
        r.plan_status = [created.status_code, fetched.status_code]


def run_rehearsal(endpoint: str) -> Rehearsal:
    """Each step runs even if an earlier one failed (its failure is kept in ``failures``), so a
    broken policy shows as failed assertions and denied requests, not as one set-up error."""
    from functions import layout

    stack = load_stack("dev")
    r = Rehearsal(stack, endpoint, deploy(stack, endpoint))
    token = _issue_token(r)
    recorder = Recorder()
    puts: dict[str, dict[str, Any]] = {}

    def upload() -> None:
        uploader = r.creds[f"Uploader{PROVINCE}"].session().client("s3", endpoint_url=endpoint)
        for key, body in UPLOADS.items():
            puts[key] = uploader.put_object(Bucket=r.landing, Key=key, Body=(FIXTURES / body).read_bytes())

    def ingest() -> None:
        for key in UPLOADS:
            r.ingests.append(_invoke(r, "on_upload_event", _upload_event(r.landing, key, puts.get(key))))
        r.gone = _invoke(r, "on_upload_event", _upload_event(r.landing, GONE, None))

    def monthly() -> None:
        event = json.loads((FIXTURES / "scheduled_classify_event.json").read_text())
        event["time"] = "2026-10-31T18:00:00Z"  # 02:00 China time on 1 November: classifies October
        r.monthly = _invoke(r, "classify_monthly", event)

    def audit() -> None:
        r.audit_counts = _audit(r)

    def sampling() -> None:
        _sampling(r, token)

    def evaluate() -> None:
        r.evaluation = _evaluate(r)

    def attempts() -> None:
        written = [
            c.resource
            for c in recorder.calls
            if "/curated/entities/" in c.resource and c.action == "s3:PutObject"
        ]
        curated = written[0].split(":::", 1)[1].split("/", 1)[1] if written else CURATED_FALLBACK
        r.attempts = forbidden(r, curated, layout.classification_key(MONTH, PROVINCE))
        for attempt in r.attempts:
            _attempt(r, attempt)

    steps: dict[str, Callable[[], None]] = {
        "upload": upload,
        "ingest": ingest,
        "monthly": monthly,
        "audit": audit,
        "sampling": sampling,
        "evaluate": evaluate,
        "forbidden": attempts,
    }
    with recorder.active():
        for name, step in steps.items():
            recorder.step = name
            try:
                step()
            except Exception as exc:  # kept for the tests' messages; later steps still run
                r.failures[name] = f"{type(exc).__name__}: {exc}"[:1000]
    r.calls = recorder.calls
    return r


@pytest.fixture(scope="session")
def rehearsal() -> Iterator[Rehearsal]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield run_rehearsal(f"http://{host}:{port}")
    finally:
        server.stop()
