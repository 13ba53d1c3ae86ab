"""Recorded requests → ``@cloud-copilot/iam-simulate`` (tools/iam-simulate) → decisions.

The simulator evaluates identity and resource policies with condition keys, which moto does
not. Each case carries what the request really carries in AWS: ``aws:SecureTransport`` (Lambda
and the CLI use TLS), the S3 keys of the request (``s3:prefix`` only on a listing), and for the
implied KMS calls of SSE-KMS buckets ``kms:ViaService``. Rules AWS applies behind a request,
which no recording shows, are added from the templates (``implied``): S3 SSE-KMS needs
``kms:GenerateDataKey`` / ``kms:Decrypt`` on the bucket key; a missing object answers 404
only with ``s3:ListBucket`` on the bucket, otherwise 403.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.rehearsal.stack import ACCOUNT, REGION, ROOT, URL_SUFFIX, Stack

TOOL = ROOT / "tools" / "iam-simulate"


class SimulatorMissing(RuntimeError):
    """node or the pinned npm package is not installed (``make rehearse-tools``)."""


@dataclass(frozen=True)
class Case:
    role: str  # logical id of the role
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    why: str = ""  # the request or rule this case comes from

    @property
    def key(self) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
        return (self.role, self.action, self.resource, self.context)


@dataclass
class Decision:
    case: Case
    decision: str  # Allowed | ExplicitlyDenied | ImplicitlyDenied | error
    errors: Any = None

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"


@dataclass
class Simulator:
    stack: Stack
    tool: Path = TOOL
    _node: str = field(default="", init=False)

    def ensure_installed(self) -> None:
        """``npm ci`` from the lock file when node_modules is missing (a clean clone in CI)."""
        node, npm = shutil.which("node"), shutil.which("npm")
        if not node or not npm:
            raise SimulatorMissing("node and npm are needed for the IAM simulator (docs/rehearsal.md)")
        self._node = node
        if not (self.tool / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=self.tool,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SimulatorMissing(f"npm ci in {self.tool} failed: {done.stderr[-2000:]}")

    def resource_policy(self, case: Case) -> dict[str, Any] | None:
        if case.action.startswith("s3:"):
            bucket = self.stack.bucket_named(case.resource.split(":::", 1)[1].split("/", 1)[0])
            return bucket.policy if bucket else None
        if case.action.startswith("kms:"):
            return self.stack.key_policy
        if case.action.startswith("sns:"):
            return self.stack.topic_policy or None
        return None

    def _principal(self, role: str) -> str:
        name = self.stack.roles[role].name
        return f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/{name}/rehearsal"

    def run(self, cases: Iterable[Case]) -> list[Decision]:
        """One node process for all cases (duplicates evaluated once)."""
        self.ensure_installed()
        unique = list({c.key: c for c in cases}.values())
        payload = {
            "cases": [
                {
                    "id": str(i),
                    "principal": self._principal(c.role),
                    "accountId": ACCOUNT,
                    "action": c.action,
                    "resource": c.resource,
                    "context": {"aws:SecureTransport": "true", **dict(c.context)},
                    "identityPolicies": [
                        {"name": name, "policy": doc}
                        for name, doc in self.stack.roles[c.role].policies.items()
                    ],
                    "resourcePolicy": self.resource_policy(c),
                }
                for i, c in enumerate(unique)
            ]
        }
        done = subprocess.run(
            [self._node, str(self.tool / "simulate.mjs")],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"iam-simulate failed: {done.stderr[-2000:]}")
        results = json.loads(done.stdout)["results"]
        return [Decision(unique[int(r["id"])], r["decision"], r.get("errors")) for r in results]


# -- cases from recorded calls ------------------------------------------------------------------
def s3_via() -> tuple[tuple[str, str], ...]:
    return (("kms:ViaService", f"s3.{REGION}.{URL_SUFFIX}"),)


def implied(stack: Stack, role: str, action: str, resource: str, *, missing: bool = False) -> list[Case]:
    """What AWS also checks behind one request (rules, not recordings; docs/rehearsal.md)."""
    if action == "sns:Publish" and stack.topics.get(resource):
        via = (("kms:ViaService", f"sns.{REGION}.{URL_SUFFIX}"),)
        key = stack.topics[resource] or ""
        return [
            Case(role, "kms:GenerateDataKey", key, via, f"SSE-KMS topic {resource}"),
            Case(role, "kms:Decrypt", key, via, f"SSE-KMS topic {resource}"),
        ]
    if not action.startswith("s3:") or ":::" not in resource:
        return []
    bucket_name, _, key = resource.split(":::", 1)[1].partition("/")
    bucket = stack.bucket_named(bucket_name)
    out: list[Case] = []
    if bucket and bucket.kms_key and key:
        if action == "s3:PutObject":
            out.append(Case(role, "kms:GenerateDataKey", bucket.kms_key, s3_via(), f"SSE-KMS write of {key}"))
        elif action in ("s3:GetObject", "s3:GetObjectVersion") and not missing:
            out.append(Case(role, "kms:Decrypt", bucket.kms_key, s3_via(), f"SSE-KMS read of {key}"))
    if missing and bucket:
        # S3 answers a missing key with 404 only if the caller may list the bucket; else 403.
        out.append(Case(role, "s3:ListBucket", bucket.arn, (), f"404 (not 403) for missing {key}"))
    return out
