"""Lint every IAM policy of every template with parliament (docs/adr/0073), in ``make checks``.

Parliament knows, per action, the resource types and condition keys AWS defines, so it reports a
condition that can never apply to an action (``UNKNOWN_CONDITION_FOR_ACTION``: e.g. ``s3:prefix``
on ``s3:GetBucketLocation``), unknown actions and malformed resources, which neither cfn-lint nor
checkov check. Policies are taken from: inline role policies, bucket/topic/key policies in
``infra/bootstrap.yaml`` and ``infra/platform.yaml``, and the built app template's function roles
(which carry ``.chalice/policy-*.json``). CloudFormation intrinsics are resolved to example
values first, since parliament needs concrete ARNs.

Runs in ``.venv-iac`` (parliament's pins clash with the app venv): ``python -m infra.iam_lint
infra/bootstrap.yaml infra/platform.yaml build/package/dev/app.yaml``. Exit 1 on any finding not
allow-listed below (each with its reason).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]
ACCOUNT = "111122223333"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "cn-north-1",
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com.cn",
    "AWS::StackName": "creditrisk-dev-app",
}
# (issue, where the policy is: a regular expression, why). Parliament's bundled IAM definitions lag
# AWS: an entry here must say why the finding is wrong or harmless.
ALLOWED: list[tuple[str, str, str]] = [
    (
        "RESOURCE_STAR",
        r"/KeyPolicy$",
        'In a KMS key policy "Resource": "*" means the key itself; AWS accepts nothing else there.',
    ),
]


class _Loader(yaml.SafeLoader):
    """Reads the short-form CloudFormation tags too (``!Ref`` …) as their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def _arn(resources: Json, logical: str) -> str:
    kind = resources.get(logical, {}).get("Type", "")
    name = logical.lower()
    if kind == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{name}"
    if kind == "AWS::KMS::Key":
        return f"arn:aws:kms:cn-north-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    if kind == "AWS::SQS::Queue":
        return f"arn:aws:sqs:cn-north-1:{ACCOUNT}:{name}"
    if kind == "AWS::SNS::Topic":
        return f"arn:aws:sns:cn-north-1:{ACCOUNT}:{name}"
    if kind == "AWS::IAM::Role":
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    return f"arn:aws:lambda:cn-north-1:{ACCOUNT}:function:{name}"


def _sub_value(resources: Json, name: str, variables: Json) -> str:
    if name in variables:
        return str(resolve(variables[name], resources))
    if name in PSEUDO:
        return PSEUDO[name]
    if name.endswith(".Arn"):
        return _arn(resources, name[: -len(".Arn")])
    if name in resources:
        return _ref(resources, name)
    return name.lower()


def _ref(resources: Json, logical: str) -> str:
    if logical in PSEUDO:
        return PSEUDO[logical]
    kind = resources.get(logical, {}).get("Type", "")
    if kind in ("AWS::SNS::Topic", "AWS::KMS::Key"):
        return _arn(resources, logical)
    return logical.lower()


def resolve(value: Any, resources: Json) -> Any:
    """Intrinsic functions → example strings, so that every ARN is concrete."""
    if isinstance(value, list):
        return [resolve(v, resources) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return _ref(resources, arg)
        if key == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return _arn(resources, logical) if attr == "Arn" else f"{logical.lower()}-{attr.lower()}"
        if key == "Fn::ImportValue":
            name = str(resolve(arg, resources)).rsplit("-", 1)[-1]
            if name.endswith("Arn") and "Key" in name:
                return f"arn:aws:kms:cn-north-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
            if name.endswith("TopicArn"):
                return f"arn:aws:sns:cn-north-1:{ACCOUNT}:{name.lower()}"
            return f"creditrisk-dev-{name.lower()}"
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return re.sub(
                r"\$\{([^}!][^}]*)\}", lambda m: _sub_value(resources, m.group(1), variables), text
            ).replace("${!", "${")
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(resolve(p, resources)) for p in parts)
    return {k: resolve(v, resources) for k, v in value.items()}


POLICY_RESOURCES = (
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
)


def policies(template: Json) -> Iterator[tuple[str, Json]]:
    """(where, policy document) for every identity and resource policy in a template."""
    resources: Json = template.get("Resources", {})
    for logical, res in resources.items():
        props = res.get("Properties", {})
        kind = res.get("Type", "")
        if kind == "AWS::IAM::Role":
            for pol in props.get("Policies", []):
                yield f"{logical}/{pol['PolicyName']}", resolve(pol["PolicyDocument"], resources)
        elif kind in POLICY_RESOURCES:
            yield logical, resolve(props["PolicyDocument"], resources)
        elif kind == "AWS::KMS::Key":
            yield f"{logical}/KeyPolicy", resolve(props["KeyPolicy"], resources)


def lint(path: Path) -> list[str]:
    from parliament import analyze_policy_string

    template = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    problems: list[str] = []
    count = 0
    for where, doc in policies(template):
        count += 1
        analyzed = analyze_policy_string(
            json.dumps(doc), filepath=f"{path}:{where}", include_community_auditors=False
        )
        for f in analyzed.findings:
            if any(f.issue == issue and re.search(pattern, where) for issue, pattern, _ in ALLOWED):
                continue
            problems.append(f"{path}: {where}: {f.issue} {f.detail} {f.location}")
    if count == 0:
        problems.append(f"{path}: no policies found (is this the right file?)")
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m infra.iam_lint TEMPLATE...", file=sys.stderr)
        return 2
    problems = [p for path in paths for p in lint(path)]
    for p in problems:
        print(p)
    print(
        f"parliament: {len(problems)} finding(s) in {len(paths)} template(s)"
        if problems
        else "parliament: no findings"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
