"""The resolved stack deployed on an in-process moto server, and every authorised request recorded.

Set-up (buckets, roles, their inline policies, one ``sts:AssumeRole`` per role) runs with moto's
admin credentials before IAM enforcement is switched on; afterwards every request carries one
role's own temporary credentials and moto checks it against that role's policies. moto's check
is "very basic" (docs/rehearsal.md): actions and S3 resources only, no conditions, no bucket or
key policies. So each request moto authorises is also recorded (``Call``) and replayed through
the simulator with its context keys (``tests.rehearsal.simulator``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import boto3

from functions.aws import new_session
from tests.rehearsal.stack import REGION, Stack

ADMIN = "testing"  # moto's set-up credentials (IAM enforcement is off while they are used)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str

    def env(self) -> dict[str, str]:
        """What Lambda puts in a function's environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.token,
        }

    def session(self) -> boto3.Session:
        return new_session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=self.token,
            region_name=REGION,
        )


@dataclass(frozen=True)
class Call:
    """One request as moto authorised it: who, which IAM action on which resource, with what."""

    step: str
    principal: str  # the assumed-role session ARN
    role: str  # role name
    action: str
    resource: str
    context: dict[str, Any]
    moto_allowed: bool | None  # None: moto cannot scope this action, left to the simulator
    request: str  # METHOD path?query, for messages
    missing: bool = False  # a read of a key that does not exist (S3 answers 404 or 403)


def _s3_context(action: str, query: dict[str, list[str]], headers: Any) -> dict[str, Any]:
    """The S3 condition keys the request carries (service authorization reference for S3)."""
    ctx: dict[str, Any] = {}
    if action in ("s3:ListBucket", "s3:ListBucketVersions"):
        for param, key in (
            ("prefix", "s3:prefix"),
            ("delimiter", "s3:delimiter"),
            ("max-keys", "s3:max-keys"),
        ):
            if param in query:
                ctx[key] = query[param][0]
    for header in (
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-acl",
    ):
        value = headers.get(header)
        if value:
            ctx[f"s3:{header}"] = value
    # conditional writes (the lake's policy demands them under its record prefixes, ADR 0166)
    conditional = {"s3:PutObject": ("if-none-match", "if-match"), "s3:DeleteObject": ("if-match",)}
    for header in conditional.get(action, ()):
        value = headers.get(header)
        if value:
            ctx[f"s3:{header}"] = value
    return ctx


@dataclass
class Recorder:
    """Records what moto authorises (and refuses) while active; ``step`` names the current phase."""

    calls: list[Call] = field(default_factory=list)
    step: str = "setup"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def active(self) -> Iterator[Recorder]:
        from moto.core import enable_iam_authentication
        from moto.iam.access_control import IAMRequestBase

        original = IAMRequestBase.check_action_permitted
        recorder = self

        def check(req: Any, resource: str) -> None:
            scoped = _scoped_resource(req)
            if resource == "*" and scoped:  # moto would match "*" against the policy's ARNs
                recorder._record(req, scoped, allowed=None)
                return
            try:
                original(req, resource)
            except Exception:
                recorder._record(req, resource, allowed=False)
                raise
            recorder._record(req, resource, allowed=True)

        IAMRequestBase.check_action_permitted = check  # type: ignore[method-assign,assignment]
        try:
            with enable_iam_authentication():
                yield self
        finally:
            IAMRequestBase.check_action_permitted = original  # type: ignore[method-assign]

    def _record(self, req: Any, resource: str, *, allowed: bool | None) -> None:
        principal: str = req._access_key.arn
        role = (
            principal.split(":assumed-role/", 1)[1].split("/", 1)[0]
            if ":assumed-role/" in principal
            else principal
        )
        parsed = urlparse(req._path)
        query = parse_qs(parsed.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in dict(req._headers).items()}
        action: str = req._action
        context: dict[str, Any] = _s3_context(action, query, headers) if action.startswith("s3:") else {}
        if action == "events:PutEvents":
            sources = sorted({str(e.get("Source")) for e in _event_entries(req)})
            context = {"events:source": sources[0] if len(sources) == 1 else sources}
        missing = action in ("s3:GetObject", "s3:GetObjectVersion") and not _exists(resource, req)
        calls = [
            Call(
                self.step,
                principal,
                role,
                action,
                resource,
                context,
                allowed,
                f"{req._method} {req._path}",
                missing,
            )
        ]
        source = headers.get("x-amz-copy-source")
        if (
            action == "s3:PutObject" and source
        ):  # CopyObject also reads its source (moto checks only the target)
            src = unquote(source.split("?", 1)[0]).lstrip("/")
            arn = resource.split(":::", 1)[0] + ":::" + src
            calls.append(
                Call(self.step, principal, role, "s3:GetObject", arn, {}, allowed, f"copy source {src}")
            )
        with self._lock:
            self.calls.extend(calls)


def _scoped_resource(req: Any) -> str | None:
    """The ARN of a request moto authorises against ``*`` (it scopes only S3, SQS, IAM, STS)."""
    if req._action == "sns:Publish":
        data = req._data or {}
        arn = data.get("TopicArn") or data.get("TargetArn")
        return str(arn[0] if isinstance(arn, list) else arn) if arn else None
    if req._action == "events:PutEvents":
        buses = {e.get("EventBusName") or "default" for e in _event_entries(req)} or {"default"}
        bus = buses.pop()
        if bus.startswith("arn:"):
            return str(bus)
        return f"arn:aws-cn:events:{REGION}:{req.account_id}:event-bus/{bus}"
    return None


def _event_entries(req: Any) -> list[dict[str, Any]]:
    """The entries of a PutEvents request (a JSON-protocol body: moto's ``_data`` is empty)."""
    body = getattr(req, "_body", None) or b"{}"
    data = json.loads(body)
    return list(data.get("Entries") or []) if isinstance(data, dict) else []


def _exists(resource: str, req: Any) -> bool:
    from moto.s3.models import s3_backends

    bucket, _, key = resource.split(":::", 1)[1].partition("/")
    backend = s3_backends[req.account_id][resource.split(":", 2)[1]]
    try:
        return backend.get_object(bucket, key) is not None
    except Exception:  # NoSuchBucket and friends: not there either
        return False


def moto_evaluable(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """The statements of a bucket policy moto can evaluate: those without a Condition.

    moto checks object requests against the bucket policy but supplies no condition values and
    treats every condition as met, so ``Deny … Bool aws:SecureTransport false`` would refuse every
    request. Conditioned statements are left to the simulator (docs/rehearsal.md)."""
    if not policy:
        return None
    kept = [s for s in policy["Statement"] if "Condition" not in s]
    return {**policy, "Statement": kept} if kept else None


def deploy(stack: Stack, endpoint: str) -> dict[str, Credentials]:
    """Buckets, roles and policies of ``stack`` on moto; one assumed-role session per role."""
    admin = new_session(aws_access_key_id=ADMIN, aws_secret_access_key=ADMIN, region_name=REGION)
    s3 = admin.client("s3", endpoint_url=endpoint)
    for bucket in stack.buckets.values():
        s3.create_bucket(Bucket=bucket.name, CreateBucketConfiguration={"LocationConstraint": REGION})
        if bucket.versioned:
            s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
        policy = moto_evaluable(bucket.policy)
        if policy:
            s3.put_bucket_policy(Bucket=bucket.name, Policy=json.dumps(policy))
    sns = admin.client("sns", endpoint_url=endpoint)
    for topic in stack.topics:
        sns.create_topic(Name=topic.rsplit(":", 1)[1])
    iam = admin.client("iam", endpoint_url=endpoint)
    sts = admin.client("sts", endpoint_url=endpoint)
    creds = {}
    for logical, role in stack.roles.items():
        iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.trust))
        for name, doc in role.policies.items():
            iam.put_role_policy(RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(doc))
        c = sts.assume_role(RoleArn=role.arn, RoleSessionName="rehearsal")["Credentials"]
        creds[logical] = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    return creds
