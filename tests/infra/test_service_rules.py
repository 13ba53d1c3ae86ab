"""AWS service rules no linter sees (issue 12), checked on the generated templates and on the
statements the code really produces. Each test names the rule; each failed on the old code.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from functions import layout
from functions.classify.compile import compile_system
from functions.classify.engine_athena import athena_statements, ctas_output_prefix
from functions.classify.load import load_system
from functions.lake import Lake
from functions.layout import PROVINCES
from functions.settings import Settings
from functions.warnings.compile import Period, compile_rule
from functions.warnings.config import load_rules
from functions.warnings.engine_athena import AthenaSource
from functions.warnings.query import Scope, class_scope
from infra import package

ROOT = Path(__file__).resolve().parents[2]
Json = dict[str, Any]
LEASE_VARIABLE = "CREDITRISK_CORRECTION_LEASE_SECONDS"


def functions_of(template: Json) -> dict[str, Json]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


# -- 1. CTAS vs an enforced workgroup -----------------------------------------------------------
def _import_name(value: Any) -> str:
    """``creditrisk-${Stage}-X`` from the ``Fn::ImportValue`` inside a resolved placeholder."""
    (_, variables) = value["Fn::Sub"]
    (var,) = variables.values()
    name: str = var["Fn::ImportValue"]["Fn::Sub"]
    return name


def _exported(platform: Json, export: str) -> str:
    """The logical id of the platform resource behind an export name."""
    for out in platform["Outputs"].values():
        if out.get("Export", {}).get("Name", {}).get("Fn::Sub") == export:
            logical: str = out["Value"]["Ref"]
            return logical
    raise AssertionError(f"the platform stack exports no {export}")


class _Done:
    """An Athena that accepts every statement and writes nothing."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def start(self, sql: str) -> str:
        self.submitted.append(sql)
        return f"q{len(self.submitted)}"

    def wait(self, query_id: str) -> dict[str, Any]:
        return {"State": "SUCCEEDED"}


def produced_statements(lake: Lake, settings: Settings) -> list[str]:
    """What the Lambda code submits to Athena: the classification CTAS and DROP, and every
    warning rule's UNLOAD (built by the same functions the runs call)."""
    cut = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
    compiled = compile_system(
        load_system("samr-general"), month="2026-06", province="42", cutoff=cut, run_id="r"
    )
    out = athena_statements(compiled, settings.athena_database)
    runner = _Done()
    scope = Scope("42", cut, Period.of("2026-06").end, class_scope(None, None), None)
    src = AthenaSource(lake, scope, settings=settings, job="rules", runner=runner)
    for rule in load_rules().rules:
        src.query(compile_rule(rule, Period.of("2026-06")), label=rule.id)
    return out + runner.submitted


def test_no_ctas_names_a_location_in_a_workgroup_that_enforces_its_own(
    app_templates: dict[str, Json], platform_template: Json, s3_lake: Lake, s3_settings: Settings
) -> None:
    """Athena fails a CTAS with ``external_location`` in an enforced workgroup (ADR 0070)."""
    for stage, app in app_templates.items():
        for logical, fn in functions_of(app).items():
            wg_import = _import_name(
                fn["Properties"]["Environment"]["Variables"]["CREDITRISK_ATHENA_WORKGROUP"]
            )
            workgroup = platform_template["Resources"][_exported(platform_template, wg_import)]
            config = workgroup["Properties"]["WorkGroupConfiguration"]
            if not config.get("EnforceWorkGroupConfiguration"):
                continue
            statements = produced_statements(s3_lake, s3_settings)
            assert any(s.startswith("CREATE TABLE") for s in statements)
            assert any(s.startswith("UNLOAD") for s in statements)
            for sql in statements:
                if re.match(r"\s*CREATE\s+TABLE\b.*\bAS\b", sql, re.S | re.I):
                    assert "external_location" not in sql.lower(), (
                        f"{stage}/{logical}: CTAS with external_location in enforced workgroup"
                    )


def test_the_ctas_output_lies_where_the_workgroup_writes_and_the_monthly_role_reads(
    app_templates: dict[str, Json], platform_template: Json, s3_lake: Lake, s3_settings: Settings
) -> None:
    wg = platform_template["Resources"]["PlatformWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    location = wg["ResultConfiguration"]["OutputLocation"]["Fn::Sub"]
    assert location == f"s3://${{LakeBucket}}/{layout.ATHENA_PLATFORM_RESULTS}/"
    env = functions_of(app_templates["dev"])
    for fn in env.values():
        uri = fn["Properties"]["Environment"]["Variables"]["CREDITRISK_ATHENA_OUTPUT_URI"]["Fn::Sub"][0]
        assert uri == f"s3://${{LakeBucket}}/{layout.ATHENA_PLATFORM_RESULTS}/"
    key = ctas_output_prefix(s3_lake, s3_settings, "q1")
    assert key == f"{layout.ATHENA_PLATFORM_RESULTS}/tables/q1"
    policy = json.loads((ROOT / ".chalice" / "policy-classify.json").read_text())
    readable = [
        r
        for s in policy["Statement"]
        if s["Effect"] == "Allow" and "s3:GetObject" in s["Action"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    ]
    assert f"arn:${{AWS::Partition}}:s3:::${{LakeBucket}}/{layout.ATHENA_PLATFORM_RESULTS}/*" in readable


# -- 2. X-Ray ---------------------------------------------------------------------------------
def _role_actions(template: Json, role_ref: Any) -> set[str]:
    logical = role_ref["Fn::GetAtt"][0]
    role = template["Resources"][logical]
    actions: set[str] = set()
    for pol in role["Properties"]["Policies"]:
        for st in pol["PolicyDocument"]["Statement"]:
            if st["Effect"] == "Allow" and st.get("Resource") in ("*", ["*"]) and "Condition" not in st:
                actions.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    return actions


def test_every_traced_function_may_send_traces(app_templates: dict[str, Json]) -> None:
    """Lambda refuses to create a function with Tracing Active whose role cannot write X-Ray."""
    for stage, app in app_templates.items():
        traced = {k: f for k, f in functions_of(app).items() if f["Properties"].get("Tracing") == "Active"}
        assert traced, stage
        for logical, fn in traced.items():
            granted = _role_actions(app, fn["Properties"]["Role"])
            assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= granted, f"{stage}/{logical}"


# -- 6. logs ----------------------------------------------------------------------------------
def test_every_function_logs_json_at_info(app_templates: dict[str, Json]) -> None:
    for stage, app in app_templates.items():
        for logical, fn in functions_of(app).items():
            assert fn["Properties"]["LoggingConfig"] == {
                "LogFormat": "JSON",
                "ApplicationLogLevel": "INFO",
                "SystemLogLevel": "WARN",
            }, f"{stage}/{logical}"


# -- /tmp for the streamed ingest (issue 13, docs/adr/0084) -------------------------------------
def test_ingest_has_the_local_disk_its_largest_upload_needs(app_templates: dict[str, Json]) -> None:
    """The largest accepted upload is copied to /tmp, and its quarantine (at most as large again)
    and curated file are written there before upload; Lambda's /tmp is 512 MB unless sized."""
    from schemas.ingest import MAX_UPLOAD_BYTES

    for stage, app in app_templates.items():
        for logical, fn in functions_of(app).items():
            if fn["Properties"]["Handler"].endswith(("on_upload", "on_upload_event")):
                size_mb = fn["Properties"]["EphemeralStorage"]["Size"]
                assert size_mb << 20 >= 2.5 * MAX_UPLOAD_BYTES, f"{stage}/{logical}"
                assert 512 <= size_mb <= 10240, f"{stage}/{logical}"  # Lambda's range


# -- 9. reserved concurrency ------------------------------------------------------------------
UNRESERVED_MINIMUM = 100  # Lambda keeps at least this much of the account's concurrency free


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_reservations_leave_the_unreserved_minimum(stage: str, app_templates: dict[str, Json]) -> None:
    cfg = package.load_stage(stage)
    quota = int(cfg["account_concurrency"])
    reserved = sum(
        int(f["Properties"].get("ReservedConcurrentExecutions", 0))
        for f in functions_of(app_templates[stage]).values()
    )
    assert reserved > 0
    assert quota - reserved >= UNRESERVED_MINIMUM, (
        f"{stage} reserves {reserved} of {quota}: Lambda needs {UNRESERVED_MINIMUM} unreserved "
        "(raise the quota in Service Quotas first, then account_concurrency in the stage file)"
    )


# -- Operating it: alarms ---------------------------------------------------------------------
def _alarms(app: Json) -> dict[str, Json]:
    return {k: r["Properties"] for k, r in app["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_a_failed_monthly_run_pages_for_every_province(app_templates: dict[str, Json]) -> None:
    alarms = _alarms(app_templates["prod"])
    failed = {
        d["Value"]
        for a in alarms.values()
        if (a["Namespace"], a["MetricName"]) == ("creditrisk", "MonthlyRunFailed")
        for d in a["Dimensions"]
        if d["Name"] == "Province" and a["Threshold"] == 1 and a["AlarmActions"]
    }
    assert failed == set(PROVINCES)
    for a in alarms.values():
        topic = a["AlarmActions"][0]["Fn::Sub"][1]["AlarmTopicArn"]["Fn::ImportValue"]["Fn::Sub"]
        assert topic == "creditrisk-${Stage}-AlarmTopicArn"


def test_operators_have_alarms_on_every_signal(
    app_templates: dict[str, Json], platform_template: Json
) -> None:
    alarms = _alarms(app_templates["prod"]).values()
    seen = {(a["Namespace"], a["MetricName"], tuple(d["Name"] for d in a["Dimensions"])) for a in alarms}
    for expected in [
        ("creditrisk", "FilesRejected", ("Province",)),
        ("creditrisk", "RowsQuarantined", ()),
        ("creditrisk", "MonthlyRunSeconds", ("Province",)),
        ("AWS/Lambda", "Errors", ("FunctionName",)),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName",)),
        ("AWS/ApiGateway", "4XXError", ("ApiName", "Stage")),
        ("AWS/ApiGateway", "5XXError", ("ApiName", "Stage")),
    ]:
        assert expected in seen, expected
    topic = platform_template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    key_sids = [
        s["Sid"] for s in platform_template["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    ]
    assert "CloudWatchAlarmsPublishToEncryptedTopic" in key_sids


# -- 5. deletes and versions ------------------------------------------------------------------
def test_functions_delete_only_the_unload_scratch() -> None:
    """With direct S3 writes nothing but the warnings' read-back scratch is ever deleted."""
    for path in sorted((ROOT / ".chalice").glob("policy-*.json")):
        for st in json.loads(path.read_text())["Statement"]:
            actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            if st["Effect"] == "Allow" and any(a.startswith("s3:Delete") or a == "s3:*" for a in actions):
                resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
                assert resources == [
                    f"arn:${{AWS::Partition}}:s3:::${{LakeBucket}}/{layout.ATHENA_PLATFORM_RESULTS}/unload/*"
                ], path.name


def test_replaced_versions_expire_except_the_audit_trail(platform_template: Json) -> None:
    from infra.platform import NONCURRENT_EXPIRY_DAYS, VERSIONS_KEPT

    rules = platform_template["Resources"]["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {
        r.get("Prefix", ""): r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for r in rules
        if "NoncurrentVersionExpiration" in r
    }
    assert expiring == {**NONCURRENT_EXPIRY_DAYS, "athena-results/": 1, "backtests/": 1}
    for kept in VERSIONS_KEPT:
        assert not any(kept.startswith(p) or p.startswith(kept) for p in expiring), kept
    assert "" not in expiring  # no bucket-wide rule that would reach the audit trail


# -- SQS event sources: the decisions' follow-up queue (issue 14, docs/adr/0144) ----------------
# Lambda's SQS event source rules that moto does not enforce ("Using Lambda with Amazon SQS").
SQS_DEFAULT_VISIBILITY = 30
SQS_DEFAULT_RETENTION = 345600
SQS_MAX_VISIBILITY = 43200
LAMBDA_MAX_TIMEOUT = 900


def _granted(template: Json, role_ref: Any, action: str, resource: Any) -> list[Json]:
    """The role's Allow statements that grant ``action`` on exactly ``resource`` (a GetAtt, as the
    app template writes it inside ``Fn::Sub``)."""
    role = template["Resources"][role_ref["Fn::GetAtt"][0]]
    found = []
    for pol in role["Properties"]["Policies"]:
        for st in pol["PolicyDocument"]["Statement"]:
            actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            values = []
            for res in st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]:
                sub = res.get("Fn::Sub") if isinstance(res, dict) else None
                values += list(sub[1].values()) if isinstance(sub, list) else [res]
            if st["Effect"] == "Allow" and action in actions and resource in values:
                found.append(st)
    return found


def _sqs_consumers(app: Json) -> list[tuple[str, Json, Json, str, Json]]:
    """(function, its props, the SQS event's props, the queue's logical id, the queue's props)."""
    out = []
    for logical, fn in functions_of(app).items():
        for ev in fn["Properties"].get("Events", {}).values():
            if ev["Type"] == "SQS":
                queue = ev["Properties"]["Queue"]["Fn::GetAtt"][0]  # a queue of this stack
                out.append((logical, fn["Properties"], ev["Properties"], queue, app["Resources"][queue]))
    return out


def test_sqs_consumers_keep_lambdas_event_source_rules(app_templates: dict[str, Json]) -> None:
    """AWS refuses an event source mapping whose queue's visibility timeout is below the function's
    timeout and recommends 6x (retries while a batch is throttled or still running); a function
    runs at most 900 s; a standard queue's batch is 1-10 without a batching window (the worker
    takes one objection, so one failure retries only that one)."""
    for stage, app in app_templates.items():
        consumers = _sqs_consumers(app)
        assert [c[0] for c in consumers] == ["Corrections"], stage
        for logical, fn, event, _, queue in consumers:
            where = f"{stage}/{logical}"
            timeout = int(fn["Timeout"])
            assert 1 <= timeout <= LAMBDA_MAX_TIMEOUT, where
            visibility = int(queue["Properties"].get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY))
            assert visibility >= timeout, f"{where}: AWS refuses the mapping"
            assert visibility >= 6 * timeout, f"{where}: AWS recommends 6x the function timeout"
            assert visibility <= SQS_MAX_VISIBILITY, where
            assert event["BatchSize"] == 1 and event.get("MaximumBatchingWindowInSeconds", 0) == 0, where
            # AWS: MaximumConcurrency 2-1000; above the reserved concurrency the poller's
            # invocations are throttled and their messages count receives toward the DLQ
            most = int(event["ScalingConfig"]["MaximumConcurrency"])
            assert 2 <= most <= int(fn.get("ReservedConcurrentExecutions", most)), where


def test_the_correction_lease_outlasts_the_workers_timeout(app_templates: dict[str, Json]) -> None:
    """A started correction run holds its objection for ``correction_lease_seconds`` (the one
    definition, ADR 0155); a claim older than that is a dead worker's and is taken over. A lease
    shorter than the worker's timeout would let a second run start beside a live one. Every
    function reads the same lease (the status the API shows is the worker's), and the CLI's, run
    without the stage's environment, is the setting's default: both must outlast the timeout."""
    default = Settings.model_fields["correction_lease_seconds"].default
    for stage, app in app_templates.items():
        functions = {k: r["Properties"] for k, r in functions_of(app).items()}
        leases = {
            k: int(fn.get("Environment", {}).get("Variables", {}).get(LEASE_VARIABLE, default))
            for k, fn in functions.items()
        }
        assert len(set(leases.values())) == 1, f"{stage}: one lease for every function: {leases}"
        timeout = int(functions["Corrections"]["Timeout"])
        assert leases["Corrections"] >= timeout, f"{stage}: the lease is shorter than the worker's timeout"
        assert default >= timeout, f"{stage}: the CLI's default lease is shorter than the worker's timeout"
    stages = sorted((ROOT / "infra" / "stages").glob("*.json"))
    assert stages
    for path in stages:  # the sources, as a deployer edits them
        cfg = json.loads(path.read_text())
        lease = int(cfg.get("environment", {}).get(LEASE_VARIABLE, default))
        assert lease >= int(cfg["functions"]["corrections"]["timeout"]), path.name


def test_sqs_consumers_fail_into_their_queues_dead_letter_queue(app_templates: dict[str, Json]) -> None:
    """A message whose every delivery failed is kept, not dropped: the source queue redrives it to
    a dead-letter queue of this stack that keeps it longer than the source would (SQS keeps a
    message's original enqueue time across the redrive), and an operator is paged."""
    for stage, app in app_templates.items():
        alarms = _alarms(app)
        for logical, _, _, queue_id, queue in _sqs_consumers(app):
            where = f"{stage}/{logical}"
            redrive = queue["Properties"]["RedrivePolicy"]
            # AWS: at least 5 for a Lambda event source (throttled receives count too)
            assert int(redrive["maxReceiveCount"]) >= 5, where
            (dlq_id, attr) = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
            assert attr == "Arn" and dlq_id != queue_id, where
            dlq = app["Resources"][dlq_id]
            assert dlq["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" not in dlq["Properties"], where
            kept = int(dlq["Properties"]["MessageRetentionPeriod"])
            assert kept > int(queue["Properties"].get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)), where
            paged = [
                a
                for a in alarms.values()
                if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                and a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq_id, "QueueName"]}
            ]
            assert paged and paged[0]["Threshold"] == 1, where
            # an SQS-triggered function's failures are the queue's: a function DLQ would never fire
            assert "DeadLetterQueue" not in app["Resources"][logical]["Properties"], where


def test_sqs_consumer_roles_may_poll_their_queue_and_only_the_api_may_send(
    app_templates: dict[str, Json],
) -> None:
    """Lambda polls the queue as the function's role: ReceiveMessage, DeleteMessage and
    GetQueueAttributes on the queue, and Decrypt of its KMS key through SQS; without them AWS
    refuses to create the mapping. The sender needs GenerateDataKey and Decrypt on that key."""
    for stage, app in app_templates.items():
        fns = functions_of(app)
        for logical, fn, _, queue_id, queue in _sqs_consumers(app):
            where = f"{stage}/{logical}"
            arn = {"Fn::GetAtt": [queue_id, "Arn"]}
            role = fn["Role"]
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                assert _granted(app, role, action, arn), f"{where}: {action}"
            key = queue["Properties"]["KmsMasterKeyId"]["Fn::Sub"][1]["DataKeyArn"]
            decrypt = _granted(app, role, "kms:Decrypt", key)
            assert any(
                "sqs." in str(st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService"))
                for st in decrypt
            ), where
            senders = {
                k for k, f in fns.items() if _granted(app, f["Properties"]["Role"], "sqs:SendMessage", arn)
            }
            assert senders == {"APIHandler"}, where
            api_role = fns["APIHandler"]["Properties"]["Role"]
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                assert any(
                    "sqs." in str(st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService"))
                    for st in _granted(app, api_role, action, key)
                ), f"{where}: the API's {action}"
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue"):
                assert not _granted(app, api_role, action, arn), f"{where}: the API may not {action}"


CACHE_VARIABLE = "CREDITRISK_SAMPLING_CACHE_MB"
# the bench's bound on the peak RSS of a process drawing the 20M province-wide plan, its
# import, frame and roster included (ADR 0153; measured 362-455 MB)
LARGEST_DRAW_MB = 600


def test_the_api_function_holds_its_row_cache_beside_the_largest_draw(app_templates: dict[str, Json]) -> None:
    """The row cache (ADR 0163) lives in the API function's memory for the life of the container:
    beside it the process and the largest draw the bench bounds must still fit, or a
    province-wide draw after a day of county draws would be killed for memory."""
    default = Settings.model_fields["sampling_cache_mb"].default
    for stage, app in app_templates.items():
        api = functions_of(app)["APIHandler"]["Properties"]
        cache = int(api.get("Environment", {}).get("Variables", {}).get(CACHE_VARIABLE, default))
        memory = int(api["MemorySize"])
        assert cache + LARGEST_DRAW_MB <= memory, f"{stage}: {cache} MB of cache in {memory} MB"
