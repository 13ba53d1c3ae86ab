"""Chalice wiring only: parse input with a model from ``schemas/``, call one domain function,
return its result. Domain errors become HTTP answers in exactly one place (``_error_response``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from chalice.app import Chalice, Cron, Response
from pydantic import ValidationError

from functions.errors import (
    Conflict,
    CreditRiskError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unprocessable,
)
from functions.lake import Lake, open_lake
from functions.obs.context import configure_logging, log_context
from functions.settings import get_settings

app = Chalice(app_name="creditrisk")
app.log.setLevel(os.environ.get("CREDITRISK_LOG_LEVEL", "INFO"))
# ids (ingest_id, run_id, plan_id) on every record; functions.* at INFO in Lambda (ADR 0076)
configure_logging()
logger = logging.getLogger(__name__)

_STATUS: dict[type[CreditRiskError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
}
_lake: Lake | None = None


def lake() -> Lake:
    """The lake, opened on first use (never at import time)."""
    global _lake
    if _lake is None:
        _lake = open_lake(settings=get_settings())
    return _lake


def _error_response(exc: Exception) -> Response:
    """The one place where exceptions become HTTP answers; never a stack trace to a caller."""
    if isinstance(exc, ValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0] if errors else {"field": None, "problem": "invalid request"}
        body: dict[str, Any] = {
            "error": "invalid_input",
            "message": f"{first['field']}: {first['problem']}" if first["field"] else str(first["problem"]),
            "field": first["field"],
            "details": {"errors": errors},
        }
        return Response(body=body, status_code=400)
    if isinstance(exc, CreditRiskError):
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
        return Response(body=exc.to_dict(), status_code=status)
    where = app.current_request.path if app.current_request else "event"
    logger.error("unhandled error in %s: %s", where, type(exc).__name__, exc_info=exc)
    return Response(
        body={"error": "internal", "message": "internal error; see the function log"}, status_code=500
    )


def _api(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Every REST handler goes through here: any exception becomes ``_error_response``."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        with log_context():  # ids bound during the request (plan_id) end with it
            try:
                return handler(*args, **kwargs)
            except Exception as exc:
                return _error_response(exc)

    return wrapped


# -- REST API: sampling plans and classification lookups (issue 4, docs/api.md) -----------------
# Domain modules are imported inside the handlers: the handler module must import fast (cold
# start) and the sampling path never imports pandas/awswrangler/duckdb/sqlglot.
_JSON = {"Content-Type": "application/json"}


def reset() -> None:
    """Forget the cached settings, lake, frames and verified tokens (tests switch lakes via env)."""
    global _lake, _landing
    _lake = None
    _landing = None
    get_settings.cache_clear()
    import sys

    for mod, fn in (
        ("functions.sampling.frame", "clear_cache"),
        ("functions.sampling.cells", "clear_cache"),
        ("functions.sampling.plans", "clear_cache"),
        ("functions.roster.load", "clear_cache"),
        ("functions.auth.tokens", "clear_cache"),
        ("functions.delivery.cursor", "clear_cache"),
        ("functions.delivery.bulk", "clear_cache"),
    ):
        if mod in sys.modules:
            getattr(sys.modules[mod], fn)()


def _principal() -> Any:
    """Authenticate every request here too: the test client and ``chalice local`` routes that
    bypass the authorizer must not bypass the check (docs/adr/0043)."""
    from functions.auth.guard import authenticate

    request = app.current_request
    return authenticate(lake(), dict(request.headers) if request is not None else None)


def _gateway_unauthorized() -> Exception:
    """401 from the authorizer: API Gateway maps the ``Unauthorized`` exception to 401; ``chalice
    local`` only turns its own gateway exception into a 401 (anything else would drop the socket)."""
    import sys

    local = sys.modules.get("chalice.local")
    if local is not None:
        body = b'{"error":"unauthenticated","message":"missing, malformed, unknown or revoked bearer token"}'
        exc: Exception = local.NotAuthorizedError({**_JSON}, body)
        return exc
    return Exception("Unauthorized")


def _query_params() -> dict[str, str]:
    request = app.current_request
    return dict((request.query_params if request is not None else None) or {})


@app.authorizer()
def bearer_auth(auth_request: Any) -> Any:
    """Built-in custom authorizer (a Lambda in front of API Gateway; also run by ``chalice local``)."""
    from chalice.app import AuthResponse

    from functions.auth.guard import authenticate

    try:
        principal = authenticate(lake(), {"Authorization": auth_request.token or ""})
    except Unauthenticated:
        raise _gateway_unauthorized() from None
    return AuthResponse(
        routes=["*"],
        principal_id=principal.token_id,
        context={"name": principal.name, "provinces": ",".join(sorted(principal.provinces))},
    )


def _json_body(max_bytes: int | None = None) -> Any:
    """The request body parsed strictly: size, duplicate keys, out-of-range numbers (ADR 0096).
    ``max_bytes`` lowers the limit for small bodies (objections: 64 KiB)."""
    from functions.strict_json import loads
    from schemas.api import MAX_BODY_BYTES

    limit = MAX_BODY_BYTES if max_bytes is None else max_bytes
    raw = app.current_request.raw_body if app.current_request is not None else b""
    if len(raw or b"") > limit:
        raise InvalidInput(f"the request body exceeds {limit} bytes", field="body")
    return loads(raw)


_Parsed = TypeVar("_Parsed")


def _scoped(parse: Callable[[], _Parsed], province: Callable[[_Parsed], str]) -> tuple[Any, _Parsed]:
    """The province-scope wiring of a route, in its one order: authenticate (401), parse the input
    (400), check the caller's provinces (403), all before any data is read, so a caller outside
    the province learns nothing of what exists there (docs/adr/0043, 0143)."""
    from functions.auth.guard import require_province

    principal = _principal()
    parsed = parse()
    require_province(principal, province(parsed))
    return principal, parsed


def _plan_created(made: Any) -> Response:
    return Response(
        body=made.answer.decode("utf-8"),
        status_code=201,
        headers={**_JSON, "Location": f"/v1/sampling/plans/{made.plan_id}"},
    )


@app.route("/v1/sampling/plans", methods=["POST"], authorizer=bearer_auth, content_types=["application/json"])
@_api
def create_sampling_plan() -> Response:
    from functions.sampling.signing import signer_from_settings
    from functions.sampling.tasks import draw_test_plan
    from schemas.api import PlanRequest

    principal, req = _scoped(lambda: PlanRequest.model_validate(_json_body()), lambda r: r.province)
    if req.mode != "test":
        raise Unprocessable("official plans are drawn from a registered task: POST /v1/sampling/tasks, "
                            "then POST /v1/sampling/tasks/{task_id}/plans", field="mode")  # fmt: skip
    if not get_settings().sampling_test_mode:
        raise Forbidden("test draws are disabled in this deployment (production)", field="mode")
    settings = get_settings()
    made = draw_test_plan(lake(), req, principal, signer_from_settings(settings, lake()),
                          max_answer_bytes=settings.api_max_answer_bytes)  # fmt: skip
    return _plan_created(made)


@app.route("/v1/sampling/tasks", methods=["POST"], authorizer=bearer_auth, content_types=["application/json"])
@_api
def create_sampling_task() -> Response:
    from functions.sampling.signing import signer_from_settings
    from functions.sampling.tasks import register_task
    from schemas.api import TaskRequest

    principal, req = _scoped(lambda: TaskRequest.model_validate(_json_body()), lambda r: r.province)
    task = register_task(lake(), req, principal, signer_from_settings(get_settings(), lake()))
    location = f"/v1/sampling/tasks/{task['task_id']}"
    return Response(body=task, status_code=201, headers={**_JSON, "Location": location})


@app.route("/v1/sampling/tasks/{task_id}", methods=["GET"], authorizer=bearer_auth)
@_api
def get_sampling_task(task_id: str) -> Response:
    from functions.sampling.tasks import province_of_task, task_view

    _scoped(lambda: task_id, province_of_task)  # a malformed id is 400 (InvalidInput), before 403
    return Response(body=task_view(lake(), task_id), status_code=200, headers={**_JSON})


@app.route("/v1/sampling/tasks/{task_id}/plans", methods=["POST"], authorizer=bearer_auth,
           content_types=["application/json"])  # fmt: skip
@_api
def draw_sampling_task(task_id: str) -> Response:
    """Scope on the task id before the body is read: another province's caller gets the same 403
    whatever it sends (as for objection steps, ADR 0143)."""
    from functions.sampling.signing import signer_from_settings
    from functions.sampling.tasks import draw_task, province_of_task
    from schemas.api import DrawRequest

    principal, _ = _scoped(lambda: task_id, province_of_task)
    body = _json_body()
    dreq = DrawRequest.model_validate({} if body is None else body)
    settings = get_settings()
    made = draw_task(lake(), task_id, dreq, principal, signer_from_settings(settings, lake()),
                     max_answer_bytes=settings.api_max_answer_bytes)  # fmt: skip
    return _plan_created(made)


@app.route("/v1/sampling/plans/{plan_id}", methods=["GET"], authorizer=bearer_auth)
@_api
def get_sampling_plan(plan_id: str) -> Response:
    from functions.sampling.plans import plan_answer, province_of_plan

    _scoped(lambda: plan_id, province_of_plan)
    body = plan_answer(lake(), plan_id, get_settings().api_max_answer_bytes)
    return Response(body=body, status_code=200, headers={**_JSON})


@app.route("/v1/sampling/plans/{plan_id}/targets", methods=["GET"], authorizer=bearer_auth)
@_api
def get_sampling_plan_targets(plan_id: str) -> Response:
    from functions.sampling.plans import province_of_plan, targets_page
    from schemas.api import TargetsQuery

    _, query = _scoped(lambda: TargetsQuery.model_validate({**_query_params(), "plan_id": plan_id}),
                       lambda q: province_of_plan(q.plan_id))  # fmt: skip
    body = targets_page(lake(), query.plan_id, query.offset, query.limit, get_settings().api_max_answer_bytes)
    return Response(body=body, status_code=200, headers={**_JSON})


@app.route("/v1/classifications/{uscc}", methods=["GET"], authorizer=bearer_auth)
@_api
def get_classification(uscc: str) -> Response:
    from functions.sampling.lookup import lookup
    from schemas.api import ClassificationQuery

    _, query = _scoped(lambda: ClassificationQuery.model_validate({**_query_params(), "uscc": uscc}),
                       lambda q: q.uscc[2:4])  # fmt: skip
    return Response(body=lookup(lake(), query.uscc, query.month), status_code=200, headers={**_JSON})


# -- bulk read, change feed, objections and adjustments (issue 14, docs/api.md, ADR 0112-0114) --
_OBJECTION_BODY_BYTES = 64 * 1024


def _bulk(changes_only: bool) -> Response:
    from functions.delivery.bulk import page
    from functions.delivery.cursor import cursor_signer
    from schemas.delivery import ClassificationsQuery

    _, query = _scoped(lambda: ClassificationsQuery.model_validate(_query_params()), lambda q: q.province)
    body = page(
        lake(),
        month=query.month,
        province=query.province,
        cursor=query.cursor,
        limit=query.limit,
        changes_only=changes_only,
        max_bytes=get_settings().api_max_answer_bytes,
        signer=cursor_signer(get_settings(), lake()),
    )
    return Response(body=body, status_code=200, headers={**_JSON})


@app.route("/v1/classifications", methods=["GET"], authorizer=bearer_auth)
@_api
def list_classifications() -> Response:
    return _bulk(changes_only=False)


@app.route("/v1/classifications/changes", methods=["GET"], authorizer=bearer_auth)
@_api
def list_classification_changes() -> Response:
    return _bulk(changes_only=True)


def _actor(principal: Any) -> Any:
    from schemas.objections import Actor

    return Actor(kind="token", id=principal.token_id, name=principal.name or principal.token_id)


@app.route("/v1/objections", methods=["POST"], authorizer=bearer_auth, content_types=["application/json"])
@_api
def register_objection() -> Response:
    from functions.objections.service import register
    from schemas.objections import ObjectionIn

    principal, req = _scoped(
        lambda: ObjectionIn.model_validate(_json_body(_OBJECTION_BODY_BYTES)), lambda r: r.uscc[2:4]
    )
    out = register(lake(), req, _actor(principal))
    return Response(
        body=out.model_dump_json(),
        status_code=201,
        headers={**_JSON, "Location": f"/v1/objections/{out.objection_id}"},
    )


@app.route("/v1/objections", methods=["GET"], authorizer=bearer_auth)
@_api
def list_objections() -> Response:
    from functions.objections.service import list_objections as listed
    from functions.objections.service import today_in_china
    from schemas.objections import ObjectionsPage, ObjectionsQuery

    _, query = _scoped(lambda: ObjectionsQuery.model_validate(_query_params()), lambda q: q.province)
    found = listed(lake(), query.province, month=query.month, overdue_only=query.overdue == "true")
    out = ObjectionsPage(
        province=query.province,
        overdue_only=query.overdue == "true",
        as_of=today_in_china().isoformat(),
        objections=found,
    )
    return Response(body=out.model_dump_json(), status_code=200, headers={**_JSON})


@app.route("/v1/objections/{objection_id}", methods=["GET"], authorizer=bearer_auth)
@_api
def get_objection(objection_id: str) -> Response:
    from functions.objections.service import get
    from schemas.objections import ObjectionQuery

    _, query = _scoped(
        lambda: ObjectionQuery.model_validate({"objection_id": objection_id}), lambda q: q.objection_id[:2]
    )
    return Response(
        body=get(lake(), query.objection_id).model_dump_json(), status_code=200, headers={**_JSON}
    )


@app.route("/v1/objections/{objection_id}/steps", methods=["POST"], authorizer=bearer_auth,
           content_types=["application/json"])  # fmt: skip
@_api
def advance_objection(objection_id: str) -> Response:
    """The review steps (accepted, checked, decided) of the provincial system that received the
    objection. A decision queues its follow-up (the overdue warning resolved, an upheld one's
    correction run) for the ``corrections`` worker: 202 while that run is to come (ADR 0144)."""
    from functions.objections.followup import enqueue
    from functions.objections.queue import sender_from_settings
    from functions.objections.service import advance
    from schemas.objections import ObjectionQuery, ObjectionStepIn

    principal, query = _scoped(
        lambda: ObjectionQuery.model_validate({"objection_id": objection_id}), lambda q: q.objection_id[:2]
    )
    req = ObjectionStepIn.model_validate(_json_body(_OBJECTION_BODY_BYTES))
    out = advance(lake(), query.objection_id, req.step, _actor(principal),
                  outcome=req.outcome, reason=req.reason, correction=req.correction)  # fmt: skip
    if req.step == "decided":
        out = enqueue(lake(), out, _actor(principal), sender_from_settings(get_settings()))
    status = 202 if out.correction_status not in (None, "done") else 200  # an upheld one's run is to come
    return Response(body=out.model_dump_json(), status_code=status, headers={**_JSON})


@app.route("/v1/adjustments", methods=["POST"], authorizer=bearer_auth, content_types=["application/json"])
@_api
def propose_adjustment() -> Response:
    from functions.objections.adjust import propose
    from schemas.objections import AdjustmentIn

    principal, req = _scoped(lambda: AdjustmentIn.model_validate(_json_body()), lambda r: r.uscc[2:4])
    out = propose(lake(), req.uscc, req.month, req.to_class, req.reason, _actor(principal))
    location = f"/v1/adjustments/{out.adjustment_id}?month={out.month}"
    return Response(body=out.model_dump_json(), status_code=201, headers={**_JSON, "Location": location})


@app.route("/v1/adjustments", methods=["GET"], authorizer=bearer_auth)
@_api
def list_adjustments() -> Response:
    from functions.objections.adjust import list_adjustments as listed
    from schemas.objections import AdjustmentsPage, AdjustmentsQuery

    _, query = _scoped(lambda: AdjustmentsQuery.model_validate(_query_params()), lambda q: q.province)
    out = AdjustmentsPage(
        province=query.province, month=query.month, adjustments=listed(lake(), query.province, query.month)
    )
    return Response(body=out.model_dump_json(), status_code=200, headers={**_JSON})


@app.route("/v1/adjustments/{adjustment_id}", methods=["GET"], authorizer=bearer_auth)
@_api
def get_adjustment(adjustment_id: str) -> Response:
    from functions.objections.adjust import get
    from schemas.objections import AdjustmentQuery

    _, query = _scoped(
        lambda: AdjustmentQuery.model_validate({**_query_params(), "adjustment_id": adjustment_id}),
        lambda q: q.adjustment_id[:2],
    )
    out = get(lake(), query.month, query.adjustment_id)
    return Response(body=out.model_dump_json(), status_code=200, headers={**_JSON})


@app.route("/v1/adjustments/{adjustment_id}/decision", methods=["POST"], authorizer=bearer_auth,
           content_types=["application/json"])  # fmt: skip
@_api
def decide_adjustment(adjustment_id: str) -> Response:
    from functions.objections.adjust import decide
    from schemas.objections import AdjustmentDecision, AdjustmentQuery

    def parse() -> tuple[AdjustmentQuery, AdjustmentDecision]:
        body = AdjustmentDecision.model_validate(_json_body())
        return AdjustmentQuery.model_validate({"adjustment_id": adjustment_id, "month": body.month}), body

    principal, (query, body) = _scoped(parse, lambda parsed: parsed[0].adjustment_id[:2])
    out = decide(lake(), query.month, query.adjustment_id, _actor(principal),
                 approve=body.decision == "approved", reason=body.reason)  # fmt: skip
    return Response(body=out.model_dump_json(), status_code=200, headers={**_JSON})


# -- public disclosure (一公开, issue 15, docs/adr/0098): public by law, so no credential -------------
@app.route("/v1/public/disclosures/{plan_id}", methods=["GET"])
@_api
def get_public_disclosure(plan_id: str) -> Response:
    from functions.disclosure.build import published
    from schemas.disclosure import DisclosureQuery

    query = DisclosureQuery.model_validate({**_query_params(), "plan_id": plan_id})
    body = published(lake(), query.plan_id, query.format).decode("utf-8")
    kind = "text/csv; charset=utf-8" if query.format == "csv" else "application/json"
    return Response(body=body, status_code=200, headers={"Content-Type": kind})


# -- early warnings (issue 6, docs/warnings.md) -------------------------------------------------
@app.route("/v1/warnings", methods=["GET"], authorizer=bearer_auth)
@_api
def get_warnings() -> Response:
    from functions.warnings.api import list_warnings
    from schemas.warnings import WarningsQuery

    _, query = _scoped(lambda: WarningsQuery.model_validate(_query_params()), lambda q: q.province)
    return Response(body=list_warnings(lake(), query), status_code=200, headers={**_JSON})


# -- effectiveness figures with n and intervals (issue 16, docs/adr/0134) ------------------------
@app.route("/v1/effectiveness", methods=["GET"], authorizer=bearer_auth)
@_api
def get_effectiveness() -> Response:
    from functions.analysis.effectiveness_view import stored_figures
    from schemas.api import EffectivenessQuery

    _, query = _scoped(lambda: EffectivenessQuery.model_validate(_query_params()), lambda q: q.province)
    return Response(body=stored_figures(lake(), query), status_code=200, headers={**_JSON})


# -- what uploaders learn about their uploads (issue 13, docs/adr/0087) -------------------------
@app.route("/v1/uploads", methods=["GET"], authorizer=bearer_auth)
@_api
def list_uploads() -> Response:
    from functions.uploads.query import list_uploads as page_of_uploads
    from schemas.uploads import UploadsQuery

    _, query = _scoped(lambda: UploadsQuery.model_validate(_query_params()), lambda q: q.province)
    body = page_of_uploads(lake(), query, max_bytes=get_settings().api_max_answer_bytes)
    return Response(body=body, status_code=200, headers={**_JSON})


@app.route("/v1/uploads/{ingest_id}", methods=["GET"], authorizer=bearer_auth)
@_api
def get_upload(ingest_id: str) -> Response:
    from functions.auth.guard import require_province
    from functions.uploads.query import find_upload
    from schemas.uploads import UploadQuery

    principal = _principal()
    query = UploadQuery.model_validate({**_query_params(), "ingest_id": ingest_id})
    if query.province is not None:
        require_province(principal, query.province)
    provinces = frozenset({query.province}) if query.province else principal.provinces
    view = find_upload(lake(), query, provinces)
    return Response(body=view.model_dump_json(), status_code=200, headers={**_JSON})


# -- ingestion: uploads to the landing area (issue 2, docs/upload-contract.md) -----------------
_landing: Lake | None = None
_SUMMARY_FIELDS = {
    "ingest_id",
    "source_key",
    "status",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "rows_out_of_scope",
    "file_reason",
    "file_message",
}


def landing() -> Lake:
    """The landing area (may be the lake itself), opened on first use."""
    global _landing
    if _landing is None:
        s = get_settings()
        _landing = open_lake(s.effective_landing_uri, settings=s)
    return _landing


@app.on_s3_event(
    bucket=get_settings().effective_landing_bucket,
    prefix=f"{get_settings().landing_prefix}incoming/",
    events=["s3:ObjectCreated:*"],
)
def on_upload(event: Any) -> list[dict[str, Any]]:
    """Each uploaded object → one ingest. Storage failures raise so that Lambda retries."""
    from schemas.ingest import S3ObjectRecord

    return [
        _ingest_landed([rec.key], etag=rec.etag, version_id=rec.version_id)
        for rec in S3ObjectRecord.from_event(event.to_dict())
    ]


@app.on_cw_event({"source": ["aws.s3"], "detail-type": ["Object Created"]})
def on_upload_event(event: Any) -> dict[str, Any]:
    """Uploads in AWS: S3 → EventBridge → here (docs/adr/0050). The deployed rule narrows the
    pattern to the landing bucket and ``incoming/``; the domain call is the one ``on_upload`` makes."""
    from urllib.parse import unquote_plus

    from schemas.events import S3ObjectCreatedEvent

    obj = S3ObjectCreatedEvent.model_validate(event.to_dict()).detail.object
    # S3 notification keys are URL-encoded; try the decoded key first, then the key as given.
    return _ingest_landed(list(dict.fromkeys([unquote_plus(obj.key), obj.key])), etag=obj.etag,
                          version_id=obj.version_id)  # fmt: skip


def _ingest_landed(candidates: list[str], *, etag: str | None, version_id: str | None) -> dict[str, Any]:
    """Ingest the first candidate key that exists; a vanished object (S3 404) is logged and
    skipped. A refused read (S3 403, e.g. no ``s3:ListBucket``) is not "gone": it is logged and
    re-raised, so Lambda retries and the dead-letter queue keeps the event for a re-drive."""
    import datetime as dt

    from functions.ingest.landed import ingest_landed
    from functions.obs.metrics import emf_document, emit, ingest_metrics
    from functions.uploads.notify import notify_outcome, publisher_from_settings

    settings = get_settings()
    report = ingest_landed(lake(), landing(), candidates, etag=etag, version_id=version_id, settings=settings)
    if report is not None:
        with log_context(ingest_id=report.ingest_id, source_key=report.source_key):
            logger.info("ingest %s of %s: %s", report.ingest_id, report.source_key, report.status)
            measured = ingest_metrics(report)
            if measured is not None:
                emit([emf_document(measured, at=dt.datetime.now(dt.UTC))])
            # Real-time warnings for the entities the upload touched (never fails the ingest).
            from functions.warnings.on_ingest import warn_after_ingest

            warned = warn_after_ingest(lake(), report, settings=settings, now=dt.datetime.now(dt.UTC))
            # Inspection results publish their plans' disclosures again (一公开; never raises)
            from functions.disclosure.build import after_ingests

            disclosed = after_ingests(lake(), [report])
            notified = notify_outcome(report, publisher_from_settings(settings))  # never raises
        return {
            **report.model_dump(mode="json", include=_SUMMARY_FIELDS),
            "warnings": warned,
            "disclosed": sorted(disclosed),
            "notified": notified,
        }
    logger.warning("landed object %s is gone (deleted or overwritten); skipped", candidates[-1])
    return {"source_key": candidates[-1], "status": "missing"}


# -- decisions' follow-ups (issue 14, docs/adr/0144) ----------------------------------------------
# The queue's ARN is wired by infra/package.py (the queue is declared beside the dead-letter
# queue); the name here only names the event source for chalice.
@app.on_sqs_message(queue="creditrisk-corrections", batch_size=1, name="corrections")
def corrections(event: Any) -> list[dict[str, Any]]:
    """A decided objection's follow-up: its overdue warning resolved and, if upheld, its
    correction run (the path of ``creditrisk objection reclassify``). An error raises, so SQS
    delivers the message again and at last keeps it in the queue's dead-letter queue. The lease
    on a started run is the setting ``correction_lease_seconds`` (ADR 0155)."""
    from functions.classify.run import classify_month
    from functions.objections.followup import follow_up
    from functions.objections.queue import deliveries

    settings = get_settings()
    classify = functools.partial(  # the fields follow the corrected general class (ADR 0117)
        classify_month, lake(), settings=settings, engine=settings.engine, fields=settings.field_systems
    )
    done = []
    for d in deliveries(event.to_dict()):
        with log_context(objection_id=d.message.objection_id, message_id=d.message_id):
            done.append(follow_up(lake(), d.message, classify=classify, attempt=d.attempt))
    return done


# -- monthly classification (issue 3, docs/results-contract.md, docs/adr/0035) -------------------
# 02:00 Asia/Shanghai on the 1st of a month = 18:00 UTC on the last day of the previous month
# (China has no DST, so the offset is always +08:00). EventBridge cron supports "L" (last day
# of month) in the day-of-month field; the handler derives the month from the event time in
# China, so it classifies the month that has just ended there.
@app.schedule(Cron(0, 18, "L", "*", "?", "*"), name="classify_monthly")
def classify_monthly(event: Any) -> dict[str, Any]:
    """Classify the previous month (China time) for every province with curated data, then raise
    its warnings and write the analysis and report per province (``functions.monthly``)."""
    import datetime as dt

    from functions.classify.run import previous_month_in
    from functions.monthly import run_monthly
    from functions.obs.metrics import emf_document, emit, monthly_metrics

    settings = get_settings()
    raw_time = getattr(event, "time", None) or ""
    now = dt.datetime.now(dt.UTC)
    try:
        fired = dt.datetime.fromisoformat(str(raw_time).replace("Z", "+00:00"))
    except ValueError:
        fired = now
    month = previous_month_in(fired, settings.tz)
    with log_context(month=month):
        summary = run_monthly(lake(), month=month, settings=settings, now=now)
        for province, info in summary["provinces"].items():
            follow = info.get("follow_up", {}).get("status", "-")
            with log_context(province=province, run_id=info.get("run_id")):
                logger.info(
                    "classification %s province %s: %s (follow-up %s)",
                    month,
                    province,
                    info["status"],
                    follow,
                )
        # MonthlyRunFailed / MonthlyRunSeconds per province (docs/operations.md)
        emit([emf_document(m, at=dt.datetime.now(dt.UTC)) for m in monthly_metrics(summary)])
    return summary
