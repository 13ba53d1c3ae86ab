"""Shared fixtures: a local lake, and an S3 lake on a moto server (pyarrow's S3 client needs HTTP).

Dependency injection over patching: tests build ``Settings``/``Lake`` objects and hand them in.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

# Never talk to a real AWS account from tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "cn-north-1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# moto's request recorder (fixture ``moto_requests``) writes here, not into the work tree
os.environ.setdefault(
    "MOTO_RECORDER_FILEPATH", os.path.join(tempfile.gettempdir(), f"creditrisk-moto-recording-{os.getpid()}")
)

from functions.aws import new_session
from functions.lake import Lake
from functions.settings import Settings

REGION = "cn-north-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the session (S3, Athena, Glue, SNS over real HTTP)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def boto3_session(moto_endpoint: str) -> boto3.Session:
    return new_session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture
def s3_bucket(moto_endpoint: str, boto3_session: boto3.Session) -> str:
    """A fresh, empty bucket on the moto server."""
    name = f"lake-{uuid.uuid4().hex[:12]}"
    s3 = boto3_session.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def s3_settings(moto_endpoint: str, s3_bucket: str) -> Settings:
    return Settings(lake_uri=f"s3://{s3_bucket}/lake", region=REGION, aws_endpoint_url=moto_endpoint)


@pytest.fixture
def s3_lake(s3_settings: Settings, boto3_session: boto3.Session) -> Lake:
    return Lake.from_uri(
        s3_settings.lake_uri,
        region=REGION,
        endpoint_url=s3_settings.aws_endpoint_url,
        boto3_session=boto3_session,
    )


@pytest.fixture
def local_settings(tmp_path: Path) -> Settings:
    return Settings(lake_uri=str(tmp_path / "lake"))


@pytest.fixture
def local_lake(local_settings: Settings) -> Lake:
    return Lake.from_uri(local_settings.lake_uri)


@pytest.fixture(params=["local", "s3"])
def any_lake(request: pytest.FixtureRequest) -> Lake:
    """Runs a test against both lake kinds: one code path must serve both."""
    lake: Lake = request.getfixturevalue("local_lake" if request.param == "local" else "s3_lake")
    return lake


_DENIED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>0</RequestId><HostId>0</HostId></Error>"
)


@pytest.fixture(scope="session")
def s3_denied_endpoint() -> Iterator[str]:
    """An endpoint that answers every request as S3 answers a role without the right grant
    (HEAD: 403 and no body; GET/PUT: 403 ``AccessDenied`` XML), also for a missing key when the
    role lacks ``s3:ListBucket``. moto does not enforce bucket policies without its IAM mode,
    so the real clients (pyarrow, boto3) are pointed at this to get their real error shapes."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Deny(BaseHTTPRequestHandler):
        def _deny(self, with_body: bool) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(_DENIED_BODY) if with_body else 0))
            self.end_headers()
            if with_body:
                self.wfile.write(_DENIED_BODY)

        def do_HEAD(self) -> None:
            self._deny(False)

        def do_GET(self) -> None:
            self._deny(True)

        def do_PUT(self) -> None:
            self._deny(True)

        def do_POST(self) -> None:
            self._deny(True)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def s3_denied_lake(s3_denied_endpoint: str, boto3_session: boto3.Session) -> Lake:
    """An S3 lake whose every request is refused with 403 (see ``s3_denied_endpoint``)."""
    return Lake.from_uri(
        "s3://denied-bucket/lake", region=REGION, endpoint_url=s3_denied_endpoint, boto3_session=boto3_session
    )


@pytest.fixture
def moto_requests(moto_endpoint: str) -> Iterator[Callable[[], list[tuple[str, str]]]]:
    """Records every HTTP request the moto server receives (its recorder), from any client
    (pyarrow or boto3); call the returned function for ``(method, path?query)`` pairs so far."""
    import json
    import urllib.request
    from urllib.parse import urlsplit

    def post(path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(moto_endpoint + path, method="POST")).close()

    post("/moto-api/recorder/reset-recording")
    post("/moto-api/recorder/start-recording")

    def recorded() -> list[tuple[str, str]]:
        with urllib.request.urlopen(moto_endpoint + "/moto-api/recorder/download-recording") as r:
            lines = r.read().decode().splitlines()
        out = []
        for line in lines:
            req = json.loads(line)
            url = urlsplit(req["url"])
            out.append((req["method"], url.path + (f"?{url.query}" if url.query else "")))
        return out

    yield recorded
    post("/moto-api/recorder/stop-recording")
    post("/moto-api/recorder/reset-recording")


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., tuple[int, str, str]]:
    """``creditrisk ARGS`` in a real subprocess (exit statuses as a shell sees them); the
    environment is this one's (read at each call) plus ``env``. Returns (status, stdout, stderr).
    Session-scoped so module fixtures can set up through the CLI too."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        proc = subprocess.run(
            [sys.executable, "-c", "from functions.cli import main; main()", *args],
            capture_output=True,
            text=True,
            cwd=root,
            env={**os.environ, **(env or {})},
            timeout=300,
            check=False,
        )
        return proc.returncode, proc.stdout, proc.stderr

    return run
