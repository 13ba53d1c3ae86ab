"""The scoping rules of issue 5, proved on the policies as deployed (docs/adr/0055).

Uploaders: put-only into their own ``incoming/<PP>/``. Auditor: reads results through Athena,
changes nothing. Functions: only what they use. Policies are read from the generated platform
template and from ``.chalice/policy-*.json`` (resolved the way infra/package.py wires them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.layout import PROVINCES
from infra import package
from tests.infra.conftest import load_template
from tests.infra.iam_eval import Request, evaluate, resolve

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "111122223333"
PARTITION = "aws-cn"
REGION = "cn-north-1"
LANDING = "creditrisk-dev-landing-111122223333-cn-north-1"
LAKE = "creditrisk-dev-lake-111122223333-cn-north-1"
KEY = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/0000-test"
AUDIT_KEY = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/0000-audit"
VALUES: dict[str, str] = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com.cn",
    "AWS::StackName": "creditrisk-dev-app",
    "Stage": "dev",
    "LandingBucket": LANDING,
    "LakeBucket": LAKE,
    "LandingBucket.Arn": f"arn:{PARTITION}:s3:::{LANDING}",
    "LakeBucket.Arn": f"arn:{PARTITION}:s3:::{LAKE}",
    "AccessLogBucket": "creditrisk-dev-access-logs",
    "AccessLogBucket.Arn": f"arn:{PARTITION}:s3:::creditrisk-dev-access-logs",
    "DataKey.Arn": KEY,
    "AuditKey.Arn": AUDIT_KEY,
    "GlueDatabase": "creditrisk_dev",
    "AuditWorkGroup": "creditrisk-dev-audit",
    "PlatformWorkGroup": "creditrisk-dev",
    "DeadLetterQueue.Arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:dlq",
    "CorrectionQueue.Arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:corrections",
    "CorrectionDeadLetterQueue.Arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:corrections-dlq",
    "UploadOutcomesKey.Arn": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/0000-notify",
    **{
        f"Uploader{p}.Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/creditrisk-dev-uploader-{p}"
        for p in PROVINCES
    },
    **{
        f"UploadOutcomes{p}": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:creditrisk-dev-uploads-{p}"
        for p in PROVINCES
    },
    **{
        f"UploadOutcomes{p}Rule.Arn": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/uploads-{p}"
        for p in PROVINCES
    },
    **{
        f"Platform{p}.Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/creditrisk-dev-platform-{p}"
        for p in PROVINCES
    },
    **{
        f"Delivery{p}": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:creditrisk-dev-delivery-{p}"
        for p in PROVINCES
    },
    **{
        f"Delivery{p}Rule.Arn": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/delivery-{p}"
        for p in PROVINCES
    },
    **{
        f"import:creditrisk-dev-{k}": v
        for k, v in {
            "LandingBucket": LANDING,
            "LakeBucket": LAKE,
            "DataKeyArn": KEY,
            "GlueDatabase": "creditrisk_dev",
            "PlatformWorkGroup": "creditrisk-dev",
            "LogRetentionDays": "30",
            "WarningsTopicArn": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:creditrisk-dev-inspection-tasks",
            "AuditKeyArn": AUDIT_KEY,
        }.items()
    },
}
S3_VIA = {"kms:ViaService": f"s3.{REGION}.amazonaws.com.cn"}


def obj(bucket: str, key: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}"


@pytest.fixture(scope="module")
def platform() -> dict[str, Any]:
    resources: dict[str, Any] = load_template(ROOT / "infra" / "platform.yaml")["Resources"]
    return resources


def role_policies(platform: dict[str, Any], logical: str) -> list[dict[str, Any]]:
    """The role's inline policies and the ``AWS::IAM::Policy`` resources attached to it."""
    props = platform[logical]["Properties"]
    attached = [
        r["Properties"]
        for r in platform.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": logical} in r["Properties"]["Roles"]
    ]
    return [resolve(p["PolicyDocument"], VALUES) for p in [*props["Policies"], *attached]]


def bucket_policies(platform: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        LANDING: resolve(platform["LandingBucketPolicy"]["Properties"]["PolicyDocument"], VALUES),
        LAKE: resolve(platform["LakeBucketPolicy"]["Properties"]["PolicyDocument"], VALUES),
    }


def decide(
    identity: list[dict[str, Any]],
    platform: dict[str, Any],
    action: str,
    resource: str,
    **context: Any,
) -> str:
    bucket = resource.split(":::", 1)[1].split("/", 1)[0] if ":s3:::" in resource else None
    resource_policies = [bucket_policies(platform)[bucket]] if bucket in (LANDING, LAKE) else []
    return evaluate(identity, Request(action, resource, context), resource_policies=resource_policies)


CREATE_ONCE = {"s3:if-none-match": "*"}  # the header the lake's policy demands on records (ADR 0166)


# -- uploaders --------------------------------------------------------------------------------
def test_uploader_42_puts_only_into_its_own_incoming_prefix(platform: dict[str, Any]) -> None:
    p42 = role_policies(platform, "Uploader42")
    assert decide(p42, platform, "s3:PutObject", obj(LANDING, "incoming/42/penalties/x.csv")) == "allow"
    assert decide(p42, platform, "s3:PutObject", obj(LANDING, "incoming/23/penalties/x.csv")) != "allow"
    assert decide(p42, platform, "s3:PutObject", obj(LANDING, "incoming/421/x.csv")) != "allow"
    assert decide(p42, platform, "s3:PutObject", obj(LANDING, "incoming/x.csv")) != "allow"
    assert decide(p42, platform, "s3:PutObject", obj(LAKE, "results/classifications/x")) != "allow"
    assert decide(p42, platform, "s3:PutObject", obj(LAKE, "incoming/42/x.csv")) != "allow"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:GetObject", obj(LANDING, "incoming/42/penalties/x.csv")),
        ("s3:GetObjectVersion", obj(LANDING, "incoming/42/penalties/x.csv")),
        ("s3:ListBucket", bucket_arn(LANDING)),
        ("s3:DeleteObject", obj(LANDING, "incoming/42/penalties/x.csv")),
        ("s3:PutObjectAcl", obj(LANDING, "incoming/42/penalties/x.csv")),
        ("s3:GetObject", obj(LAKE, "results/classifications/month=2026-10/province=42/part-0.parquet")),
        ("s3:GetObject", obj(LAKE, "archive/42/penalties/i/x.csv")),
        ("s3:ListBucket", bucket_arn(LAKE)),
        (
            "athena:StartQueryExecution",
            f"arn:{PARTITION}:athena:{REGION}:{ACCOUNT}:workgroup/creditrisk-dev-audit",
        ),
        ("glue:GetTable", f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT}:table/creditrisk_dev/classifications"),
        ("kms:Decrypt", KEY),  # directly, not through S3
    ],
)
def test_uploader_reads_nothing(platform: dict[str, Any], action: str, resource: str) -> None:
    assert decide(role_policies(platform, "Uploader42"), platform, action, resource) != "allow"


def test_uploader_may_use_the_key_only_through_s3(platform: dict[str, Any]) -> None:
    p42 = role_policies(platform, "Uploader42")
    assert decide(p42, platform, "kms:GenerateDataKey", KEY, **S3_VIA) == "allow"
    assert decide(p42, platform, "kms:GenerateDataKey", KEY) != "allow"


def test_every_province_has_an_uploader_confined_to_itself(platform: dict[str, Any]) -> None:
    for province in PROVINCES:
        policies = role_policies(platform, f"Uploader{province}")
        allowed = [
            p
            for p in PROVINCES
            if decide(policies, platform, "s3:PutObject", obj(LANDING, f"incoming/{p}/entities/a.csv"))
            == "allow"
        ]
        assert allowed == [province]


def test_uploads_without_tls_are_refused(platform: dict[str, Any]) -> None:
    p42 = role_policies(platform, "Uploader42")
    key = obj(LANDING, "incoming/42/penalties/x.csv")
    assert decide(p42, platform, "s3:PutObject", key, **{"aws:SecureTransport": "false"}) == "deny"


# -- uploaders learn what happened (issue 13, docs/adr/0088) ----------------------------------
def topic(province: str) -> str:
    return VALUES[f"UploadOutcomes{province}"]


def rule(province: str) -> str:
    return VALUES[f"UploadOutcomes{province}Rule.Arn"]


def decide_topic(
    identity: list[dict[str, Any]], platform: dict[str, Any], action: str, province: str, **ctx: Any
) -> str:
    """Identity policies plus the topic's own policy (whose Denies bind every principal)."""
    policy = resolve(platform[f"UploadOutcomes{province}Policy"]["Properties"]["PolicyDocument"], VALUES)
    return evaluate(identity, Request(action, topic(province), ctx), resource_policies=[policy])


def as_role(province: str, protocol: str = "https") -> dict[str, str]:
    return {"aws:PrincipalArn": VALUES[f"Uploader{province}.Arn"], "sns:Protocol": protocol}


def test_every_uploader_subscribes_to_its_own_province_outcomes_only(platform: dict[str, Any]) -> None:
    for province in PROVINCES:
        policies = role_policies(platform, f"Uploader{province}")
        allowed = [
            p
            for p in PROVINCES
            if decide_topic(policies, platform, "sns:Subscribe", p, **as_role(province)) == "allow"
        ]
        assert allowed == [province]
    p42 = role_policies(platform, "Uploader42")
    assert decide_topic(p42, platform, "sns:Subscribe", "42", **as_role("42", "sqs")) == "allow"
    assert decide_topic(p42, platform, "sns:Subscribe", "42", **as_role("42", "email")) != "allow"
    assert decide_topic(p42, platform, "sns:Publish", "42", **as_role("42")) != "allow"
    insecure = {**as_role("42"), "aws:SecureTransport": "false"}
    assert decide_topic(p42, platform, "sns:Subscribe", "42", **insecure) == "deny"


def test_no_one_else_subscribes_or_publishes_even_with_broad_iam(platform: dict[str, Any]) -> None:
    """An administrator's ``sns:*`` or another province's role does not open a topic: its policy
    denies every principal but the province's uploader role (subscribe) and rule (publish)."""
    admin = [{"Statement": [{"Effect": "Allow", "Action": "sns:*", "Resource": "*"}]}]
    someone = {"aws:PrincipalArn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/admin", "sns:Protocol": "https"}
    assert decide_topic(admin, platform, "sns:Subscribe", "42", **someone) == "deny"
    assert decide_topic(admin, platform, "sns:Subscribe", "42", **as_role("23")) == "deny"
    assert decide_topic(admin, platform, "sns:Subscribe", "42", **as_role("42")) == "allow"
    assert decide_topic(admin, platform, "sns:Publish", "42", **someone) == "deny"
    assert decide_topic(admin, platform, "sns:Publish", "42", **{"aws:SourceArn": rule("23")}) == "deny"
    assert decide_topic(admin, platform, "sns:Publish", "42", **{"aws:SourceArn": rule("42")}) == "allow"


def test_each_province_rule_forwards_only_its_own_outcomes(platform: dict[str, Any]) -> None:
    for province in PROVINCES:
        props = platform[f"UploadOutcomes{province}Rule"]["Properties"]
        assert props["EventPattern"]["detail"] == {"province": [province]}
        assert props["EventPattern"]["source"] == ["creditrisk.ingest"]
        assert props["Targets"] == [{"Id": "province-topic", "Arn": {"Ref": f"UploadOutcomes{province}"}}]
        policy = platform[f"UploadOutcomes{province}Policy"]["Properties"]["PolicyDocument"]["Statement"]
        publish = next(s for s in policy if s["Sid"] == "OnlyTheProvinceRulePublishes")
        assert publish["Principal"] == {"Service": "events.amazonaws.com"}
        assert publish["Condition"] == {
            "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [f"UploadOutcomes{province}Rule", "Arn"]}}
        }


def test_outcome_topics_are_encrypted_with_a_key_eventbridge_may_use(platform: dict[str, Any]) -> None:
    for province in PROVINCES:
        assert platform[f"UploadOutcomes{province}"]["Properties"]["KmsMasterKeyId"] == {
            "Fn::GetAtt": ["UploadOutcomesKey", "Arn"]
        }
    key = platform["UploadOutcomesKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    events = next(
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}
    )
    assert sorted(events["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert events["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# -- auditor ----------------------------------------------------------------------------------
AUDIT_WG = f"arn:{PARTITION}:athena:{REGION}:{ACCOUNT}:workgroup/creditrisk-dev-audit"
PLATFORM_WG = f"arn:{PARTITION}:athena:{REGION}:{ACCOUNT}:workgroup/creditrisk-dev"
GLUE = f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT}"
RESULTS_TABLE = f"{GLUE}:table/creditrisk_dev/classifications"
CURATED = "curated/penalties/province=42/ingest=i/part-0.parquet"


def test_athena_query_actions_are_one_list(platform: dict[str, Any]) -> None:
    """Running queries as the caller is one concept (``infra.platform.ATHENA_QUERY``): the
    evaluator has exactly it, the auditor it plus the interactive actions (query history, result
    streaming) only people use, and each function role a part of it, never the interactive ones."""
    from infra.platform import ATHENA_QUERY, ATHENA_QUERY_INTERACTIVE

    def athena_actions(policies: Any) -> set[str]:
        found: set[str] = set()
        for doc in policies:
            for st in doc["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                if st["Effect"] == "Allow":
                    found |= {a for a in actions if a.startswith("athena:")}
        return found

    assert athena_actions(role_policies(platform, "EvaluatorRole")) == set(ATHENA_QUERY)
    auditor = athena_actions(role_policies(platform, "AuditorRole"))
    assert auditor == set(ATHENA_QUERY) | set(ATHENA_QUERY_INTERACTIVE)
    for path in sorted((ROOT / ".chalice").glob("policy-*.json")):
        actions = athena_actions([json.loads(path.read_text())])
        assert actions <= set(ATHENA_QUERY), f"{path.name}: {sorted(actions - set(ATHENA_QUERY))}"


def test_auditor_can_query_results_through_athena(platform: dict[str, Any]) -> None:
    aud = role_policies(platform, "AuditorRole")
    part = "results/classifications/month=2026-10/province=42/part-0.parquet"
    assert decide(aud, platform, "athena:StartQueryExecution", AUDIT_WG) == "allow"
    assert decide(aud, platform, "athena:GetQueryResults", AUDIT_WG) == "allow"
    assert decide(aud, platform, "glue:GetTable", RESULTS_TABLE) == "allow"
    assert decide(aud, platform, "glue:GetPartitions", RESULTS_TABLE) == "allow"
    assert decide(aud, platform, "s3:GetObject", obj(LAKE, part)) == "allow"
    assert decide(aud, platform, "s3:GetObject", obj(LAKE, "results/runs/r1/manifest.json")) == "allow"
    assert decide(aud, platform, "s3:ListBucket", bucket_arn(LAKE), **{"s3:prefix": "results/x"}) == "allow"
    # GetBucketLocation carries no s3:prefix: it must be allowed without that condition.
    assert decide(aud, platform, "s3:GetBucketLocation", bucket_arn(LAKE)) == "allow"
    assert decide(aud, platform, "s3:PutObject", obj(LAKE, "athena-results/audit/q1.csv")) == "allow"
    assert decide(aud, platform, "kms:Decrypt", KEY, **S3_VIA) == "allow"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:PutObject", obj(LAKE, "results/classifications/month=2026-10/province=42/part-0.parquet")),
        ("s3:PutObject", obj(LAKE, "curated/penalties/province=42/ingest=i/part-0.parquet")),
        ("s3:PutObject", obj(LAKE, "athena-results/platform/q.csv")),
        ("s3:PutObject", obj(LANDING, "incoming/42/penalties/x.csv")),
        ("s3:DeleteObject", obj(LAKE, "results/classifications/month=2026-10/province=42/part-0.parquet")),
        ("s3:DeleteObject", obj(LAKE, "athena-results/audit/q1.csv")),
        ("s3:DeleteObjectVersion", obj(LAKE, "results/runs/r1/manifest.json")),
        ("s3:PutBucketPolicy", bucket_arn(LAKE)),
        ("s3:PutLifecycleConfiguration", bucket_arn(LAKE)),
        ("glue:DeleteTable", RESULTS_TABLE),
        ("glue:UpdateTable", RESULTS_TABLE),
        ("glue:CreateTable", f"{GLUE}:table/creditrisk_dev/mine"),
        ("athena:UpdateWorkGroup", AUDIT_WG),
        ("athena:StartQueryExecution", PLATFORM_WG),
        ("kms:Decrypt", KEY),
    ],
)
def test_auditor_cannot_change_anything(platform: dict[str, Any], action: str, resource: str) -> None:
    assert decide(role_policies(platform, "AuditorRole"), platform, action, resource) != "allow"


@pytest.mark.parametrize(
    "key",
    [
        "curated/penalties/province=42/ingest=i/part-0.parquet",
        "archive/42/penalties/i/x.csv",
        "quarantine/42/penalties/i/rejected.jsonl",
        "_auth/tokens/abc.json",
        "plans/42/42-0123.json",
    ],
)
def test_auditor_reads_only_results(platform: dict[str, Any], key: str) -> None:
    assert decide(role_policies(platform, "AuditorRole"), platform, "s3:GetObject", obj(LAKE, key)) != "allow"


def test_auditor_queries_the_results_tables_and_reads_ingest_reports(platform: dict[str, Any]) -> None:
    """Warnings, tasks, coverage and ingest reports are Glue tables auditors query (issue 16)."""
    aud = role_policies(platform, "AuditorRole")
    tables = ("warnings", "tasks", "coverage", "ingest_reports")
    analysis = ("analysis_regions", "analysis_industries", "analysis_migration")  # ADR 0149
    for name in (*tables, *analysis):
        assert decide(aud, platform, "glue:GetTable", f"{GLUE}:table/creditrisk_dev/{name}") == "allow"
    part = "results/analysis_regions/month=2026-10/province=42/regions.parquet"
    assert decide(aud, platform, "s3:GetObject", obj(LAKE, part)) == "allow"
    report = "reports/ingest/42/penalties/i1.json"
    assert decide(aud, platform, "s3:GetObject", obj(LAKE, report)) == "allow"
    assert (
        decide(aud, platform, "s3:ListBucket", bucket_arn(LAKE), **{"s3:prefix": "reports/ingest/42"})
        == "allow"
    )
    assert decide(aud, platform, "s3:PutObject", obj(LAKE, report)) != "allow"
    assert decide(aud, platform, "s3:GetObject", obj(LAKE, "reports/monthly/x.html")) != "allow"


def test_auditor_sees_only_the_results_table(platform: dict[str, Any]) -> None:
    aud = role_policies(platform, "AuditorRole")
    assert decide(aud, platform, "glue:GetTable", f"{GLUE}:table/creditrisk_dev/curated_penalties") != "allow"


# -- functions --------------------------------------------------------------------------------
def function_policy(kind: str) -> list[dict[str, Any]]:
    raw = json.loads((ROOT / ".chalice" / f"policy-{kind}.json").read_text(encoding="utf-8"))
    return [resolve(package.resolve(raw), VALUES)]


def test_ingest_reads_uploads_and_writes_only_ingest_areas(platform: dict[str, Any]) -> None:
    ing = function_policy("ingest")
    assert decide(ing, platform, "s3:GetObject", obj(LANDING, "incoming/42/penalties/x.csv")) == "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, "archive/42/penalties/i/x.csv")) == "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, CURATED)) == "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LANDING, "incoming/42/penalties/x.csv")) != "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, "results/classifications/x")) != "allow"
    assert decide(ing, platform, "s3:GetObject", obj(LAKE, "_auth/tokens/abc.json")) != "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, "results/runs/r/c.parquet")) != "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, "results/reports/month=x/report.html")) != "allow"
    assert decide(ing, platform, "athena:StartQueryExecution", AUDIT_WG) != "allow"
    # Nothing ingested or derived is ever deleted (direct writes; docs/adr/0073).
    for key in ("archive/42/p/i/x.csv", CURATED, "quarantine/42/x", "reports/ingest/42/x.json"):
        assert decide(ing, platform, "s3:DeleteObject", obj(LAKE, key)) != "allow", key


def test_ingest_gets_404_not_403_for_a_missing_upload(platform: dict[str, Any]) -> None:
    """S3 answers NoSuchKey (404) for a missing key only to a caller that may ListBucket. AWS does
    not document that this implicit check carries the key as ``s3:prefix``, so the grant has no
    prefix condition (the landing bucket holds only uploads; names, not contents). Without it a
    vanished upload answered 403 and the event ended in the dead-letter queue instead of the
    "object gone" path of app.py."""
    ing = function_policy("ingest")
    key = "incoming/42/penalties/gone.csv"
    assert decide(ing, platform, "s3:ListBucket", bucket_arn(LANDING)) == "allow"  # no context key
    assert decide(ing, platform, "s3:ListBucket", bucket_arn(LANDING), **{"s3:prefix": key}) == "allow"
    assert decide(ing, platform, "s3:GetBucketLocation", bucket_arn(LANDING)) == "allow"


def test_ingest_raises_warnings_for_what_it_touched(platform: dict[str, Any]) -> None:
    """Real-time warnings on upload (docs/adr/0068): Athena in the platform workgroup, reads the
    published classes, writes warnings and tasks, notifies; the classification stays out of reach."""
    ing = function_policy("ingest")
    part = "results/classifications/month=2026-10/province=42/part-0.parquet"
    assert decide(ing, platform, "athena:StartQueryExecution", PLATFORM_WG) == "allow"
    assert decide(ing, platform, "glue:GetTable", f"{GLUE}:table/creditrisk_dev/curated_penalties") == "allow"
    assert decide(ing, platform, "glue:CreateTable", f"{GLUE}:table/creditrisk_dev/x") != "allow"
    assert decide(ing, platform, "s3:GetObject", obj(LAKE, part)) == "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, part)) != "allow"
    warn = "results/warnings/month=2026-11/province=42/part-w1.parquet"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, warn)) == "allow"
    assert (
        decide(ing, platform, "s3:PutObject", obj(LAKE, "results/tasks/month=2026-11/province=42/p"))
        == "allow"
    )
    unload = "athena-results/platform/unload/w1/warning_rule_x/20261101_0001"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, unload)) == "allow"
    assert decide(ing, platform, "s3:DeleteObject", obj(LAKE, unload)) == "allow"
    assert decide(ing, platform, "s3:DeleteObject", obj(LAKE, "athena-results/platform/q.csv")) != "allow"


TOPIC = f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:creditrisk-dev-inspection-tasks"
SNS_VIA = {"kms:ViaService": f"sns.{REGION}.amazonaws.com.cn"}


@pytest.mark.parametrize("kind", ["ingest", "classify"])
def test_monthly_and_ingest_publish_inspection_tasks(platform: dict[str, Any], kind: str) -> None:
    pol = function_policy(kind)
    assert decide(pol, platform, "sns:Publish", TOPIC) == "allow"
    assert decide(pol, platform, "sns:Publish", TOPIC.replace("inspection-tasks", "other")) != "allow"
    assert decide(pol, platform, "kms:GenerateDataKey", KEY, **SNS_VIA) == "allow"
    assert decide(pol, platform, "sns:Subscribe", TOPIC) != "allow"


DEFAULT_BUS = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/default"


def test_ingest_announces_outcomes_on_the_default_bus_only(platform: dict[str, Any]) -> None:
    ing = function_policy("ingest")
    mine = {"events:source": "creditrisk.ingest"}
    assert decide(ing, platform, "events:PutEvents", DEFAULT_BUS, **mine) == "allow"
    assert decide(ing, platform, "events:PutEvents", DEFAULT_BUS, **{"events:source": "aws.s3"}) != "allow"
    # events:source is multivalued (one per entry): a batch must not smuggle in another source
    mixed = {"events:source": ["creditrisk.ingest", "aws.s3"]}
    assert decide(ing, platform, "events:PutEvents", DEFAULT_BUS, **mixed) != "allow"
    assert (
        decide(ing, platform, "events:PutEvents", DEFAULT_BUS.replace("default", "other"), **mine) != "allow"
    )
    assert decide(ing, platform, "sns:Publish", topic("42")) != "allow"  # only through its rule


@pytest.mark.parametrize("kind", ["classify", "api", "authorizer"])
def test_other_functions_announce_nothing(kind: str, platform: dict[str, Any]) -> None:
    pol = function_policy(kind)
    assert (
        decide(pol, platform, "events:PutEvents", DEFAULT_BUS, **{"events:source": "creditrisk.ingest"})
        != "allow"
    )


def test_api_reads_ingest_reports_but_not_what_was_uploaded(platform: dict[str, Any]) -> None:
    api = function_policy("api")
    assert decide(api, platform, "s3:GetObject", obj(LAKE, "reports/ingest/42/penalties/abc.json")) == "allow"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "reports/ingest/42/penalties/abc.json")) != "allow"
    assert decide(api, platform, "s3:GetObject", obj(LAKE, "archive/42/penalties/i/x.csv")) != "allow"
    assert (
        decide(api, platform, "s3:GetObject", obj(LAKE, "quarantine/42/penalties/i/rejected.jsonl"))
        != "allow"
    )
    assert decide(api, platform, "s3:GetObject", obj(LANDING, "incoming/42/penalties/x.csv")) != "allow"


def test_api_reads_the_inspector_roster_and_disclosures_only(platform: dict[str, Any]) -> None:
    """Plans are staffed from the curated roster; no other curated dataset is in reach (ADR 0097)."""
    api = function_policy("api")
    roster = "curated/inspectors/province=42/ingest=abc/part-0.parquet"
    assert decide(api, platform, "s3:GetObject", obj(LAKE, roster)) == "allow"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, roster)) != "allow"
    assert decide(api, platform, "s3:GetObject", obj(LAKE, CURATED)) != "allow"
    disclosure = "results/disclosures/province=42/42-0123456789abcdef0123.json"
    assert decide(api, platform, "s3:GetObject", obj(LAKE, disclosure)) == "allow"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, disclosure)) != "allow"


def test_api_runs_the_supervision_set_on_athena_within_its_inputs(platform: dict[str, Any]) -> None:
    """Registering a task with tolerance lists or re-inspection limits runs one statement on the
    platform workgroup (ADR 0123): the API reads those four curated inputs, its own UNLOAD
    scratch and the catalogue, and nothing else curated; it never changes the catalogue."""
    api = function_policy("api")
    for ds in ("supervision_lists", "entities", "annual_reports", "inspections"):
        key = f"curated/{ds}/province=42/ingest=i/part-0.parquet"
        assert decide(api, platform, "s3:GetObject", obj(LAKE, key)) == "allow"
        assert decide(api, platform, "s3:PutObject", obj(LAKE, key)) != "allow"
    assert decide(api, platform, "s3:GetObject", obj(LAKE, CURATED)) != "allow"
    assert decide(api, platform, "athena:StartQueryExecution", PLATFORM_WG) == "allow"
    assert decide(api, platform, "athena:StartQueryExecution", AUDIT_WG) != "allow"
    scratch = "athena-results/platform/unload/supervision-42-2026-10-abc/x.parquet"
    assert decide(api, platform, "s3:DeleteObject", obj(LAKE, scratch)) == "allow"
    assert decide(api, platform, "s3:DeleteObject", obj(LAKE, "results/runs/r/c.parquet")) != "allow"
    assert decide(api, platform, "glue:GetTable", f"{GLUE}:table/creditrisk_dev/curated_entities") == "allow"
    for action in ("glue:CreateTable", "glue:DeleteTable"):
        assert decide(api, platform, action, f"{GLUE}:table/creditrisk_dev/curated_entities") != "allow"


@pytest.mark.parametrize("kind", ["api", "authorizer"])
def test_request_paths_cannot_publish_tasks(kind: str, platform: dict[str, Any]) -> None:
    assert decide(function_policy(kind), platform, "sns:Publish", TOPIC) != "allow"


def test_warnings_topic_is_encrypted_and_tls_only(platform: dict[str, Any]) -> None:
    topic = platform["WarningsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    stmts = platform["WarningsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in stmts if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_classify_reads_curated_publishes_results_and_never_touches_uploads(platform: dict[str, Any]) -> None:
    cls = function_policy("classify")
    assert decide(cls, platform, "s3:GetObject", obj(LAKE, CURATED)) == "allow"
    assert decide(cls, platform, "s3:PutObject", obj(LAKE, "results/runs/r/c.parquet")) == "allow"
    assert decide(cls, platform, "s3:GetObject", obj(LAKE, "plans/42/42-abc.json")) == "allow"
    assert decide(cls, platform, "s3:PutObject", obj(LAKE, "plans/42/42-abc.json")) != "allow"
    assert decide(cls, platform, "athena:StartQueryExecution", PLATFORM_WG) == "allow"
    assert decide(cls, platform, "athena:StartQueryExecution", AUDIT_WG) != "allow"
    assert decide(cls, platform, "s3:PutObject", obj(LAKE, "curated/penalties/province=42/x")) != "allow"
    assert decide(cls, platform, "s3:GetObject", obj(LANDING, "incoming/42/penalties/x.csv")) != "allow"
    assert decide(cls, platform, "s3:GetObject", obj(LAKE, "_auth/tokens/abc.json")) != "allow"
    assert (
        decide(cls, platform, "glue:DeleteTable", f"{GLUE}:table/creditrisk_dev/curated_penalties") != "allow"
    )
    assert (
        decide(cls, platform, "glue:DeleteTable", f"{GLUE}:table/creditrisk_dev/classify_run_2026_10_42_x")
        == "allow"
    )


# -- evaluator (creditrisk evaluate, docs/adr/0150) ----------------------------------------------
SCRATCH = "backtests/classifications/job=42-x/month=2026-10/province=42/part-0.parquet"
CTAS = f"{GLUE}:table/creditrisk_dev/classify_run_42_2026_06_20261203t000000z_ab_challenger_2026_06"


def test_evaluator_runs_backtests_and_champion_challenger_on_athena(platform: dict[str, Any]) -> None:
    """What ``creditrisk evaluate`` does on Athena: queries in the platform workgroup over the
    published classifications, the curated inputs and the scratch table; the challenger's CTAS
    (``classify_run_*``), its copy into ``backtests/`` and the UNLOAD read-back."""
    ev = role_policies(platform, "EvaluatorRole")
    for action in ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"):
        assert decide(ev, platform, action, PLATFORM_WG) == "allow", action
    for table in (
        "classifications",
        "field_classifications",
        "backtest_classifications",
        "curated_inspections",
        "curated_entities",
    ):
        for action in ("glue:GetTable", "glue:GetPartitions"):
            assert decide(ev, platform, action, f"{GLUE}:table/creditrisk_dev/{table}") == "allow", table
    for action in ("glue:CreateTable", "glue:DeleteTable"):
        assert decide(ev, platform, action, CTAS) == "allow", action
    for key in (
        CURATED,
        "reports/ingest/42/penalties/i1.json",
        "results/classifications/month=2026-10/province=42/part-0.parquet",
        "results/classifications/month=2026-10/province=42/_current.json",
        "results/field_classifications/field=food/month=2026-10/province=42/part-0.parquet",
        "results/field_classifications/field=food/month=2026-10/province=42/_current.json",
        SCRATCH,
        "athena-results/platform/tables/q1/0.parquet",
    ):
        assert decide(ev, platform, "s3:GetObject", obj(LAKE, key)) == "allow", key
    for key in (SCRATCH, "athena-results/platform/tables/q1/0.parquet", "athena-results/platform/unload/j/0"):
        assert decide(ev, platform, "s3:PutObject", obj(LAKE, key)) == "allow", key
    assert decide(ev, platform, "s3:DeleteObject", obj(LAKE, "athena-results/platform/unload/j/0")) == "allow"
    for prefix in (
        "curated/inspections/province=42",
        "results/classifications/",
        "backtests/classifications/",
    ):
        ctx = {"s3:prefix": prefix}
        assert decide(ev, platform, "s3:ListBucket", bucket_arn(LAKE), **ctx) == "allow", prefix
    # a missing month's ``_current.json`` must answer 404, which S3 decides on ListBucket
    # without any s3:prefix (the rehearsal's finding)
    assert decide(ev, platform, "s3:ListBucket", bucket_arn(LAKE)) == "allow"
    assert decide(ev, platform, "s3:GetBucketLocation", bucket_arn(LAKE)) == "allow"
    assert decide(ev, platform, "kms:Decrypt", KEY, **S3_VIA) == "allow"
    assert decide(ev, platform, "kms:GenerateDataKey", KEY, **S3_VIA) == "allow"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:DeleteObject", obj(LAKE, SCRATCH)),  # the lifecycle rule expires backtests/
        ("s3:PutObject", obj(LAKE, "results/classifications/month=2026-10/province=42/part-0.parquet")),
        ("s3:PutObject", obj(LAKE, "results/field_classifications/field=food/month=2026-10/province=42/x")),
        ("s3:PutObject", obj(LAKE, "results/warnings/month=2026-10/province=42/part-r.parquet")),
        ("s3:PutObject", obj(LAKE, "curated/penalties/province=42/ingest=i/part-0.parquet")),
        ("s3:DeleteObject", obj(LAKE, "results/classifications/month=2026-10/province=42/part-0.parquet")),
        ("s3:DeleteObject", obj(LAKE, "athena-results/platform/tables/q1/0.parquet")),
        ("s3:DeleteObjectVersion", obj(LAKE, "athena-results/platform/unload/j/0")),
        ("s3:GetObject", obj(LANDING, "incoming/42/penalties/x.csv")),
        ("s3:GetObject", obj(LAKE, "_auth/tokens/abc.json")),
        ("s3:GetObject", obj(LAKE, "archive/42/penalties/i/x.csv")),
        ("s3:GetObject", obj(LAKE, "quarantine/42/penalties/i/rejected.jsonl")),
        ("s3:GetObject", obj(LAKE, "plans/42/42-0123.json")),
        ("s3:PutLifecycleConfiguration", bucket_arn(LAKE)),
        ("glue:DeleteTable", f"{GLUE}:table/creditrisk_dev/backtest_classifications"),
        ("glue:UpdateTable", f"{GLUE}:table/creditrisk_dev/classifications"),
        ("glue:CreateTable", f"{GLUE}:table/creditrisk_dev/mine"),
        ("glue:GetTable", f"{GLUE}:table/creditrisk_dev/warnings"),
        ("athena:StartQueryExecution", AUDIT_WG),
        ("athena:UpdateWorkGroup", PLATFORM_WG),
        ("kms:Decrypt", KEY),
        ("sns:Publish", f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:creditrisk-dev-inspection-tasks"),
    ],
)
def test_evaluator_publishes_nothing_and_reads_only_its_inputs(
    platform: dict[str, Any], action: str, resource: str
) -> None:
    assert decide(role_policies(platform, "EvaluatorRole"), platform, action, resource) != "allow"


def test_evaluator_role_is_assumed_by_people_of_the_account_only(platform: dict[str, Any]) -> None:
    props = platform["EvaluatorRole"]["Properties"]
    (stmt,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert props["MaxSessionDuration"] == 4 * 3600


def test_classify_role_no_longer_touches_the_backtests_scratch(platform: dict[str, Any]) -> None:
    """The monthly function never runs ``evaluate``: the scratch is the evaluator's (ADR 0150)."""
    cls = function_policy("classify")
    for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
        assert decide(cls, platform, action, obj(LAKE, SCRATCH)) != "allow", action
    assert decide(cls, platform, "glue:CreateTable", CTAS) == "allow"  # its own monthly CTAS


def test_classify_role_has_athena_write_the_sampling_copy(platform: dict[str, Any]) -> None:
    """docs/adr/0147: the run's table kept until publish (then dropped), UNLOADs into the unload
    scratch (read back, copied into the copy's chunks, deleted), the index written last; the
    copy itself is never deleted by the role."""
    cls = function_policy("classify")
    scratch = "athena-results/platform/unload/sampling-2026-10-42-x/rows/part=3/20261102_0001"
    for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert decide(cls, platform, action, obj(LAKE, scratch)) == "allow", action
    copy = "results/classifications/month=2026-10/province=42/_sampling/2026-10-42-x"
    for key in (f"{copy}/chunks/000003-0.parquet", f"{copy}/cells.parquet"):
        for action in ("s3:PutObject", "s3:GetObject"):
            assert decide(cls, platform, action, obj(LAKE, key)) == "allow", (action, key)
        assert decide(cls, platform, "s3:DeleteObject", obj(LAKE, key)) != "allow", key
    assert decide(cls, platform, "s3:ListBucket", bucket_arn(LAKE)) == "allow"
    ctas = f"{GLUE}:table/creditrisk_dev/classify_run_2026_10_42_x"
    for action in ("glue:GetTable", "glue:DeleteTable"):
        assert decide(cls, platform, action, ctas) == "allow", action
    assert decide(cls, platform, "athena:StartQueryExecution", PLATFORM_WG) == "allow"


def test_classify_role_has_athena_write_the_feed_frames_and_export(platform: dict[str, Any]) -> None:
    """docs/adr/0152: the change feed's chunks beside the run, the field frame's table (named
    ``classify_run_*``), the export's parts copied from the unload scratch into the province's
    delivery prefix; the role still cannot read a delivery (only the platform role can) nor
    delete what it published."""
    cls = function_policy("classify")
    for job in (
        "changes-2026-10-42-x/rows/part=0/q1_0",
        "counts-2026-10-42-x/q1_0",
        "export-42-2026-10/csv/q1_0.gz",
    ):
        for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
            assert (
                decide(cls, platform, action, obj(LAKE, f"athena-results/platform/unload/{job}")) == "allow"
            )
    feed = "results/classifications/month=2026-10/province=42/_changes/2026-10-42-x"
    for key in (f"{feed}/0-0.parquet", f"{feed}/chunks.json"):
        assert decide(cls, platform, "s3:PutObject", obj(LAKE, key)) == "allow", key
        assert decide(cls, platform, "s3:DeleteObject", obj(LAKE, key)) != "allow", key
    frame = f"{GLUE}:table/creditrisk_dev/classify_run_2026_10_42_x_food_frame"
    for action in ("glue:CreateTable", "glue:GetTable", "glue:DeleteTable"):
        assert decide(cls, platform, action, frame) == "allow", action
    for key in ("delivery/42/month=2026-10/classifications/00001.parquet",
                "delivery/42/month=2026-10/classifications.csv/00000-header.csv.gz"):  # fmt: skip
        assert decide(cls, platform, "s3:PutObject", obj(LAKE, key)) == "allow", key
        assert decide(cls, platform, "s3:GetObject", obj(LAKE, key)) != "allow", key


def test_api_stores_plans_but_cannot_delete_them(platform: dict[str, Any]) -> None:
    api = function_policy("api")
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "plans/42/42-abc.json"), **CREATE_ONCE) == "allow"
    # the bucket policy refuses any other write of a plan, to every principal (ADR 0166)
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "plans/42/42-abc.json")) == "deny"
    replace = {"s3:if-match": '"e"'}
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "plans/42/42-abc.json"), **replace) == "deny"
    assert decide(api, platform, "s3:DeleteObject", obj(LAKE, "plans/42/42-abc.json")) == "deny"
    assert decide(api, platform, "s3:DeleteObject", obj(LAKE, "plans/42/42-abc.json")) != "allow"
    # Plans are written by one PUT (no temporary object to clean up): no delete at all.
    assert decide(api, platform, "s3:DeleteObject", obj(LAKE, "plans/42/_tmp-1-42-abc.json")) != "allow"
    assert decide(api, platform, "s3:GetObject", obj(LAKE, "results/classifications/x")) == "allow"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "results/classifications/x")) != "allow"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "_auth/tokens/abc.json")) != "allow"
    assert decide(api, platform, "s3:GetObject", obj(LAKE, "curated/penalties/province=42/x")) != "allow"


def test_api_appends_objection_and_adjustment_steps_and_keeps_no_cursor_key(platform: dict[str, Any]) -> None:
    """ADR 0120/0121: adjustments are proposed and approved through the API (their trail and the
    month's approved index); the cursor MAC is the KMS key's, so no key object is read or made."""
    api = function_policy("api")
    for key in (
        "audit/objections/42/42-0123456789abcdef/0001-received.json",
        "audit/adjustments/42/2026-10/42-0123456789abcdef/0001-proposed.json",
    ):
        assert decide(api, platform, "s3:PutObject", obj(LAKE, key), **CREATE_ONCE) == "allow"
        assert decide(api, platform, "s3:PutObject", obj(LAKE, key)) == "deny"
        assert decide(api, platform, "s3:GetObject", obj(LAKE, key)) == "allow"
        assert decide(api, platform, "s3:DeleteObject", obj(LAKE, key)) != "allow"
    index = "results/classifications/month=2026-10/province=42/_adjustments.json"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, index)) == "allow"
    # the content-addressed snapshot each approval writes, which plans name (ADR 0142)
    snapshot = f"results/classifications/month=2026-10/province=42/_adjustments/{'0' * 64}.json"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, snapshot)) == "allow"
    assert decide(api, platform, "s3:DeleteObject", obj(LAKE, snapshot)) != "allow"
    copy = "results/classifications/month=2026-10/province=42/_sampling/run-1/frame.parquet"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, copy)) != "allow"
    published = "results/classifications/month=2026-10/province=42/classifications.parquet"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, published)) != "allow"
    for action in ("s3:GetObject", "s3:PutObject"):
        assert decide(api, platform, action, obj(LAKE, "_auth/signing/cursor.key")) != "allow"


def test_api_keeps_tasks_secrets_and_the_audit_chain_and_signs_with_the_audit_key(
    platform: dict[str, Any],
) -> None:
    """Sampling tasks (docs/adr/0093-0095): written once, never deleted; the chain head is signed
    with the KMS HMAC key, which the API can use but not administer."""
    api = function_policy("api")
    for key in ("tasks/42/42-t0/task.json", "_sampling/secrets/42/42-t0.json", "audit/42/head.json"):
        assert decide(api, platform, "s3:PutObject", obj(LAKE, key), **CREATE_ONCE) == "allow"
        assert decide(api, platform, "s3:PutObject", obj(LAKE, key)) == "deny"
        assert decide(api, platform, "s3:GetObject", obj(LAKE, key)) == "allow"
        assert decide(api, platform, "s3:DeleteObject", obj(LAKE, key)) != "allow"
    moves = {"s3:if-match": '"e"'}  # the head is replaced If-Match; a task never is
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "audit/42/head.json"), **moves) == "allow"
    assert decide(api, platform, "s3:PutObject", obj(LAKE, "tasks/42/42-t0/task.json"), **moves) == "deny"
    for action in ("kms:GenerateMac", "kms:VerifyMac"):
        assert decide(api, platform, action, AUDIT_KEY) == "allow"
        assert decide(api, platform, action, KEY) != "allow"
    for action in ("kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:Decrypt"):
        assert decide(api, platform, action, AUDIT_KEY) != "allow"
    for kind in ("authorizer", "ingest", "classify"):
        assert decide(function_policy(kind), platform, "kms:GenerateMac", AUDIT_KEY) != "allow"
    assert platform["AuditKey"]["Properties"]["KeySpec"] == "HMAC_256"


def test_authorizer_reads_only_credential_hashes(platform: dict[str, Any]) -> None:
    auth = function_policy("authorizer")
    assert decide(auth, platform, "s3:GetObject", obj(LAKE, "_auth/tokens/abc.json")) == "allow"
    assert decide(auth, platform, "s3:PutObject", obj(LAKE, "_auth/tokens/abc.json")) != "allow"
    assert decide(auth, platform, "s3:GetObject", obj(LAKE, "results/classifications/x")) != "allow"
    assert decide(auth, platform, "s3:GetObject", obj(LAKE, "plans/42/x.json")) != "allow"


@pytest.mark.parametrize("kind", ["ingest", "classify", "api", "authorizer", "corrections"])
def test_function_policies_grant_no_wildcard_resources_or_services(kind: str) -> None:
    for stmt in function_policy(kind)[0]["Statement"]:
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        assert "*" not in resources, stmt["Sid"]
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert all(not a.endswith(":*") for a in actions), stmt["Sid"]


def test_ingest_records_coverage_and_the_monthly_report_reads_objections(platform: dict[str, Any]) -> None:
    """Coverage is written right after each ingest (docs/adr/0104); the monthly report lists the
    province's overdue objections (docs/adr/0112), read from their append-only steps."""
    ing, cls = function_policy("ingest"), function_policy("classify")
    cov = obj(LAKE, "results/coverage/province=42/part-penalties-i1.parquet")
    assert decide(ing, platform, "s3:PutObject", cov) == "allow"
    assert decide(ing, platform, "s3:GetObject", cov) == "allow"
    assert decide(ing, platform, "s3:PutObject", obj(LAKE, "results/classifications/x")) != "allow"
    step = obj(LAKE, "audit/objections/42/42-0123456789abcdef/0001-received.json")
    assert decide(cls, platform, "s3:GetObject", step) == "allow"
    assert decide(cls, platform, "s3:PutObject", step) != "allow"


def test_auditor_verifies_chain_heads_but_cannot_sign(platform: dict[str, Any]) -> None:
    """The auditor checks a province's chain and its signed head in AWS (kms:VerifyMac on the
    chain key only, docs/adr/0128); signing stays with the API, objections stay unread."""
    auditor = role_policies(platform, "AuditorRole")
    assert decide(auditor, platform, "kms:VerifyMac", AUDIT_KEY) == "allow"
    assert decide(auditor, platform, "kms:VerifyMac", KEY) != "allow"
    assert decide(auditor, platform, "kms:GenerateMac", AUDIT_KEY) != "allow"
    chain = ("audit/42/head.json", "audit/42/chain/0000000001.json", "audit/42/checkpoints/0000000032.json")
    for key in chain:
        assert decide(auditor, platform, "s3:GetObject", obj(LAKE, key)) == "allow"
        assert decide(auditor, platform, "s3:PutObject", obj(LAKE, key)) != "allow"
    for key in ("audit/objections/42/x/0001-received.json", "_sampling/secrets/42/42-t0.json"):
        assert decide(auditor, platform, "s3:GetObject", obj(LAKE, key)) != "allow"


def test_ingest_republishes_disclosures_and_nothing_else_of_sampling(platform: dict[str, Any]) -> None:
    """An inspections upload republishes its plans' disclosures (docs/adr/0128): the ingest role
    reads plans and writes only the disclosure prefix; plans, tasks and the chain stay the API's."""
    ing = function_policy("ingest")
    out = obj(LAKE, "results/disclosures/province=42/42-0123456789abcdef0123.json")
    assert decide(ing, platform, "s3:PutObject", out) == "allow"
    assert decide(ing, platform, "s3:GetObject", out) == "allow"
    assert decide(ing, platform, "s3:DeleteObject", out) != "allow"
    plan = obj(LAKE, "plans/42/42-0123456789abcdef0123.json")
    assert decide(ing, platform, "s3:GetObject", plan) == "allow"
    assert decide(ing, platform, "s3:PutObject", plan) != "allow"
    for key in ("audit/42/head.json", "tasks/42/42-t0/task.json", "results/classifications/x.parquet"):
        assert decide(ing, platform, "s3:PutObject", obj(LAKE, key)) != "allow"
    assert decide(ing, platform, "kms:GenerateMac", AUDIT_KEY) != "allow"


def test_api_writes_chain_checkpoints_and_the_ref_index(platform: dict[str, Any]) -> None:
    """What an append writes besides record and head (docs/adr/0127), created once, never deleted."""
    api = function_policy("api")
    for key in ("audit/42/checkpoints/0000000032.json", "audit/42/refs/plan/42-0123456789abcdef0123.json"):
        assert decide(api, platform, "s3:PutObject", obj(LAKE, key), **CREATE_ONCE) == "allow"
        assert decide(api, platform, "s3:GetObject", obj(LAKE, key)) == "allow"
        assert decide(api, platform, "s3:DeleteObject", obj(LAKE, key)) != "allow"


# -- the monthly export per province (名录库对接, issue 14, docs/adr/0122) -----------------------
EXPORT = "delivery/42/month=2026-10/classifications.parquet"


def test_platform_42_reads_its_own_delivery_prefix_and_nothing_else(platform: dict[str, Any]) -> None:
    p42 = role_policies(platform, "Platform42")
    assert decide(p42, platform, "s3:GetObject", obj(LAKE, EXPORT)) == "allow"
    assert (
        decide(p42, platform, "s3:GetObject", obj(LAKE, "delivery/42/month=2026-10/manifest.json")) == "allow"
    )
    for key in (
        "delivery/43/month=2026-10/classifications.parquet",
        "delivery/23/month=2026-10/classifications.parquet",
        "delivery/421/x",
        "results/classifications/month=2026-10/province=42/part-0.parquet",
        "incoming/42/penalties/x.csv",
        "curated/penalties/province=42/x.parquet",
        "_auth/tokens/abc.json",
    ):
        assert decide(p42, platform, "s3:GetObject", obj(LAKE, key)) != "allow", key
    assert decide(p42, platform, "s3:GetObject", obj(LANDING, "incoming/42/penalties/x.csv")) != "allow"
    assert (
        decide(p42, platform, "s3:ListBucket", bucket_arn(LAKE), **{"s3:prefix": "delivery/42/"}) == "allow"
    )
    for prefix in ("delivery/43/", "delivery/", "results/", ""):
        assert decide(p42, platform, "s3:ListBucket", bucket_arn(LAKE), **{"s3:prefix": prefix}) != "allow"
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert decide(p42, platform, action, obj(LAKE, EXPORT)) != "allow"
    assert decide(p42, platform, "kms:Decrypt", KEY, **S3_VIA) == "allow"
    assert decide(p42, platform, "kms:Decrypt", KEY) != "allow"
    assert decide(p42, platform, "kms:GenerateDataKey", KEY, **S3_VIA) != "allow"
    insecure = {"aws:SecureTransport": "false"}
    assert decide(p42, platform, "s3:GetObject", obj(LAKE, EXPORT), **insecure) == "deny"


def test_every_province_platform_reads_only_its_own_delivery(platform: dict[str, Any]) -> None:
    for province in PROVINCES:
        policies = role_policies(platform, f"Platform{province}")
        allowed = [
            p
            for p in PROVINCES
            if decide(policies, platform, "s3:GetObject", obj(LAKE, f"delivery/{p}/month=2026-10/x"))
            == "allow"
        ]
        assert allowed == [province]


def test_each_platform_subscribes_only_to_its_own_announcements(platform: dict[str, Any]) -> None:
    def on_topic(identity: list[dict[str, Any]], action: str, province: str, **ctx: Any) -> str:
        policy = resolve(platform[f"Delivery{province}Policy"]["Properties"]["PolicyDocument"], VALUES)
        return evaluate(
            identity, Request(action, VALUES[f"Delivery{province}"], ctx), resource_policies=[policy]
        )

    def who(province: str) -> dict[str, str]:
        return {"aws:PrincipalArn": VALUES[f"Platform{province}.Arn"], "sns:Protocol": "https"}

    for province in PROVINCES:
        mine = role_policies(platform, f"Platform{province}")
        assert [p for p in PROVINCES if on_topic(mine, "sns:Subscribe", p, **who(province)) == "allow"] == [
            province
        ]
        props = platform[f"Delivery{province}Rule"]["Properties"]
        assert props["EventPattern"]["detail"] == {"province": [province]}
        assert props["EventPattern"]["source"] == ["creditrisk.delivery"]
    admin = [{"Statement": [{"Effect": "Allow", "Action": "sns:*", "Resource": "*"}]}]
    assert on_topic(admin, "sns:Subscribe", "42", **who("43")) == "deny"
    assert on_topic(admin, "sns:Publish", "42", **{"aws:SourceArn": VALUES["Delivery43Rule.Arn"]}) == "deny"
    assert on_topic(admin, "sns:Publish", "42", **{"aws:SourceArn": VALUES["Delivery42Rule.Arn"]}) == "allow"
    assert on_topic(role_policies(platform, "Platform42"), "sns:Publish", "42", **who("42")) != "allow"


def test_only_the_monthly_run_writes_and_announces_the_delivery(platform: dict[str, Any]) -> None:
    classify = function_policy("classify")
    assert decide(classify, platform, "s3:PutObject", obj(LAKE, EXPORT)) == "allow"
    mine = {"events:source": "creditrisk.delivery"}
    assert decide(classify, platform, "events:PutEvents", DEFAULT_BUS, **mine) == "allow"
    mixed = {"events:source": ["creditrisk.delivery", "creditrisk.ingest"]}
    assert decide(classify, platform, "events:PutEvents", DEFAULT_BUS, **mixed) != "allow"
    for kind in ("api", "authorizer", "ingest"):
        pol = function_policy(kind)
        assert decide(pol, platform, "s3:PutObject", obj(LAKE, EXPORT)) != "allow"
        assert decide(pol, platform, "s3:GetObject", obj(LAKE, EXPORT)) != "allow"
        assert decide(pol, platform, "events:PutEvents", DEFAULT_BUS, **mine) != "allow"
    for logical in ("Uploader42", "AuditorRole"):
        assert (
            decide(role_policies(platform, logical), platform, "s3:GetObject", obj(LAKE, EXPORT)) != "allow"
        )


def test_both_warning_runs_keep_the_compacted_warning_state(platform: dict[str, Any]) -> None:
    """The upload (ingest role) and monthly (classify role) warnings runs read and write the
    compacted current state (``layout.warnings_current_key``); the API role only reads."""
    from functions.layout import warnings_current_key

    key = obj(LAKE, warnings_current_key("42"))
    for kind in ("ingest", "classify"):
        for action in ("s3:GetObject", "s3:PutObject"):
            assert decide(function_policy(kind), platform, action, key) == "allow", (kind, action)
    assert decide(function_policy("api"), platform, "s3:PutObject", key) != "allow"


# -- decisions' follow-ups (issue 14, docs/adr/0144) --------------------------------------------
QUEUE = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:corrections"
QUEUE_DLQ = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:corrections-dlq"
SQS_VIA = {"kms:ViaService": f"sqs.{REGION}.amazonaws.com.cn"}


def test_the_api_only_sends_follow_ups(platform: dict[str, Any]) -> None:
    """The API queues a decision's follow-up and can do nothing else with the queue: it cannot
    read, delete or purge messages, nor touch a dead-letter queue."""
    api = function_policy("api")
    assert decide(api, platform, "sqs:SendMessage", QUEUE) == "allow"
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue", "sqs:SetQueueAttributes",
                   "sqs:ChangeMessageVisibility", "sqs:DeleteQueue"):  # fmt: skip
        assert decide(api, platform, action, QUEUE) != "allow", action
    for dlq in (QUEUE_DLQ, f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:dlq"):
        assert decide(api, platform, "sqs:SendMessage", dlq) != "allow"
        assert decide(api, platform, "sqs:ReceiveMessage", dlq) != "allow"
    # the queue is encrypted with the data key: usable through SQS only
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert decide(api, platform, action, KEY, **SQS_VIA) == "allow"
        assert decide(api, platform, action, KEY) != "allow"


def test_the_corrections_worker_polls_its_queue_and_does_a_correction_run_only(
    platform: dict[str, Any],
) -> None:
    """The worker (the SQS event source's role) polls the queue, appends the objection's steps,
    publishes the correction run and the warning transitions; it sends nothing and delivers,
    announces and signs nothing."""
    w = function_policy("corrections")
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert decide(w, platform, action, QUEUE) == "allow", action
    for action in ("sqs:SendMessage", "sqs:PurgeQueue"):
        assert decide(w, platform, action, QUEUE) != "allow", action
    assert decide(w, platform, "sqs:ReceiveMessage", QUEUE_DLQ) != "allow"
    assert decide(w, platform, "kms:Decrypt", KEY, **SQS_VIA) == "allow"
    assert decide(w, platform, "kms:GenerateDataKey", KEY, **SQS_VIA) != "allow"
    step = "audit/objections/42/42-0123456789abcdef/0006-correction_started.json"
    assert decide(w, platform, "s3:PutObject", obj(LAKE, step), **CREATE_ONCE) == "allow"
    assert decide(w, platform, "s3:DeleteObject", obj(LAKE, step)) != "allow"
    for key in (
        "results/runs/r/classifications.parquet",
        "results/warnings/month=2026-10/province=42/w.parquet",
    ):
        assert decide(w, platform, "s3:PutObject", obj(LAKE, key)) == "allow"
    assert decide(w, platform, "s3:GetObject", obj(LAKE, CURATED)) == "allow"
    for key in ("delivery/42/2026-10/x.parquet", "_auth/tokens/abc.json", "plans/42/42-abc.json",
                "audit/adjustments/42/2026-10/x/0001-proposed.json", "curated/x"):  # fmt: skip
        assert decide(w, platform, "s3:PutObject", obj(LAKE, key)) != "allow", key
    assert decide(w, platform, "s3:GetObject", obj(LANDING, "incoming/42/penalties/x.csv")) != "allow"
    assert decide(w, platform, "kms:GenerateMac", AUDIT_KEY) != "allow"
    bus = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/default"
    assert decide(w, platform, "events:PutEvents", bus) != "allow"


@pytest.mark.parametrize("kind", ["ingest", "classify", "authorizer"])
def test_no_other_function_uses_the_follow_up_queue(kind: str, platform: dict[str, Any]) -> None:
    for action in ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"):
        assert decide(function_policy(kind), platform, action, QUEUE) != "allow"
