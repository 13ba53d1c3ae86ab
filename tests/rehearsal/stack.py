"""The two generated templates, resolved into the few things a rehearsal deploys.

Everything comes from ``infra/platform.yaml`` and ``build/package/<stage>/app.yaml`` (built by
``infra.package``): bucket names, encryption and policies; roles with their trust and inline
policies; each function's role and environment. Intrinsic functions are resolved with
``tests.infra.iam_eval.resolve`` (strict: an unknown reference raises), so a template change
shows up here instead of being papered over by hand-typed names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.infra.conftest import load_template
from tests.infra.iam_eval import resolve

ROOT = Path(__file__).resolve().parents[2]
Json = dict[str, Any]

# moto's default account; cn-north-1 makes moto build aws-cn ARNs, like production.
ACCOUNT = "123456789012"
REGION = "cn-north-1"
PARTITION = "aws-cn"
URL_SUFFIX = "amazonaws.com.cn"
KEY_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@dataclass(frozen=True)
class Bucket:
    logical: str
    name: str
    arn: str
    versioned: bool
    kms_key: str | None  # default SSE-KMS key ARN, None for SSE-S3
    policy: Json | None


@dataclass(frozen=True)
class Role:
    logical: str
    name: str
    arn: str
    trust: Json
    policies: dict[str, Json]  # inline policy name → document


@dataclass(frozen=True)
class Function:
    logical: str
    handler: str  # the Chalice handler name (``app.<handler>``)
    role: str  # logical id of its role
    env: dict[str, str]


@dataclass
class Stack:
    stage: str
    values: dict[str, str]
    buckets: dict[str, Bucket] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    key_arn: str = ""
    key_policy: Json = field(default_factory=dict)
    topic_policy: Json = field(default_factory=dict)
    topics: dict[str, str | None] = field(default_factory=dict)  # SNS topic ARN → its KMS key
    platform: Json = field(default_factory=dict)  # the platform template's resources, unresolved

    def platform_value(self, logical: str, *path: str) -> Any:
        """A property of a platform resource, resolved (e.g. a workgroup's output location)."""
        node: Any = self.platform[logical]["Properties"]
        for step in path:
            node = node[step]
        return resolve(node, self.values)

    def bucket_named(self, name: str) -> Bucket | None:
        return next((b for b in self.buckets.values() if b.name == name), None)

    def function(self, handler: str) -> Function:
        return next(f for f in self.functions.values() if f.handler == handler)


def app_template(stage: str) -> Path:
    """The app template of ``stage``, built (template only, cached by input hash) if needed."""
    from infra import package

    package.build(stage, with_layer=False)
    return ROOT / "build" / "package" / stage / "app.yaml"


def _load(path: Path) -> Json:
    doc: Json = load_template(path)
    return doc


def _parameters(doc: Json, stage: str) -> dict[str, str]:
    """Parameter values as ``infra.params`` passes them to ``cloudformation deploy``."""
    from infra.params import overrides

    given = dict(o.split("=", 1) for o in overrides(stage))
    out = {}
    for name, spec in doc.get("Parameters", {}).items():
        if name in given:
            out[name] = given[name]
        elif "Default" in spec:
            out[name] = str(spec["Default"])
    return out


def _pseudo(stack_name: str) -> dict[str, str]:
    return {
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
        "AWS::Partition": PARTITION,
        "AWS::URLSuffix": URL_SUFFIX,
        "AWS::StackName": stack_name,
    }


def _names(resources: Json, values: dict[str, str], stack_name: str) -> dict[str, str]:
    """Ref and Fn::GetAtt …Arn values of the resources the policies and environments name."""
    out: dict[str, str] = {}
    for logical, res in resources.items():
        kind, props = res["Type"], res.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            name = resolve(props["BucketName"], values)
            out[logical], out[f"{logical}.Arn"] = name, f"arn:{PARTITION}:s3:::{name}"
        elif kind == "AWS::KMS::Key":
            out[logical] = KEY_ID
            out[f"{logical}.Arn"] = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
        elif kind == "AWS::Glue::Database":
            out[logical] = resolve(props["DatabaseInput"]["Name"], values)
        elif kind == "AWS::Athena::WorkGroup":
            out[logical] = resolve(props["Name"], values)
        elif kind == "AWS::SNS::Topic":
            name = resolve(props.get("TopicName", f"{stack_name}-{logical}"), values)
            out[logical] = out[f"{logical}.TopicArn"] = f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{name}"
        elif kind == "AWS::SQS::Queue":
            name = resolve(props.get("QueueName", f"{stack_name}-{logical}"), values)
            out[f"{logical}.QueueName"] = name
            out[logical] = f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT}/{name}"  # Ref: the queue URL
            out[f"{logical}.Arn"] = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"
        elif kind == "AWS::IAM::Role":
            name = resolve(props.get("RoleName", f"{stack_name}-{logical}"), values)
            out[logical], out[f"{logical}.Arn"] = name, f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"
    return out


def _roles(resources: Json, values: dict[str, str]) -> dict[str, Role]:
    roles = {}
    for logical, res in resources.items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        props = res["Properties"]
        policies = {
            resolve(p.get("PolicyName", f"{logical}Policy"), values): resolve(p["PolicyDocument"], values)
            for p in props.get("Policies", [])
        }
        roles[logical] = Role(
            logical,
            values[logical],
            values[f"{logical}.Arn"],
            resolve(props["AssumeRolePolicyDocument"], values),
            policies,
        )
    return roles


def _buckets(resources: Json, values: dict[str, str]) -> dict[str, Bucket]:
    policies = {
        resolve(r["Properties"]["Bucket"], values): resolve(r["Properties"]["PolicyDocument"], values)
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy"
    }
    out = {}
    for logical, res in resources.items():
        if res["Type"] != "AWS::S3::Bucket":
            continue
        props = res["Properties"]
        name = values[logical]
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        default = rules[0]["ServerSideEncryptionByDefault"] if rules else {}
        kms = (
            resolve(default.get("KMSMasterKeyID"), values)
            if default.get("SSEAlgorithm") == "aws:kms"
            else None
        )
        versioned = props.get("VersioningConfiguration", {}).get("Status") == "Enabled"
        out[logical] = Bucket(logical, name, values[f"{logical}.Arn"], versioned, kms, policies.get(name))
    return out


def load_stack(stage: str = "dev") -> Stack:
    """Both stacks of ``stage`` resolved against moto's account in cn-north-1."""
    platform = _load(ROOT / "infra" / "platform.yaml")
    app = _load(app_template(stage))
    platform_name, app_name = f"creditrisk-{stage}-platform", f"creditrisk-{stage}-app"

    values = {**_pseudo(platform_name), **_parameters(platform, stage)}
    values.update(_names(platform["Resources"], values, platform_name))
    for out in platform.get("Outputs", {}).values():
        if "Export" in out:
            values[f"import:{resolve(out['Export']['Name'], values)}"] = resolve(out["Value"], values)
    stack = Stack(stage, values)
    stack.buckets = _buckets(platform["Resources"], values)
    stack.roles = _roles(platform["Resources"], values)
    key = next(r for r in platform["Resources"].values() if r["Type"] == "AWS::KMS::Key")
    stack.key_arn = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
    stack.key_policy = resolve(key["Properties"]["KeyPolicy"], values)
    stack.platform = platform["Resources"]
    stack.topics = {
        values[k]: resolve(r["Properties"].get("KmsMasterKeyId"), values)
        for k, r in platform["Resources"].items()
        if r["Type"] == "AWS::SNS::Topic"
    }
    topic_policy = next(
        (r for r in platform["Resources"].values() if r["Type"] == "AWS::SNS::TopicPolicy"), None
    )
    if topic_policy:
        stack.topic_policy = resolve(topic_policy["Properties"]["PolicyDocument"], values)

    app_values = {
        **{k: v for k, v in values.items() if k.startswith("import:")},
        **_pseudo(app_name),
        **_parameters(app, stage),
    }
    app_values.update(_names(app["Resources"], app_values, app_name))
    stack.roles.update(_roles(app["Resources"], app_values))
    for logical, res in app["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        role = props["Role"]["Fn::GetAtt"][0]
        env = {
            k: str(resolve(v, app_values))
            for k, v in props.get("Environment", {}).get("Variables", {}).items()
        }
        stack.functions[logical] = Function(logical, props["Handler"].split(".", 1)[1], role, env)
    return stack
