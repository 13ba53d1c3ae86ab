"""``make package``: build everything a deployment needs (docs/deploy.md, docs/adr/0051, 0054).

Outputs, under ``build/package/<stage>/``:
- ``deployment.zip`` — the function artifact from ``chalice package`` (app.py plus ``functions/``
  and ``schemas/`` shipped through ``vendor/``; no third-party code);
- ``deps-layer.zip`` — a Lambda layer with the runtime requirements the managed "AWS SDK for
  pandas" layer does not have (``requirements.txt``), from PyPI wheels for the target platform;
- ``app.yaml`` — the application stack (SAM): the chalice template, post-processed to wire the
  EventBridge upload trigger, the layers, the environment, log groups, a dead-letter queue and
  the per-function policies from ``.chalice/policy-*.json``.

Chalice's CloudFormation packager refuses ``@app.on_s3_event``; uploads reach the ingestion
function through S3 → EventBridge → ``@app.on_cw_event`` instead (docs/adr/0050). The S3 event
source stays in ``app.py`` for ``chalice local`` and the tests and is left out of the package.

Every step is cached by a hash of its inputs, so a second run with unchanged inputs is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger("infra.package")

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "package"
STAGES = ROOT / "infra" / "stages"
POLICIES = ROOT / ".chalice"
MANAGED_LAYERS = ROOT / "layers" / "managed-layers.json"
APP_NAME = "creditrisk"
SHIPPED_PACKAGES = ("functions", "schemas")
# Placeholders the policy files and environment may use, and what they resolve to in the app
# stack (the platform stack exports them; docs/adr/0052).
IMPORTS = (
    "LandingBucket",
    "LakeBucket",
    "DataKeyArn",
    "GlueDatabase",
    "PlatformWorkGroup",
    "LogRetentionDays",
    "WarningsTopicArn",
    "AlarmTopicArn",
    "AuditKeyArn",
)
LOCAL_REFS = {
    "DeadLetterQueueArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    "CorrectionQueueArn": {"Fn::GetAtt": ["CorrectionQueue", "Arn"]},
}
ASYNC_KINDS = ("ingest", "classify")  # invoked asynchronously: failures go to the DLQ
# Decisions' follow-ups (docs/adr/0144): the API queues them, this function consumes them.
QUEUE_KINDS = ("corrections",)
# AWS recommends a queue visibility timeout of 6x the consumer's timeout (Lambda's SQS event
# source guide); below 1x, AWS refuses the event source mapping.
VISIBILITY_PER_TIMEOUT = 6
# deliveries before a follow-up is kept in its dead-letter queue; AWS advises at least 5 for a
# Lambda event source, since receives the poller could not hand to a throttled function count too
CORRECTION_MAX_RECEIVES = 5
QUEUE_RETENTION = 345600  # 4 days (the SQS default) for the follow-ups
DLQ_RETENTION = 1209600  # 14 days (the SQS maximum): longer than the source queue's
PIP_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
# What every function logs through (issue 12): Lambda's own JSON format, so ``functions.*``
# INFO lines reach CloudWatch with level, logger and request id as fields.
LOGGING_CONFIG = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}
# Functions with ``Tracing: Active`` must be allowed to send traces, or Lambda refuses to
# create them (the actions have no resource-level scoping, hence "*").
XRAY_STATEMENT = {
    "Sid": "SendTraces",
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Resource": "*",
}
LAYER_ARN_PATTERN = (
    r"^arn:aws(-cn)?:lambda:[a-z0-9-]+:[0-9]{12}:layer:AWSSDKPandas-Python311(-Arm64)?:[0-9]+$"
)
Json = dict[str, Any]


class PackageError(RuntimeError):
    """A build problem the operator can fix (message says how)."""


# -- inputs -----------------------------------------------------------------------------------
def load_stage(stage: str) -> Json:
    path = STAGES / f"{stage}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in STAGES.glob("*.json")))
        raise PackageError(f"unknown stage {stage!r}; known: {known}")
    cfg: Json = json.loads(path.read_text(encoding="utf-8"))
    return cfg


def runtime_glibc(python: str) -> tuple[int, int]:
    """The glibc of the Lambda runtime's OS (layers/managed-layers.json ``runtimes``)."""
    runtimes = json.loads(MANAGED_LAYERS.read_text(encoding="utf-8"))["runtimes"]
    if python not in runtimes:
        raise PackageError(f"unknown runtime {python!r}; known: {', '.join(sorted(runtimes))}")
    major, minor = runtimes[python]["glibc"].split(".")
    return int(major), int(minor)


def platform_tags(python: str, architecture: str) -> list[str]:
    """pip ``--platform`` tags whose wheels the runtime's glibc can load, and no newer.

    pip expands neither ``manylinux_2_17`` to older tags nor ``manylinux_2_26`` downwards, so
    every glibc minor from 2.17 (manylinux2014) up to the runtime's is listed explicitly.
    """
    arch = PIP_ARCH[architecture]
    major, top = runtime_glibc(python)
    tags = [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    tags += [f"manylinux_{major}_{minor}_{arch}" for minor in range(5 if arch == "x86_64" else 17, top + 1)]
    return tags


def managed_layer_arn(cfg: Json) -> str | None:
    """The pinned managed-layer ARN for the stage's region, Python and architecture, if known."""
    if cfg.get("managed_layer_arn"):
        return str(cfg["managed_layer_arn"])
    table = json.loads(MANAGED_LAYERS.read_text(encoding="utf-8"))["arns"]
    arn = table.get(cfg["python"], {}).get(cfg["architecture"], {}).get(cfg["region"])
    return str(arn) if arn else None


def _files(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and "__pycache__" not in f.parts and not f.name.endswith(".pyc")
            )
        elif p.exists():
            yield p


def inputs_hash(paths: list[Path], *extra: str) -> str:
    h = hashlib.sha256()
    for f in _files(paths):
        h.update(f.relative_to(ROOT).as_posix().encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()


def code_inputs(stage: str) -> list[Path]:
    return [
        ROOT / "app.py",
        ROOT / "requirements.txt",
        *(ROOT / p for p in SHIPPED_PACKAGES),
        *sorted(POLICIES.glob("policy-*.json")),
        STAGES / f"{stage}.json",
        MANAGED_LAYERS,
        Path(__file__),
    ]


# -- the handlers app.py defines -------------------------------------------------------------
@dataclass(frozen=True)
class Handler:
    name: str  # chalice function name (also the key in lambda_functions)
    kind: str  # ingest | classify | api | authorizer | <name>


def discover_handlers(app: Any) -> list[Handler]:
    """Each Lambda function chalice will package, with the policy kind it gets."""
    from chalice.app import CloudWatchEventConfig, S3EventConfig, ScheduledEventConfig

    out: list[Handler] = []
    for src in app.event_sources:
        if isinstance(src, S3EventConfig):
            continue  # delivered through EventBridge in AWS (docs/adr/0050)
        if isinstance(src, CloudWatchEventConfig) and "aws.s3" in src.event_pattern.get("source", []):
            out.append(Handler(src.name, "ingest"))
        elif isinstance(src, ScheduledEventConfig):
            out.append(Handler(src.name, "classify"))
        else:
            out.append(Handler(src.name, src.name))
    out.extend(Handler(a.name, "authorizer") for a in app.builtin_auth_handlers)
    out.extend(Handler(f.name, f.name) for f in app.pure_lambda_functions)
    if app.routes:
        out.append(Handler("api_handler", "api"))
    return out


def policy_file(h: Handler) -> str:
    """``policy-<function>.json`` if present (an override), else the policy of its kind."""
    for name in (h.name, h.kind):
        if (POLICIES / f"policy-{name}.json").exists():
            return f"policy-{name}.json"
    raise PackageError(
        f"function {h.name!r} ({h.kind}) has no policy: add .chalice/policy-{h.name}.json "
        "with exactly what it uses (autogen_policy is off, docs/adr/0055)"
    )


# -- chalice ----------------------------------------------------------------------------------
def stage_source(cfg: Json, src: Path) -> None:
    """A project copy chalice can package: app.py, vendor/{functions,schemas}, no requirements."""
    if src.exists():
        shutil.rmtree(src)
    (src / ".chalice").mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", src / "app.py")
    for pkg in SHIPPED_PACKAGES:
        shutil.copytree(
            ROOT / pkg, src / "vendor" / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    # Third-party code ships in layers, never in the function zip.
    (src / "requirements.txt").write_text("", encoding="utf-8")
    for p in POLICIES.glob("policy-*.json"):
        shutil.copy2(p, src / ".chalice" / p.name)


def chalice_config(cfg: Json, handlers: list[Handler], layer_arn: str | None) -> Json:
    functions: Json = {}
    for h in handlers:
        sizing = cfg["functions"].get(h.kind, cfg["functions"].get("api"))
        functions[h.name] = {
            "iam_policy_file": policy_file(h),
            "lambda_memory_size": sizing["memory"],
            "lambda_timeout": sizing["timeout"],
            "reserved_concurrency": sizing["reserved_concurrency"],
        }
    stage: Json = {
        "api_gateway_stage": cfg["stage"],
        "api_gateway_endpoint_type": "REGIONAL",  # edge-optimised APIs do not exist in China regions
        "autogen_policy": False,
        "lambda_functions": functions,
    }
    return {"version": "2.0", "app_name": APP_NAME, "autogen_policy": False, "stages": {cfg["stage"]: stage}}


_CHALICE_RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[1] + "/vendor")
import app
from chalice.app import S3EventConfig
app.app.event_sources[:] = [e for e in app.app.event_sources if not isinstance(e, S3EventConfig)]
from infra.package import discover_handlers
handlers = discover_handlers(app.app)
if sys.argv[2] == "discover":
    print(json.dumps([[h.name, h.kind] for h in handlers]))
    raise SystemExit(0)
from chalice.cli import main
sys.argv = ["chalice", "--project-dir", sys.argv[1], "package", "--stage", sys.argv[3],
            "--pkg-format", "cloudformation", sys.argv[4]]
main()
"""


def _run_chalice(src: Path, mode: str, stage: str = "", out: str = "") -> str:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "cn-north-1"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _CHALICE_RUNNER, str(src), mode, stage, out],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise PackageError(f"chalice {mode} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# -- template post-processing -----------------------------------------------------------------
def _placeholders(text: str) -> list[str]:
    import re

    return [m for m in re.findall(r"\$\{([A-Za-z0-9_:.]+)\}", text) if "::" not in m and "." not in m]


def resolve(value: Any) -> Any:
    """Strings with ``${Name}`` placeholders become ``Fn::Sub`` with the platform's exports."""
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, str) and "${" in value:
        names = _placeholders(value)
        if not names:
            return {"Fn::Sub": value}
        variables: Json = {}
        for n in names:
            if n in IMPORTS:
                variables[n] = {"Fn::ImportValue": {"Fn::Sub": f"{APP_NAME}-${{Stage}}-{n}"}}
            elif n in LOCAL_REFS:
                variables[n] = LOCAL_REFS[n]
            else:
                raise PackageError(f"unknown placeholder ${{{n}}} in {value!r}; known: {IMPORTS}")
        return {"Fn::Sub": [value, variables]}
    return value


def _skip(*checks: tuple[str, str]) -> Json:
    return {"checkov": {"skip": [{"id": c, "comment": why} for c, why in checks]}}


NO_VPC = (
    "CKV_AWS_117",
    "The functions only call regional AWS APIs (S3, Athena, Glue, KMS) over TLS with IAM auth; a "
    "VPC would add NAT/endpoint cost and no isolation benefit (docs/adr/0055).",
)
SYNC_NO_DLQ = (
    "CKV_AWS_116",
    "Invoked synchronously by API Gateway: the caller gets the error; a DLQ never receives events.",
)
QUEUE_NO_DLQ = (
    "CKV_AWS_116",
    "Invoked by an SQS event source mapping: failed messages go to the source queue's own "
    "dead-letter queue (its redrive policy); a function DLQ only serves asynchronous invocations.",
)


def correction_queues(cfg: Json) -> Json:
    """The follow-up queue and its dead-letter queue (docs/adr/0144), sized from the consumer's
    timeout: a message is invisible for 6x the timeout while a worker runs, and kept for 14 days
    in the dead-letter queue after the last of its deliveries failed."""
    timeout = int(cfg["functions"]["corrections"]["timeout"])
    return {
        "CorrectionDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "MessageRetentionPeriod": DLQ_RETENTION,
                "KmsMasterKeyId": resolve("${DataKeyArn}"),
            },
        },
        "CorrectionQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": VISIBILITY_PER_TIMEOUT * timeout,
                "MessageRetentionPeriod": QUEUE_RETENTION,
                "KmsMasterKeyId": resolve("${DataKeyArn}"),
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["CorrectionDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": CORRECTION_MAX_RECEIVES,
                },
            },
        },
    }


def postprocess(sam: Json, cfg: Json, handlers: list[Handler], layer_arn: str | None) -> Json:
    kinds = {h.name: h.kind for h in handlers}
    res: Json = sam["Resources"]
    sam["Description"] = f"creditrisk application ({cfg['stage']}): functions, API, triggers"
    sam["Parameters"] = {
        "Stage": {"Type": "String", "AllowedValues": [cfg["stage"]], "Default": cfg["stage"]},
        "ManagedPandasLayerArn": {
            "Type": "String",
            "AllowedPattern": LAYER_ARN_PATTERN,
            "Description": "Managed AWS SDK for pandas layer (layers/managed-layers.json)",
            **({"Default": layer_arn} if layer_arn else {}),
        },
    }
    res["DepsLayer"] = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "LayerName": {"Fn::Sub": f"{APP_NAME}-${{Stage}}-deps"},
            "Description": "Runtime requirements not in the managed layer (requirements.txt)",
            "ContentUri": "./deps-layer.zip",
            "CompatibleRuntimes": [cfg["python"]],
            "CompatibleArchitectures": [cfg["architecture"]],
            "RetentionPolicy": "Retain",
        },
    }
    res["DeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "MessageRetentionPeriod": 1209600,
            "KmsMasterKeyId": resolve("${DataKeyArn}"),
        },
    }
    res.update(correction_queues(cfg))
    env = {
        "CREDITRISK_LAKE_URI": "s3://${LakeBucket}",
        "CREDITRISK_LANDING_URI": "s3://${LandingBucket}",
        "CREDITRISK_ATHENA_DATABASE": "${GlueDatabase}",
        "CREDITRISK_ATHENA_WORKGROUP": "${PlatformWorkGroup}",
        "CREDITRISK_ATHENA_OUTPUT_URI": "s3://${LakeBucket}/athena-results/platform/",
        "CREDITRISK_WARNINGS_SNS_TOPIC_ARN": "${WarningsTopicArn}",
        "CREDITRISK_UPLOAD_EVENTS_BUS": "default",  # ingest outcomes, infra/uploads_notify.py
        "CREDITRISK_DELIVERY_EVENTS_BUS": "default",  # monthly exports, infra/delivery.py
        "CREDITRISK_AUDIT_KMS_KEY_ID": "${AuditKeyArn}",  # signs the sampling audit chain (ADR 0095)
        "CREDITRISK_CORRECTION_QUEUE_URL": {"Ref": "CorrectionQueue"},  # decisions' follow-ups (ADR 0144)
        **cfg.get("environment", {}),
    }
    for logical, r in list(res.items()):
        if r.get("Type") == "AWS::IAM::Role":
            r["Properties"]["Policies"] = resolve(r["Properties"]["Policies"])
            r["Properties"]["Policies"].append(
                {
                    "PolicyName": "xray-tracing",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [XRAY_STATEMENT]},
                }
            )
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        props = r["Properties"]
        name = props["Handler"].split(".", 1)[1]
        kind = kinds.get(name, "api" if name == "app" else name)
        props["Architectures"] = [cfg["architecture"]]
        props["Layers"] = [{"Ref": "ManagedPandasLayerArn"}, {"Ref": "DepsLayer"}]
        props["KmsKeyArn"] = resolve("${DataKeyArn}")
        props["Environment"] = {"Variables": {k: resolve(v) for k, v in env.items()}}
        props["Tracing"] = "Active"
        props["LoggingConfig"] = dict(LOGGING_CONFIG)  # to /aws/lambda/<name>: the group below
        # /tmp: the streamed ingest's local copy, quarantine and curated file (docs/adr/0084); the
        # classification's result file and DuckDB spill. Lambda's default is 512 MB.
        props["EphemeralStorage"] = {"Size": int(cfg["functions"][kind].get("ephemeral_storage", 512))}
        skips = [NO_VPC]
        if kind in ASYNC_KINDS:
            props["DeadLetterQueue"] = {
                "Type": "SQS",
                "TargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
            }
        elif kind in QUEUE_KINDS:
            skips.append(QUEUE_NO_DLQ)
        else:
            skips.append(SYNC_NO_DLQ)
        r["Metadata"] = _skip(*skips)
        res[f"{logical}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{logical}}}"},
                "RetentionInDays": resolve("${LogRetentionDays}"),
                "KmsKeyId": resolve("${DataKeyArn}"),
            },
        }
        for event in props.get("Events", {}).values():
            if event.get("Type") == "SQS" and kind in QUEUE_KINDS:  # the queue declared above
                event["Properties"]["Queue"] = {"Fn::GetAtt": ["CorrectionQueue", "Arn"]}
                # the poller invokes no more than the function may run: no throttled receives
                limit = int(cfg["functions"][kind]["reserved_concurrency"])
                event["Properties"]["ScalingConfig"] = {"MaximumConcurrency": limit}
            if event.get("Type") == "CloudWatchEvent" and kind == "ingest":
                detail = event["Properties"]["Pattern"].setdefault("detail", {})
                detail["bucket"] = {"name": [resolve("${LandingBucket}")]}
                detail["object"] = {"key": [{"prefix": "incoming/"}]}
    logical_kinds = {
        logical: kinds.get(r["Properties"]["Handler"].split(".", 1)[1], "api")
        for logical, r in res.items()
        if r.get("Type") == "AWS::Serverless::Function"
    }
    res.update(alarms(cfg, res, logical_kinds))
    outputs = sam.setdefault("Outputs", {})
    for logical, r in res.items():
        if r.get("Type") == "AWS::Serverless::Function":
            outputs.setdefault(f"{logical}Name", {"Value": {"Ref": logical}})
    outputs["DeadLetterQueueUrl"] = {"Value": {"Ref": "DeadLetterQueue"}}
    outputs["CorrectionQueueUrl"] = {"Value": {"Ref": "CorrectionQueue"}}
    outputs["CorrectionDeadLetterQueueUrl"] = {"Value": {"Ref": "CorrectionDeadLetterQueue"}}
    api = res.get("RestAPI")
    if api:
        api["Properties"]["TracingEnabled"] = True
        api["Properties"]["EndpointConfiguration"] = "REGIONAL"
        res["ApiAccessLogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "RetentionInDays": resolve("${LogRetentionDays}"),
                "KmsKeyId": resolve("${DataKeyArn}"),
            },
        }
        api["Properties"]["AccessLogSetting"] = {
            "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
            "Format": json.dumps(
                {
                    "requestId": "$context.requestId",
                    "ip": "$context.identity.sourceIp",
                    "principal": "$context.authorizer.principalId",
                    "method": "$context.httpMethod",
                    "path": "$context.resourcePath",
                    "status": "$context.status",
                    "latencyMs": "$context.responseLatency",
                },
                separators=(",", ":"),
            ),
        }
        api["Metadata"] = _skip(
            (
                "CKV_AWS_120",
                "Responses are per-caller and province-scoped; caching could serve one caller's "
                "answer to another.",
            ),
        )
    return sam


# -- alarms (issue 12, "Operating it") ----------------------------------------------------------
# The application emits these as CloudWatch embedded metrics (namespace ``creditrisk``, dimension
# ``Province`` plus a province-less aggregate); the names are the contract with that code.
METRIC_NAMESPACE = "creditrisk"


def _alarm(
    description: str, metric: Json, *, threshold: float, statistic: str = "Sum", period: int = 3600
) -> Json:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            **metric,
            "Statistic": statistic,
            "Period": period,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [resolve("${AlarmTopicArn}")],
            "OKActions": [resolve("${AlarmTopicArn}")],
        },
    }


def _metric(name: str, namespace: str = METRIC_NAMESPACE, **dimensions: Any) -> Json:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }


def _waiting_alarm(queue: str, description: str) -> Json:
    """Pages as soon as one message waits in ``queue`` (a dead-letter queue: each is a failure)."""
    depth = _metric(
        "ApproximateNumberOfMessagesVisible", "AWS/SQS", QueueName={"Fn::GetAtt": [queue, "QueueName"]}
    )
    return _alarm(description, depth, threshold=1, statistic="Maximum", period=300)


def alarms(cfg: Json, res: Json, kinds: dict[str, str]) -> Json:
    """Alarms an operator pages on; every one notifies the platform's alarm topic."""
    from functions.layout import PROVINCES

    monthly_timeout = int(cfg["functions"]["classify"]["timeout"])
    out: Json = {}
    for p in sorted(PROVINCES):
        out[f"AlarmMonthlyRunFailed{p}"] = _alarm(
            f"The monthly run failed for province {p}: nothing was published for that month",
            _metric("MonthlyRunFailed", Province=p),
            threshold=1,
        )
        out[f"AlarmMonthlyRunSlow{p}"] = _alarm(
            f"The monthly run for province {p} used over 80% of the {monthly_timeout} s timeout",
            _metric("MonthlyRunSeconds", Province=p),
            threshold=int(monthly_timeout * 0.8),
            statistic="Maximum",
        )
        out[f"AlarmFilesRejected{p}"] = _alarm(
            f"Province {p} uploaded files that were rejected (see reports/ingest/{p}/)",
            _metric("FilesRejected", Province=p),
            threshold=1,
            period=86400,
        )
    out["AlarmRowsQuarantined"] = _alarm(
        "Rows were quarantined in the last day (all provinces; see quarantine/)",
        _metric("RowsQuarantined"),
        threshold=1,
        period=86400,
    )
    for logical, r in res.items():
        if r.get("Type") == "AWS::Serverless::Function" and kinds.get(logical) == "classify":
            out["AlarmMonthlyFunctionErrors"] = _alarm(
                "The monthly function itself failed (crash or timeout): no province metric was sent",
                _metric("Errors", "AWS/Lambda", FunctionName={"Ref": logical}),
                threshold=1,
            )
    out["AlarmDeadLetters"] = _waiting_alarm(
        "DeadLetterQueue",
        "Failed asynchronous invocations are waiting in the dead-letter queue (docs/deploy.md)",
    )
    out["AlarmCorrectionDeadLetters"] = _waiting_alarm(
        "CorrectionDeadLetterQueue",
        "A decision's follow-up (overdue warning, correction run) failed every delivery and waits "
        "in the correction dead-letter queue (docs/operations.md)",
    )
    if "RestAPI" in res:
        for code, threshold in (("5XXError", 1), ("4XXError", 50)):
            out[f"AlarmApi{code[:3]}"] = _alarm(
                f"The REST API answered {code[0]}xx at least {threshold} times in 5 minutes",
                _metric(code, "AWS/ApiGateway", ApiName=APP_NAME, Stage=cfg["stage"]),
                threshold=threshold,
                period=300,
            )
    return out


# -- the dependency layer ---------------------------------------------------------------------
def _deterministic_zip(src: Path, dest: Path, prefix: str = "") -> None:
    tmp = dest.with_suffix(f".{os.getpid()}.tmp")  # two test workers may zip the same layer
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            if "__pycache__" in f.parts:
                continue
            info = zipfile.ZipInfo(prefix + f.relative_to(src).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, f.read_bytes())
    tmp.replace(dest)


def build_deps_layer(cfg: Json, out: Path) -> Path:
    """``pip install`` the runtime requirements as wheels for Lambda's platform into python/."""
    reqs = ROOT / "requirements.txt"
    key = inputs_hash(
        [reqs], cfg["architecture"], cfg["python"], *platform_tags(cfg["python"], cfg["architecture"])
    )
    cache = BUILD / "layers" / f"{cfg['architecture']}-{key[:16]}.zip"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        target = cache.with_suffix(f".{os.getpid()}.d")  # own folder: another process may build it too
        shutil.rmtree(target, ignore_errors=True)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        cmd += ["--target", str(target / "python"), "--only-binary=:all:", "--implementation", "cp"]
        cmd += ["--python-version", cfg["python"].removeprefix("python"), "--no-compile"]
        for plat in platform_tags(cfg["python"], cfg["architecture"]):
            cmd += ["--platform", plat]
        cmd += ["-r", str(reqs)]
        logger.info("building the dependency layer: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise PackageError(f"pip could not build the dependency layer:\n{proc.stderr[-4000:]}")
        for junk in (target / "python").glob("*.dist-info/RECORD"):
            junk.unlink()
        _deterministic_zip(target, cache)
        shutil.rmtree(target)
    dest = out / "deps-layer.zip"
    shutil.copy2(cache, dest)
    return dest


# -- orchestration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Artifacts:
    out: Path
    template: Path
    function_zip: Path
    layer_zip: Path | None
    handlers: tuple[Handler, ...]
    managed_layer_arn: str | None


def build(stage: str, *, with_layer: bool = True, force: bool = False) -> Artifacts:
    cfg = load_stage(stage)
    out = BUILD / stage
    layer_arn = managed_layer_arn(cfg)
    digest = inputs_hash(code_inputs(stage))
    stamp = out / ".inputs-sha256"
    manifest = out / "handlers.json"
    if not force and stamp.exists() and stamp.read_text() == digest and manifest.exists():
        handlers = tuple(Handler(n, k) for n, k in json.loads(manifest.read_text()))
        cached = build_deps_layer(cfg, out) if with_layer else out / "deps-layer.zip"
        return Artifacts(
            out,
            out / "app.yaml",
            out / "deployment.zip",
            cached if cached.exists() else None,
            handlers,
            layer_arn,
        )
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    src = out / "src"
    stage_source(cfg, src)
    handlers = tuple(Handler(n, k) for n, k in json.loads(_run_chalice(src, "discover")))
    if not any(h.kind == "ingest" for h in handlers):
        logger.warning("app.py has no EventBridge upload handler: uploads will not trigger ingestion")
    (src / ".chalice" / "config.json").write_text(
        json.dumps(chalice_config(cfg, list(handlers), layer_arn), indent=2), encoding="utf-8"
    )
    chalice_out = out / "chalice"
    _run_chalice(src, "package", stage, str(chalice_out))
    sam = json.loads((chalice_out / "sam.json").read_text(encoding="utf-8"))
    sam = postprocess(sam, cfg, list(handlers), layer_arn)
    shutil.move(str(chalice_out / "deployment.zip"), out / "deployment.zip")
    template = out / "app.yaml"
    template.write_text(
        "# GENERATED by `make package` (infra/package.py); deploy with docs/deploy.md.\n"
        + yaml.safe_dump(sam, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    layer: Path | None = build_deps_layer(cfg, out) if with_layer else None
    shutil.rmtree(chalice_out)
    shutil.rmtree(src)
    manifest.write_text(json.dumps([[h.name, h.kind] for h in handlers]))
    stamp.write_text(digest)
    if layer_arn is None:
        logger.warning(
            "no managed layer ARN pinned for %s/%s/%s: pass ManagedPandasLayerArn at deploy time "
            "or set managed_layer_arn in infra/stages/%s.json",
            cfg["region"],
            cfg["python"],
            cfg["architecture"],
            stage,
        )
    return Artifacts(out, template, out / "deployment.zip", layer, handlers, layer_arn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the deployment artifacts for a stage.")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--template-only", action="store_true", help="skip the dependency layer")
    parser.add_argument("--force", action="store_true", help="rebuild even if inputs are unchanged")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        art = build(args.stage, with_layer=not args.template_only, force=args.force)
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"template:  {art.template.relative_to(ROOT)}")
    print(f"function:  {art.function_zip.relative_to(ROOT)} ({art.function_zip.stat().st_size // 1024} KiB)")
    if art.layer_zip:
        print(f"layer:     {art.layer_zip.relative_to(ROOT)} ({art.layer_zip.stat().st_size // 1024} KiB)")
    print("functions: " + ", ".join(f"{h.name} ({h.kind})" for h in art.handlers))
    print(
        f"managed layer: {art.managed_layer_arn or 'NOT PINNED for this region: pass ManagedPandasLayerArn'}"
    )
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
