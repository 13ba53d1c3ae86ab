"""The lake bucket's policy as deployed (``infra/platform.yaml``) applied to a moto S3 lake.

moto is not given conditioned bucket-policy statements (it would treat every condition as met,
docs/rehearsal.md), so it cannot refuse a write under ``plans/`` that lacks ``If-None-Match``.
Here each object write and delete the code sends is decided first by :mod:`tests.infra.iam_eval`
against the template's statements, with the request's conditional headers as S3 condition keys,
and a Deny is answered as S3 answers it (403 ``AccessDenied``), so the code meets the refusal
it would meet in AWS. The rehearsal checks that evaluator against the IAM simulator on the
requests the API really made (``test_home_made_evaluator_agrees_with_the_simulator``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.awsrequest import AWSResponse

from tests.infra.conftest import load_template
from tests.infra.iam_eval import Request, evaluate, resolve

if TYPE_CHECKING:
    from functions.lake import Lake

ROOT = Path(__file__).resolve().parents[1]
PARTITION = "aws-cn"
_ANYONE = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied (lake bucket policy)</Message><RequestId>0</RequestId></Error>"
)


def lake_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """The template's ``LakeBucketPolicy`` with the bucket at ``bucket_arn`` (which may carry a
    key prefix: a test lake's root inside a shared moto bucket)."""
    resources = load_template(ROOT / "infra" / "platform.yaml")["Resources"]
    doc: dict[str, Any] = resolve(
        resources["LakeBucketPolicy"]["Properties"]["PolicyDocument"],
        {"LakeBucket.Arn": bucket_arn, "LakeBucket": bucket_arn.split(":::", 1)[1]},
    )
    return doc


def _action(method: str, query: dict[str, list[str]], headers: Any) -> str | None:
    """The IAM action of an object request (None: not a write or delete of one object)."""
    if method == "PUT" or (method == "POST" and ("uploads" in query or "uploadId" in query)):
        return "s3:PutObject"  # PutObject, CopyObject, and every step of a multipart upload
    if method == "DELETE":
        return "s3:DeleteObjectVersion" if "versionId" in query else "s3:DeleteObject"
    return None


@dataclass
class Policed:
    """What the policy decided, request by request: ``(action, key, context, decision)``."""

    policy: dict[str, Any]
    bucket: str
    decisions: list[tuple[str, str, dict[str, str], str]] = field(default_factory=list)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        url = urlsplit(request.url)
        bucket, _, key = unquote(url.path).lstrip("/").partition("/")
        action = _action(request.method, parse_qs(url.query, keep_blank_values=True), request.headers)
        if bucket != self.bucket or not key or action is None:
            return None
        context = {"aws:SecureTransport": "true"}  # Lambda and the CLI use TLS; moto is plain HTTP
        for header in ("If-None-Match", "If-Match"):
            value = request.headers.get(header)
            if value is not None:
                context[f"s3:{header.lower()}"] = value.decode() if isinstance(value, bytes) else str(value)
        arn = f"arn:{PARTITION}:s3:::{bucket}/{key}"
        decision = evaluate([_ANYONE], Request(action, arn, context), resource_policies=[self.policy])
        self.decisions.append((action, key, context, decision))
        if decision != "deny":
            return None
        headers = {"Content-Type": "application/xml", "Content-Length": str(len(_DENIED))}
        return AWSResponse(request.url, 403, headers, _Raw(_DENIED))


class _Raw:
    """The raw stream an :class:`AWSResponse` reads its body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def police(lake: Lake) -> Policed:
    """Enforce the lake bucket's policy on ``lake``'s S3 client (object writes and deletes)."""
    bucket, _, root = lake.path("").partition("/")
    policed = Policed(
        lake_bucket_policy(f"arn:{PARTITION}:s3:::{bucket}/{root.strip('/')}".rstrip("/")), bucket
    )
    lake.s3_client.meta.events.register("before-send.s3", policed)
    return policed
