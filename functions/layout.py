"""Where everything lives in the landing area and the lake (one place, see docs/adr/0001).

landing:  incoming/<PP>/<dataset>/<file>
lake:     archive/<PP>/<dataset>/<ingest_id>/<file>            byte-for-byte upload copy
          curated/<dataset>/province=<PP>/ingest=<ingest_id>/part-0.parquet
          quarantine/<PP>/<dataset>/<ingest_id>/rejected.jsonl
          reports/ingest/<PP>/<dataset>/<ingest_id>.json
          results/classifications/month=<YYYY-MM>/province=<PP>/part-0.parquet   (published)
          results/runs/<run_id>/...                                               (every run, kept)
          results/field_classifications/field=<f>/month=<M>/province=<PP>/part-0.parquet
                                                     (a professional field's class, ADR 0117)
          results/classifications/month=<M>/province=<PP>/_sampling/<run_id>/frame.parquet, cells.parquet
                                                     (sampling copy by class and region, hidden)
          plans/<PP>/<plan_id>.json                                 (sampling plans, immutable)
          _auth/tokens/<token_id>.json                              (API tokens, salted hashes only)
"""

from __future__ import annotations

import re

from functions.errors import InvalidInput

PROVINCE_RE = re.compile(r"^[1-9][0-9]$")
MONTH_RE = re.compile(r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$")
# GB/T 2260 province-level codes.
PROVINCES: dict[str, str] = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
    "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
    "63": "青海", "64": "宁夏", "65": "新疆",
}  # fmt: skip

INCOMING = "incoming"


def validate_scope(month: str, province: str) -> None:
    """A month and a province as every path here spells them; here, not in the warnings engine,
    so a command that only lists or reads checks them without loading DuckDB (docs/adr/0159)."""
    if not MONTH_RE.match(month or ""):
        raise InvalidInput("month must be YYYY-MM", field="month")
    if not PROVINCE_RE.match(province or ""):
        raise InvalidInput("province must be a two-digit GB/T 2260 code", field="province")


def incoming_key(province: str, dataset: str, filename: str) -> str:
    return f"{INCOMING}/{province}/{dataset}/{filename}"


def archive_key(province: str, dataset: str, ingest_id: str, filename: str) -> str:
    return f"archive/{province}/{dataset}/{ingest_id}/{filename}"


def curated_prefix(dataset: str, province: str | None = None) -> str:
    return f"curated/{dataset}" + (f"/province={province}" if province else "")


def curated_key(dataset: str, province: str, ingest_id: str) -> str:
    return f"{curated_prefix(dataset, province)}/ingest={ingest_id}/part-0.parquet"


def curated_ingest_id(key: str) -> str | None:
    """The ingest id in a curated key (``…/ingest=<id>/part-0.parquet``), else None."""
    found = _CURATED_KEY.fullmatch(key)
    return found.group("ingest") if found else None


_CURATED_KEY = re.compile(r"curated/[^/]+/province=[^/]+/ingest=(?P<ingest>[^/]+)/part-0\.parquet")


def quarantine_key(province: str, dataset: str, ingest_id: str) -> str:
    return f"quarantine/{province}/{dataset}/{ingest_id}/rejected.jsonl"


def ingest_report_key(province: str, dataset: str, ingest_id: str) -> str:
    return f"{ingest_reports_prefix(province)}/{dataset}/{ingest_id}.json"


def ingest_reports_prefix(province: str) -> str:
    """One province's ingest reports (the uploads API lists only this, docs/adr/0087)."""
    return f"reports/ingest/{province}"


def classification_prefix(month: str, province: str) -> str:
    return f"results/classifications/month={month}/province={province}"


def classification_key(month: str, province: str) -> str:
    return f"{classification_prefix(month, province)}/part-0.parquet"


FIELD_RESULTS = "results/field_classifications"


def field_classification_prefix(field: str, month: str, province: str) -> str:
    """A professional field's published classification (docs/adr/0117); its sampling copy sits
    beside the general ones under ``sampling_prefix(month, province, run_id)``."""
    return f"{FIELD_RESULTS}/field={field}/month={month}/province={province}"


def field_classification_key(field: str, month: str, province: str) -> str:
    return f"{field_classification_prefix(field, month, province)}/part-0.parquet"


def field_classification_pointer_key(field: str, month: str, province: str) -> str:
    return f"{field_classification_prefix(field, month, province)}/_current.json"


def run_prefix(run_id: str) -> str:
    return f"results/runs/{run_id}"


# -- sampling plans and API tokens (issue 4, docs/adr/0040) ------------------------------------
PLAN_ID_RE = re.compile(r"^([1-9][0-9])-[0-9a-f]{20}$")
TOKENS_PREFIX = "_auth/tokens"  # hidden: never listed with the data, never read by Athena


def classification_pointer_key(month: str, province: str) -> str:
    """The hidden ``_current.json`` pointer written when a run is published."""
    return f"{classification_prefix(month, province)}/_current.json"


def field_result_key(run_id: str) -> str:
    """A field run's own classes, scores and reasons (its ``classifications.parquet`` is the
    field's sampling frame, by the combination rule; docs/adr/0117)."""
    return f"{run_prefix(run_id)}/field_classifications.parquet"


def run_classifications_key(run_id: str) -> str:
    """Every run's classification output, kept for audit (plan verification re-reads it)."""
    return f"{run_prefix(run_id)}/classifications.parquet"


def sampling_prefix(month: str, province: str, run_id: str) -> str:
    """A run's sampling copy and its cell index (hidden: Athena and ``list_files`` skip ``_``
    names; per run, so it is immutable and plans stay verifiable after a re-run, ADR 0100)."""
    return f"{classification_prefix(month, province)}/_sampling/{run_id}"


def sampling_frame_key(month: str, province: str, run_id: str) -> str:
    return f"{sampling_prefix(month, province, run_id)}/frame.parquet"


def sampling_cells_key(month: str, province: str, run_id: str) -> str:
    return f"{sampling_prefix(month, province, run_id)}/cells.parquet"


def plan_key(province: str, plan_id: str) -> str:
    """An immutable sampling plan: written once, never overwritten."""
    return f"plans/{province}/{plan_id}.json"


def plan_pages_key(province: str, plan_id: str) -> str:
    """Where a large plan's targets start, a page's worth at a time (docs/adr/0158): not part of
    the plan or its digest, and in a folder, so listings of ``plans/<PP>/`` do not see it."""
    return f"plans/{province}/pages/{plan_id}.json"


def token_key(token_id: str) -> str:
    return f"{TOKENS_PREFIX}/{token_id}.json"


# -- warnings, inspection tasks, analysis and the monthly report (issue 6, docs/adr/0060) -------
def warnings_prefix(month: str | None = None, province: str | None = None) -> str:
    """``results/warnings/month=M/province=P``: one Parquet file per run that raised something."""
    out = "results/warnings"
    if month:
        out += f"/month={month}"
        if province:
            out += f"/province={province}"
    return out


def warnings_key(month: str, province: str, run_id: str) -> str:
    return f"{warnings_prefix(month, province)}/part-{run_id}.parquet"


def tasks_prefix(month: str, province: str) -> str:
    return f"results/tasks/month={month}/province={province}"


def tasks_key(month: str, province: str, run_id: str) -> str:
    return f"{tasks_prefix(month, province)}/part-{run_id}.parquet"


# Champion/challenger scratch (re-classified months, never published): pruned after this many
# days by the comparison itself and by the lake bucket's lifecycle rule (docs/adr/0108).
BACKTESTS_PREFIX = "backtests"
BACKTESTS_KEEP_DAYS = 30
# Every comparison's re-classified months, one dataset (Glue ``backtest_classifications``,
# ``job`` injected by the statements: docs/adr/0139)
BACKTEST_CLASSIFICATIONS = f"{BACKTESTS_PREFIX}/classifications"


def backtest_classification_key(job: str, month: str, province: str) -> str:
    return f"{BACKTEST_CLASSIFICATIONS}/job={job}/month={month}/province={province}/part-0.parquet"


def hive_keys(key: str) -> dict[str, str]:
    """The hive partition keys of a file's path (``month=…/province=…`` → their values)."""
    return dict(part.split("=", 1) for part in key.split("/")[:-1] if "=" in part)


def analysis_prefix(month: str, province: str) -> str:
    return f"results/analysis/month={month}/province={province}"


def analysis_key(month: str, province: str, name: str) -> str:
    """The analysis' JSON documents: ``summary.json``, ``trends.json``, ``effectiveness.json``."""
    return f"{analysis_prefix(month, province)}/{name}"


def analysis_dataset(kind: str) -> str:
    """The results dataset of one kind of tabular analysis output (``regions``, ``industries``,
    ``migration``: schemas/analysis.py), one schema per dataset (docs/adr/0149)."""
    return f"results/analysis_{kind}"


def analysis_table_key(kind: str, month: str, province: str) -> str:
    return f"{analysis_dataset(kind)}/month={month}/province={province}/{kind}.parquet"


def legacy_analysis_table_key(kind: str, month: str, province: str) -> str:
    """Where the tables were written before ADR 0149 (``creditrisk migrate analysis-tables``)."""
    return f"{analysis_prefix(month, province)}/{kind}.parquet"


def report_key(month: str, province: str) -> str:
    return f"results/reports/month={month}/province={province}/report.html"


def county_page_key(month: str, province: str, county: str, ext: str) -> str:
    """A county's action list: ``html`` (printable page) or ``csv`` (for the county's systems)."""
    return f"results/reports/month={month}/province={province}/county={county}/actions.{ext}"


# The platform workgroup's query-result location (infra/platform.py configures the same prefix):
# enforced by the workgroup, so CTAS tables land under ``tables/<query id>/`` in it (ADR 0070).
ATHENA_PLATFORM_RESULTS = "athena-results/platform"


def athena_unload_prefix(job: str) -> str:
    """Where Athena ``UNLOAD``s a run's rows to be read back: inside the platform workgroup's
    result area, which a lifecycle rule expires (docs/adr/0068). Deleted after reading."""
    return f"{ATHENA_PLATFORM_RESULTS}/unload/{job}"


def plans_prefix(province: str) -> str:
    return f"plans/{province}"


# -- ingestion ledger (issue 2, docs/adr/0013) ---------------------------------------------------
INGEST_LEDGER_PREFIX = "_state/ingest/ledger"  # hidden: never read as data


def warnings_current_key(province: str) -> str:
    """The compacted current state of a province's warnings (re-derivable from
    ``results/warnings``): what a warnings run reads instead of the whole history. Under
    ``results/`` so both roles that run warnings (upload, monthly) may write it."""
    return f"results/warnings-state/province={province}/current.parquet"


def ingest_ledger_key(token: str) -> str:
    """One empty-ish marker per (landing root, key, size, mtime) already ingested."""
    return f"{INGEST_LEDGER_PREFIX}/{token}.json"


# -- objections and manual adjustments (issue 14, docs/adr/0112, docs/adr/0113) -----------------
# Append-only trails: one object per step, ``<seq>-<step>.json``, never overwritten.
OBJECTION_ID_RE = re.compile(r"^([1-9][0-9])-[0-9a-f]{16}$")


def objections_prefix(province: str) -> str:
    return f"audit/objections/{province}"


def objection_prefix(objection_id: str) -> str:
    return f"{objections_prefix(objection_id[:2])}/{objection_id}"


def adjustments_prefix(province: str, month: str) -> str:
    return f"audit/adjustments/{province}/{month}"


def adjustment_prefix(province: str, month: str, adjustment_id: str) -> str:
    return f"{adjustments_prefix(province, month)}/{adjustment_id}"


def adjustments_index_key(month: str, province: str) -> str:
    """The approved adjustments of a published month (derived from the trails; the bulk read,
    ``explain`` and the report read this one object)."""
    return f"{classification_prefix(month, province)}/_adjustments.json"


def adjustments_snapshot_key(month: str, province: str, digest: str) -> str:
    """One snapshot of the month's approved adjustments, named by the SHA-256 of its bytes and
    never rewritten: what a plan drew by (docs/adr/0142)."""
    return f"{classification_prefix(month, province)}/_adjustments/{digest}.json"


# -- data coverage (issue 16, docs/adr/0104) -----------------------------------------------------
def coverage_prefix(province: str | None = None) -> str:
    """``results/coverage/province=P``: one small file per accepted ingest (what it delivered)."""
    return "results/coverage" + (f"/province={province}" if province else "")


def coverage_key(province: str, dataset: str, ingest_id: str) -> str:
    return f"{coverage_prefix(province)}/part-{dataset}-{ingest_id}.parquet"


# -- sampling tasks, their committed secrets and the audit chain (issue 15, docs/adr/0093-0095) --
TASK_ID_RE = re.compile(r"^([1-9][0-9])-t[0-9a-f]{20}$")
SECRETS_PREFIX = "_sampling/secrets"  # hidden: the committed secrets until each key is revealed
# The records of 双随机 sampling, kept as written: the lake bucket's policy refuses any write under
# these prefixes without S3's create-once header (``If-None-Match: *``), and under the audit
# prefix without it or ``If-Match`` (heads move, a repaired record is replaced), and every delete
# under both (infra/platform.py, docs/adr/0166). Plans, their page indexes, tasks (registrations,
# draws, slots, supervision sets) and the committed secrets are created once.
CREATE_ONCE_PREFIXES = ("plans", "tasks", SECRETS_PREFIX)
CONDITIONAL_PREFIXES = ("audit",)
RECORD_PREFIXES = CREATE_ONCE_PREFIXES + CONDITIONAL_PREFIXES


def task_key(province: str, task_id: str) -> str:
    """A sampling task's registration: written once."""
    return f"tasks/{province}/{task_id}/task.json"


def task_draw_key(province: str, task_id: str, draw_no: int) -> str:
    """Draw ``draw_no`` of a task (1 = the official draw; later ones supersede): written once."""
    return f"tasks/{province}/{task_id}/draws/{draw_no:02d}.json"


def task_draws_prefix(province: str, task_id: str) -> str:
    return f"tasks/{province}/{task_id}/draws"


def task_secret_key(province: str, task_id: str) -> str:
    return f"{SECRETS_PREFIX}/{province}/{task_id}.json"


def supervision_set_key(province: str, digest: str) -> str:
    """A task's supervision set (tolerance lists, re-inspection), stored once under its SHA-256."""
    return f"tasks/{province}/_supervision/{digest.removeprefix('sha256:')}.parquet"


def task_index_key(province: str, slot: str) -> str:
    """One task per (province, month, field, region): the slot's marker names its task."""
    return f"tasks/{province}/_slots/{slot}.json"


def audit_record_key(province: str, seq: int) -> str:
    return f"audit/{province}/chain/{seq:010d}.json"


def audit_chain_prefix(province: str) -> str:
    return f"audit/{province}/chain"


def audit_head_key(province: str) -> str:
    return f"audit/{province}/head.json"


def audit_checkpoint_key(province: str, seq: int) -> str:
    """The head as it was signed at record ``seq`` (every 32nd; docs/adr/0127): written once."""
    return f"audit/{province}/checkpoints/{seq:010d}.json"


def audit_checkpoints_prefix(province: str) -> str:
    return f"audit/{province}/checkpoints"


def audit_set_aside_key(province: str, seq: int, sha: str) -> str:
    """A record found beyond the head without a valid seal, kept by ``audit repair`` (ADR 0140)."""
    return f"audit/{province}/set-aside/{seq:010d}-{sha[:16]}.json"


def task_slots_prefix(province: str) -> str:
    return f"tasks/{province}/_slots"


def audit_ref_key(province: str, kind: str, ref: str) -> str:
    """Which record is about ``ref`` (a task or plan id): written once with the record."""
    return f"audit/{province}/refs/{kind}/{ref}.json"


# -- public disclosure of inspection results (issue 15, docs/adr/0098) ---------------------------
def disclosure_key(province: str, plan_id: str, ext: str) -> str:
    """``json`` or ``csv``: the published disclosure of a plan, replaced as results come in."""
    return f"results/disclosures/province={province}/{plan_id}.{ext}"


# -- monthly delivery to inspection platforms (名录库对接, issue 14, docs/adr/0122) ---------------
DELIVERY_PREFIX = "delivery"  # only a province's platform role reads delivery/<PP>/ (infra)


def delivery_prefix(province: str, month: str) -> str:
    """``delivery/<PP>/month=<M>``: the month's export for province ``PP``'s platform."""
    return f"{DELIVERY_PREFIX}/{province}/month={month}"


def delivery_key(province: str, month: str, name: str) -> str:
    """``classifications.parquet``, ``classifications.csv.gz`` or ``manifest.json`` (written last)."""
    return f"{delivery_prefix(province, month)}/{name}"


def changes_key(month: str, province: str, run_id: str) -> str:
    """The run's changed rows (class changed since last month, or new), written at publish time
    for the change feed (hidden: Athena and dataset scans skip ``_`` folders; ADR 0121)."""
    return f"{classification_prefix(month, province)}/_changes/{run_id}.parquet"


def changes_chunks_prefix(month: str, province: str, run_id: str) -> str:
    """The run's changed rows as Athena wrote them: position chunks ``<k>-<i>.parquet`` and their
    list ``chunks.json`` (written last), instead of :func:`changes_key` (ADR 0152)."""
    return f"{classification_prefix(month, province)}/_changes/{run_id}"
