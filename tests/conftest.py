"""Shared fixtures: a local lake, and an S3 lake on a moto server (pyarrow's S3 client needs HTTP).

Dependency injection over patching: tests build ``Settings``/``Lake`` objects and hand them in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

# Never talk to a real AWS account from tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "cn-north-1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

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
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


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
