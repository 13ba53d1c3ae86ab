"""The rehearsal's verdicts (issue 12 "Rehearsal", docs/rehearsal.md).

moto answers what it can (actions on S3 keys, per role); the simulator judges every request the
code made, with the condition keys and resource policies moto ignores. A request the code makes
and the simulator denies is a deployment bug: the known ones are marked xfail(strict=True) with
their finding number in issue 12, so the test turns red (XPASS) once the policy is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

import pytest

from tests.rehearsal.conftest import MONTH, PROVINCE, UPLOADS, Rehearsal
from tests.rehearsal.simulator import Case, Decision, Simulator, implied
from tests.rehearsal.stack import ACCOUNT, PARTITION, REGION

STEP_ROLES = {
    "upload": {f"Uploader{PROVINCE}"},
    "ingest": {"OnUploadEventRole"},
    "monthly": {"ClassifyMonthlyRole"},
    "audit": {"AuditorRole"},
    "sampling": {"BearerAuthRole", "ApiHandlerRole"},
    "evaluate": {"EvaluatorRole"},
}


def _logical(r: Rehearsal, role_name: str) -> str:
    return next(k for k, v in r.stack.roles.items() if v.name == role_name)


def recorded_cases(r: Rehearsal) -> list[Case]:
    """Every request the code made (and what AWS checks behind it), as simulator cases."""
    cases: list[Case] = []
    for c in r.calls:
        if c.step == "forbidden":
            continue
        role = _logical(r, c.role)
        context = tuple(sorted((k, str(v)) for k, v in c.context.items()))
        cases.append(Case(role, c.action, c.resource, context, f"{c.step}: {c.request}"))
        cases.extend(implied(r.stack, role, c.action, c.resource, missing=c.missing))
    return cases


def athena_query_cases(r: Rehearsal, role: str, workgroup: str, table: str, data_key: str) -> list[Case]:
    """What Athena checks as the caller for one query (AWS: "Access to Amazon S3" in the Athena
    guide): the workgroup, the catalog, the table's S3 data, the workgroup's output location.
    Locations and names come from the platform template; ``data_key`` is a file the run wrote."""
    wg_name = r.stack.values[workgroup]
    wg = f"arn:{PARTITION}:athena:{REGION}:{ACCOUNT}:workgroup/{wg_name}"
    out = urlparse(
        r.stack.platform_value(workgroup, "WorkGroupConfiguration", "ResultConfiguration", "OutputLocation")
    )
    loc = urlparse(r.stack.platform_value(table, "TableInput", "StorageDescriptor", "Location"))
    db = r.stack.platform_value(table, "DatabaseName")
    name = r.stack.platform_value(table, "TableInput", "Name")
    glue = f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT}"
    bucket = f"arn:{PARTITION}:s3:::{out.netloc}"
    result = f"{bucket}/{out.path.lstrip('/')}rehearsal-query.csv"
    why = f"Athena query in {wg_name}"
    cases = [
        Case(role, a, wg, (), why)
        for a in ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults")
    ]
    catalog = (f"{glue}:catalog", f"{glue}:database/{db}")
    cases += [Case(role, "glue:GetDatabase", res, (), why) for res in catalog]
    for action in ("glue:GetTable", "glue:GetPartitions"):  # Glue checks the table's parents too
        cases += [Case(role, action, res, (), why) for res in (*catalog, f"{glue}:table/{db}/{name}")]
    cases += [
        Case(role, "s3:GetBucketLocation", f"arn:{PARTITION}:s3:::{loc.netloc}", (), why),
        Case(
            role,
            "s3:ListBucket",
            f"arn:{PARTITION}:s3:::{loc.netloc}",
            (("s3:prefix", loc.path.lstrip("/")),),
            why,
        ),
        Case(role, "s3:GetObject", f"arn:{PARTITION}:s3:::{loc.netloc}/{data_key}", (), why),
        Case(role, "s3:GetBucketLocation", bucket, (), why),
        Case(role, "s3:PutObject", result, (), why),
        Case(role, "s3:GetObject", result, (), why),
    ]
    for c in list(cases):
        cases.extend(implied(r.stack, role, c.action, c.resource))
    return cases


def function_athena_cases(r: Rehearsal) -> list[Case]:
    """The functions' Athena engine (production, ADR 0034/0068) reads curated data through the
    platform workgroup; the DuckDB run cannot make those calls on moto, so they are simulated on
    a curated file the ingest really wrote."""
    written = [
        c.resource for c in r.calls if c.action == "s3:PutObject" and "/curated/entities/" in c.resource
    ]
    key = written[-1].split(":::", 1)[1].split("/", 1)[1]
    return [
        c
        for role in ("ClassifyMonthlyRole", "OnUploadEventRole")
        for c in athena_query_cases(r, role, "PlatformWorkGroup", "TableEntities", key)
        if c.action != "athena:GetQueryResults"  # the engines read results from S3 (UNLOAD/CTAS)
    ]


def auditor_cases(r: Rehearsal) -> list[Case]:
    from functions import layout

    return athena_query_cases(
        r, "AuditorRole", "AuditWorkGroup", "TableClassifications", layout.classification_key(MONTH, PROVINCE)
    )


def evaluator_cases(r: Rehearsal) -> list[Case]:
    """``creditrisk evaluate`` on Athena (docs/adr/0150): its statements read the published
    classifications, the scratch table (a file the comparison really wrote) and the curated
    inputs in the platform workgroup; the challenger's CTAS creates and drops a
    ``classify_run_*`` table (Glue checks the catalog and database too)."""
    from functions import layout

    scratch = [
        c.resource.split(":::", 1)[1].split("/", 1)[1]
        for c in r.calls
        if c.step == "evaluate" and c.action == "s3:PutObject" and "/backtests/classifications/" in c.resource
    ]
    curated = [
        c.resource.split(":::", 1)[1].split("/", 1)[1]
        for c in r.calls
        if c.action == "s3:PutObject" and "/curated/entities/" in c.resource
    ]
    if not scratch or not curated:
        return []
    cases = [
        *athena_query_cases(
            r, "EvaluatorRole", "PlatformWorkGroup", "TableBacktestClassifications", scratch[0]
        ),
        *athena_query_cases(
            r,
            "EvaluatorRole",
            "PlatformWorkGroup",
            "TableClassifications",
            layout.classification_key(MONTH, PROVINCE),
        ),
        *athena_query_cases(r, "EvaluatorRole", "PlatformWorkGroup", "TableEntities", curated[-1]),
    ]
    db = r.stack.platform_value("TableClassifications", "DatabaseName")
    glue = f"arn:{PARTITION}:glue:{REGION}:{ACCOUNT}"
    run_table = f"{glue}:table/{db}/classify_run_42_2026_10_x_challenger_2026_10"
    for action in ("glue:CreateTable", "glue:DeleteTable"):
        cases += [
            Case("EvaluatorRole", action, res, (), "challenger CTAS")
            for res in (f"{glue}:catalog", f"{glue}:database/{db}", run_table)
        ]
    return cases


# -- findings of issue 12, fixed: their requests must keep being made and allowed ---------------
Predicate = Callable[[Rehearsal, Decision], bool]
KNOWN: dict[str, Predicate] = {
    # 12.4: GetBucketLocation never carries s3:prefix; the auditor's Athena queries fail.
    "12.4-auditor-GetBucketLocation": lambda r, d: (
        d.case.role == "AuditorRole" and d.case.action == "s3:GetBucketLocation"
    ),
    # 12.4: ingest may list the landing bucket only under an s3:prefix condition, so a missing
    # upload answers 403, not 404, and the "object gone" path ends in the DLQ.
    "12.4-ingest-ListBucket-landing": lambda r, d: (
        d.case.role == "OnUploadEventRole"
        and d.case.action == "s3:ListBucket"
        and d.case.resource.endswith(f":::{r.landing}")
    ),
}


@pytest.fixture(scope="session")
def decisions(rehearsal: Rehearsal) -> list[Decision]:
    cases = [
        *recorded_cases(rehearsal),
        *auditor_cases(rehearsal),
        *function_athena_cases(rehearsal),
        *evaluator_cases(rehearsal),
    ]
    return Simulator(rehearsal.stack).run(cases)


def _describe(ds: list[Decision]) -> list[str]:
    return [
        f"{d.case.role} {d.case.action} {d.case.resource} {dict(d.case.context)}: {d.decision} ({d.case.why})"
        for d in ds
    ]


# -- the run itself ----------------------------------------------------------------------------
def test_upload_ingest_monthly_and_audit_ran_with_their_own_roles(rehearsal: Rehearsal) -> None:
    assert rehearsal.failures == {}
    assert [i["status"] for i in rehearsal.ingests] == ["accepted"] * len(UPLOADS)
    assert [(i["rows_read"], i["rows_rejected"]) for i in rehearsal.ingests] == [(2, 0), (2, 0), (4, 0)]
    published = rehearsal.monthly["provinces"][PROVINCE]
    assert rehearsal.monthly["month"] == MONTH and published["status"] == "published"
    assert published["follow_up"]["status"] == "done"
    counts = {k: v for k, v in published["counts"].items() if v}
    assert rehearsal.audit_counts == counts and sum(counts.values()) == 2
    by_step: dict[str, set[str]] = {}
    for c in rehearsal.calls:
        by_step.setdefault(c.step, set()).add(_logical(rehearsal, c.role))
    for step, roles in STEP_ROLES.items():
        assert by_step.get(step) == roles, step


def test_the_inspection_platform_draws_a_plan_through_authorizer_and_api(rehearsal: Rehearsal) -> None:
    assert rehearsal.authorized["principalId"] == rehearsal.token_id
    assert rehearsal.authorized["context"]["provinces"] == PROVINCE
    assert rehearsal.plan_status == [201, 200], rehearsal.plan
    assert rehearsal.plan["province"] == PROVINCE and rehearsal.plan["month"] == MONTH
    assert len(rehearsal.plan["targets"]) == 2  # ratio 1.0: both classified entities are drawn


def test_evaluate_ran_with_the_evaluator_role(rehearsal: Rehearsal) -> None:
    """The backtest and the 1.1 vs 1.2 comparison ran as the evaluator; the side that did not
    publish the month was re-classified into the scratch, nothing was published, and Athena's
    checks for it are simulated."""
    assert "evaluate" not in rehearsal.failures, rehearsal.failures.get("evaluate")
    versus = rehearsal.evaluation["compare"]
    assert (versus["champion"]["model"], versus["challenger"]["model"]) == (
        "samr-general@1.1",
        "samr-general@1.2",
    )
    ((side, redone),) = versus["reclassified"].items()  # the one that did not publish the month
    assert sum(redone["counts"][MONTH].values()) == 2, side
    written = {
        c.resource.split("/", 1)[1]
        for c in rehearsal.calls
        if c.step == "evaluate" and c.action == "s3:PutObject"
    }
    assert written and all(k.startswith("backtests/classifications/job=") for k in written), written
    assert {c.action for c in rehearsal.calls if c.step == "evaluate"} >= {"s3:GetObject", "s3:ListBucket"}
    assert len(evaluator_cases(rehearsal)) > 30


def test_a_vanished_upload_is_reported_as_missing(rehearsal: Rehearsal) -> None:
    assert rehearsal.gone["status"] == "missing"
    assert any(c.missing and c.step == "ingest" for c in rehearsal.calls)


def test_moto_refused_nothing_the_code_asked_for(rehearsal: Rehearsal) -> None:
    refused = [
        f"{c.role} {c.action} {c.resource}"
        for c in rehearsal.calls
        if c.step != "forbidden" and c.moto_allowed is False
    ]
    assert refused == []


def test_forbidden_requests_get_403_from_moto(rehearsal: Rehearsal) -> None:
    """Except where moto is known to be blind (then the simulator's verdict below is the check)."""
    wrong = [
        (a.role, a.action, a.key, a.status)
        for a in rehearsal.attempts
        if a.status != 403 and not a.moto_blind
    ]
    assert wrong == []
    assert len(rehearsal.attempts) >= 10


def test_moto_blind_spots_are_still_blind(rehearsal: Rehearsal) -> None:
    """If moto learns a rule, its attempt gets a 403 and the note in docs/rehearsal.md is stale."""
    assert [(a.role, a.key, a.status) for a in rehearsal.attempts if a.moto_blind and a.status == 403] == []


def test_notifications_reach_the_simulator(rehearsal: Rehearsal) -> None:
    """sns:Publish is the one non-S3 call the DuckDB path makes; moto cannot scope it."""
    published = [c for c in rehearsal.calls if c.action == "sns:Publish"]
    assert published and all(c.moto_allowed is None for c in published)
    # the functions publish to the warnings topic; the per-province upload and delivery topics are
    # EventBridge's and the alarms topic CloudWatch's
    direct = {
        t
        for t in rehearsal.stack.topics
        if "-uploads-" not in t and "-delivery-" not in t and not t.endswith("-alarms")
    }
    assert {c.resource for c in published} == direct


# -- the simulator's verdicts ------------------------------------------------------------------
def test_simulator_allows_every_request_the_code_made(
    rehearsal: Rehearsal, decisions: list[Decision]
) -> None:
    errors = [d for d in decisions if d.decision == "error"]
    assert errors == [], [f"{d.case}: {d.errors}" for d in errors]
    denied = [d for d in decisions if not d.allowed]
    assert _describe(denied) == []
    assert len(decisions) > 100  # the recording is not empty


@pytest.mark.parametrize("finding", list(KNOWN))
def test_known_finding_is_fixed(rehearsal: Rehearsal, decisions: list[Decision], finding: str) -> None:
    hits = [d for d in decisions if KNOWN[finding](rehearsal, d)]
    assert _describe([d for d in hits if not d.allowed]) == []


@pytest.mark.parametrize("finding", list(KNOWN))
def test_known_findings_are_still_exercised(
    rehearsal: Rehearsal, decisions: list[Decision], finding: str
) -> None:
    """Each known finding's request is still made, so its xfail above means something."""
    assert [d for d in decisions if KNOWN[finding](rehearsal, d)], (
        f"{finding}: request no longer made; update KNOWN"
    )


def test_simulator_denies_every_forbidden_request(rehearsal: Rehearsal) -> None:
    cases = [
        Case(a.role, a.action, f"arn:{PARTITION}:s3:::{a.bucket}/{a.key}", (), "forbidden")
        for a in rehearsal.attempts
    ]
    allowed = [d for d in Simulator(rehearsal.stack).run(cases) if d.allowed]
    assert _describe(allowed) == []


def _unconditioned(context: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(kv for kv in context if not kv[0].startswith("s3:if-"))


def test_sampling_records_are_kept_as_written(rehearsal: Rehearsal) -> None:
    """The plan and the audit chain the API wrote were written with S3's conditional headers
    (create-once; the audit head ``If-Match``), which the lake's policy demands there (ADR 0166).
    The same writes without them, and deletes, are refused to the role that made them: no role,
    the API's included, can rewrite or remove what was drawn and recorded."""
    records = ("plans/", "audit/")
    writes = [
        c
        for c in recorded_cases(rehearsal)
        if c.action == "s3:PutObject" and c.resource.split(":::", 1)[1].split("/", 1)[1].startswith(records)
    ]
    written = {c.resource.split(":::", 1)[1].split("/", 1)[1].split("/", 1)[0] for c in writes}
    assert written == {"plans", "audit"}, written
    conditions = {k for c in writes for k, _ in c.context}
    assert all({"s3:if-none-match", "s3:if-match"} & {k for k, _ in c.context} for c in writes), writes
    assert "s3:if-none-match" in conditions
    bare = "the same write without its condition"
    plain = [Case(c.role, c.action, c.resource, _unconditioned(c.context), bare) for c in writes]
    removed = [Case(c.role, "s3:DeleteObject", c.resource, (), "delete of a record") for c in writes]
    verdicts = Simulator(rehearsal.stack).run(plain + removed)
    assert len(verdicts) == 2 * len(writes)
    assert _describe([d for d in verdicts if d.decision != "ExplicitlyDenied"]) == []


def test_no_uploader_reaches_another_province_and_tls_is_required(rehearsal: Rehearsal) -> None:
    puts = [
        c for c in recorded_cases(rehearsal) if c.role.startswith("Uploader") and c.action == "s3:PutObject"
    ]
    assert puts
    uploaders = [k for k in rehearsal.stack.roles if k.startswith("Uploader")]
    assert len(uploaders) == 31
    cases = [
        Case(u, p.action, p.resource, p.context, "other province")
        for p in puts
        for u in uploaders
        if u != p.role
    ]
    cases += [Case(p.role, p.action, p.resource, (("aws:SecureTransport", "false"),), "no TLS") for p in puts]
    allowed = [d for d in Simulator(rehearsal.stack).run(cases) if d.allowed]
    assert _describe(allowed) == []


def test_auditor_lists_results_only(rehearsal: Rehearsal) -> None:
    lake = f"arn:{PARTITION}:s3:::{rehearsal.lake}"
    cases = [
        Case("AuditorRole", "s3:ListBucket", lake, (("s3:prefix", p),), "listing outside results")
        for p in ("curated/", "archive/42/", "_auth/", "")
    ]
    allowed = [d for d in Simulator(rehearsal.stack).run(cases) if d.allowed]
    assert _describe(allowed) == []


def test_home_made_evaluator_agrees_with_the_simulator(
    rehearsal: Rehearsal, decisions: list[Decision]
) -> None:
    """tests/infra/iam_eval.py (docs/adr/0055) cross-checked on every recorded request: where the
    two disagree, one of them is wrong about AWS, and the simulator is the maintained one."""
    from tests.infra.iam_eval import Request, evaluate

    sim = Simulator(rehearsal.stack)
    disagree = []
    for d in decisions:
        c = d.case
        resource_policy = sim.resource_policy(c)
        home = evaluate(
            list(rehearsal.stack.roles[c.role].policies.values()),
            Request(c.action, c.resource, dict(c.context)),
            resource_policies=[resource_policy] if resource_policy else [],
        )
        if (home == "allow") != d.allowed:
            disagree.append(
                f"{c.role} {c.action} {c.resource} {dict(c.context)}: simulator {d.decision}, iam_eval {home}"
            )
    assert disagree == []


def test_the_province_platform_reads_its_own_delivery_only(rehearsal: Rehearsal) -> None:
    """ADR 0122: the monthly run wrote the export under delivery/<PP>/; the simulator lets the
    province's platform role read exactly that, never another province's, results/ or uploads."""
    lake = f"arn:{PARTITION}:s3:::{rehearsal.lake}"
    written = sorted(
        {
            c.resource
            for c in rehearsal.calls
            if c.action == "s3:PutObject" and f"{lake}/delivery/" in c.resource
        }
    )
    assert f"{lake}/delivery/{PROVINCE}/month={MONTH}/manifest.json" in written
    role = f"Platform{PROVINCE}"
    sim = Simulator(rehearsal.stack)
    own = [Case(role, "s3:GetObject", r, (), "own delivery") for r in written]
    own.append(Case(role, "s3:ListBucket", lake, (("s3:prefix", f"delivery/{PROVINCE}/"),), "own listing"))
    assert [d for d in sim.run(own) if not d.allowed] == []
    other = next(p for p in ("43", "23") if p != PROVINCE)
    foreign = [
        Case(f"Platform{other}", "s3:GetObject", r, (), "another province's platform") for r in written
    ]
    foreign += [
        Case(role, "s3:GetObject", f"{lake}/{key}", (), "outside its delivery")
        for key in (
            f"delivery/{other}/month={MONTH}/classifications.parquet",
            f"results/classifications/month={MONTH}/province={PROVINCE}/part-0.parquet",
            f"incoming/{PROVINCE}/penalties/x.csv",
        )
    ]
    foreign.append(
        Case(
            role,
            "s3:GetObject",
            f"arn:{PARTITION}:s3:::{rehearsal.landing}/incoming/{PROVINCE}/x.csv",
            (),
            "uploads",
        )
    )
    foreign += [
        Case(role, "s3:ListBucket", lake, (("s3:prefix", p),), "listing")
        for p in ("delivery/", "results/", "")
    ]
    foreign += [Case(role, "s3:PutObject", r, (), "write") for r in written]
    allowed = [d for d in sim.run(foreign) if d.allowed]
    assert _describe(allowed) == []


def test_only_the_api_queues_follow_ups_and_only_the_worker_polls_them() -> None:
    """ADR 0144, judged by the simulator on the deployed roles: the API role may send a decision's
    follow-up to the queue (and use the queue's key through SQS) and nothing else with it; the
    corrections worker's role polls it as Lambda's event source does; no one else may."""
    from tests.rehearsal.stack import load_stack

    stack = load_stack("dev")
    url = stack.function("corrections").env["CREDITRISK_CORRECTION_QUEUE_URL"]
    assert stack.function("app").env["CREDITRISK_CORRECTION_QUEUE_URL"] == url
    queue = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{url.rsplit('/', 1)[1]}"
    dlq = f"{queue.rsplit('-', 1)[0]}-CorrectionDeadLetterQueue"
    key = stack.values["DataKey.Arn"]
    via_sqs = (("kms:ViaService", f"sqs.{REGION}.amazonaws.com.cn"),)
    allowed = [
        Case("ApiHandlerRole", "sqs:SendMessage", queue, (), "queue a decision's follow-up"),
        Case("ApiHandlerRole", "kms:GenerateDataKey", key, via_sqs, "encrypt it"),
        *(
            Case("CorrectionsRole", a, queue, (), "event source polling")
            for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
        ),
        Case("CorrectionsRole", "kms:Decrypt", key, via_sqs, "decrypt it"),
    ]
    denied = [
        *(
            Case("ApiHandlerRole", a, queue, (), "the API only sends")
            for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue", "sqs:SetQueueAttributes")
        ),
        Case("ApiHandlerRole", "sqs:SendMessage", dlq, (), "not the dead letters"),
        Case("ApiHandlerRole", "kms:GenerateDataKey", key, (), "the key only through SQS"),
        Case("CorrectionsRole", "sqs:SendMessage", queue, (), "the worker sends nothing"),
        *(
            Case(role, "sqs:SendMessage", queue, (), "no other sender")
            for role in (
                "BearerAuthRole",
                "OnUploadEventRole",
                "ClassifyMonthlyRole",
                "AuditorRole",
                "Platform42",
            )
        ),
    ]
    decisions = Simulator(stack).run([*allowed, *denied])
    assert _describe([d for d in decisions[: len(allowed)] if not d.allowed]) == []
    assert _describe([d for d in decisions[len(allowed) :] if d.allowed]) == []
