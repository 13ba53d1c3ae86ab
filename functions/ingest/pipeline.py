"""Orchestration: one landed object → archive, curated Parquet, quarantine, report (in that order).

The report is the commit marker: it is written last, so a crash before it leaves at most an
unreferenced archive/curated object at a deterministic path that the re-delivery overwrites
(docs/adr/0010). ``ingest_id`` = digest(landing key, SHA-256 of content): the same object
delivered twice finds its report and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pyarrow.compute as pc

from functions import layout
from functions.errors import FileRejected, NotFound
from functions.ingest import ledger
from functions.ingest.curate import curated_table, parquet_bytes
from functions.ingest.paths import LandingKey, parse_landing_key
from functions.ingest.profiles import load_profile
from functions.ingest.quarantine import first_errors, quarantine_jsonl
from functions.ingest.readers import ReadResult, read
from functions.ingest.validate import validate
from functions.lake import Lake, LakeFile
from functions.obs.context import bind, scoped
from functions.progress import ProgressFn, no_progress
from functions.settings import Settings
from schemas.datasets import DATASETS
from schemas.ingest import IngestReport

logger = logging.getLogger(__name__)


def make_ingest_id(key: str, sha256: str) -> str:
    return hashlib.sha256(f"{key}\n{sha256}".encode()).hexdigest()[:20]


def ingest_object(
    lake: Lake,
    landing: Lake,
    key: str,
    *,
    etag: str | None = None,
    version_id: str | None = None,
    settings: Settings,
    now: dt.datetime | None = None,
    progress: ProgressFn = no_progress,
) -> IngestReport:
    """Ingest the landed object ``key`` (decoded, relative to the landing root)."""
    info = landing.info(key)
    if info is None:
        raise NotFound(f"no landed object at {landing.display(key)}", field="key")
    progress("read object", 0, info.size)
    data = landing.read_bytes(key)
    report = ingest_bytes(
        lake, key, data, etag=etag, version_id=version_id, settings=settings, now=now, progress=progress
    )
    ledger.record(lake, landing, info, ingest_id=report.ingest_id, status=report.status)
    return report


@scoped
def ingest_bytes(
    lake: Lake,
    key: str,
    data: bytes,
    *,
    etag: str | None = None,
    version_id: str | None = None,
    settings: Settings,
    now: dt.datetime | None = None,
    progress: ProgressFn = no_progress,
) -> IngestReport:
    """Ingest ``data`` uploaded at landing ``key``; every row ends up accepted or rejected."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    today = now.astimezone(ZoneInfo(settings.tz)).date()
    lk = parse_landing_key(key)
    # Hashing releases the GIL: it runs beside the parse. Reading writes nothing, so a
    # duplicate delivery found below still changes nothing (it only parsed in vain).
    with ThreadPoolExecutor(max_workers=1) as background:
        sha_future = background.submit(_sha256, data)
        read_result: ReadResult | FileRejected
        try:
            if lk.problem is not None:
                raise lk.problem
            assert lk.fmt is not None
            progress(f"parse {lk.filename}", 0, None)
            read_result = read(data, lk.fmt, DATASETS[lk.dataset], load_profile(lk.province))
        except FileRejected as exc:
            read_result = exc
        timings["read"] = _lap(t)
        sha = sha_future.result()
        ingest_id = make_ingest_id(lk.key, sha)
        bind(ingest_id=ingest_id)  # on every log line from here (docs/adr/0076)
        pp, ds = lk.area_province, lk.area_dataset
        report_key = layout.ingest_report_key(pp, ds, ingest_id)
        if lake.exists(report_key):
            previous = IngestReport.model_validate(lake.read_json(report_key))
            logger.info(
                "ingest %s of %s already done (%s); nothing to do", ingest_id, lk.key, previous.status
            )
            return previous.model_copy(update={"status": "duplicate"})
        archive_key = layout.archive_key(pp, ds, ingest_id, lk.area_filename)
        archive = _Archive(lake, archive_key, data, {"sha256": sha, "source-key": quote(lk.key)})
        report = IngestReport(
            ingest_id=ingest_id,
            source_key=lk.key,
            province=lk.province,
            dataset=lk.dataset,
            size=len(data),
            sha256=sha,
            etag=etag,
            version_id=version_id,
            format=lk.fmt,
            status="accepted",
            ingested_at=now.isoformat().replace("+00:00", "Z"),
            archive_key=archive_key,
            report_key=report_key,
        )
        try:
            _process(lake, lk, read_result, report, archive, settings, today, now, timings, progress)
        except FileRejected as exc:
            archive.write()
            report.status = "rejected_file"
            report.file_reason = str(exc.details.get("reason", "rejected"))
            report.file_message = exc.message
            report.rows_accepted, report.rows_rejected = 0, report.rows_read - report.rows_out_of_scope
            report.curated_key = report.quarantine_key = None
            logger.info("ingest %s of %s rejected: %s", ingest_id, lk.key, report.file_reason)
    report.timings = timings
    assert report.rows_read == report.rows_accepted + report.rows_rejected + report.rows_out_of_scope
    lake.write_json(report_key, report.model_dump(mode="json"))  # the commit marker
    return report


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Archive:
    """The byte-for-byte archive, written once and before any other output (docs/adr/0010).

    Deferred to the write phase, where it overlaps the single-threaded Parquet encoding."""

    def __init__(self, lake: Lake, key: str, data: bytes, metadata: dict[str, str]) -> None:
        self.lake, self.key, self.data, self.metadata = lake, key, data, metadata
        self.done = False

    def write(self) -> None:
        if not self.done:
            self.lake.write_bytes(self.key, self.data, metadata=self.metadata)
            self.done = True


def _process(
    lake: Lake,
    lk: LandingKey,
    read_result: ReadResult | FileRejected,
    report: IngestReport,
    archive: _Archive,
    settings: Settings,
    today: dt.date,
    now: dt.datetime,
    timings: dict[str, float],
    progress: ProgressFn,
) -> None:
    """Validate, then write the quarantine and the curated file; fills ``report``."""
    if isinstance(read_result, FileRejected):
        raise read_result
    rr = read_result
    spec = DATASETS[lk.dataset]
    report.encoding, report.header_mapping = rr.encoding, rr.header_mapping
    report.ignored_columns = rr.ignored_columns
    if rr.plan is not None:
        report.profile, report.profile_version = rr.plan.profile, rr.plan.profile_version
        report.dropped_columns, report.derived_columns = list(rr.plan.dropped_personal), dict(rr.plan.derived)
    report.rows_read = rr.table.num_rows
    if rr.out_of_scope is not None and rr.out_of_scope_reason is not None:
        # Out-of-scope rows (natural persons) are counted apart, before validation: they never
        # count towards the reject threshold (rows_read = accepted + rejected + out_of_scope).
        out = int(pc.sum(rr.out_of_scope).as_py() or 0)
        if out:
            keep = pc.invert(rr.out_of_scope)
            rr.table, rr.lines = rr.table.filter(keep), rr.lines.filter(keep)
            report.rows_out_of_scope = out
            report.out_of_scope_reasons = {rr.out_of_scope_reason: out}
    t = time.perf_counter()
    progress(f"validate {lk.filename}", 0, report.rows_read)
    v = validate(
        rr.table,
        spec,
        province=lk.province,
        today=today,
        legacy_uscc=settings.legacy_uscc_allowlist,
        display_names=rr.original_names,
    )
    failed = v.rows_failed
    in_scope = report.rows_read - report.rows_out_of_scope
    report.reasons = v.counts()
    report.errors = first_errors(v, rr.lines)
    timings["validate"] = _lap(t)
    progress(f"validate {lk.filename}", report.rows_read, report.rows_read)
    if in_scope and Fraction(failed, in_scope) > Fraction(str(settings.max_reject_share)):
        share = failed / in_scope
        raise FileRejected(
            f"{failed} of {in_scope} rows ({share:.1%}) fail validation; "
            f"more than the allowed {settings.max_reject_share:.1%}",
            reason="too_many_rejects",
        )
    t = time.perf_counter()
    ingest_id = report.ingest_id
    c_key = layout.curated_key(lk.dataset, lk.province, ingest_id)
    curated = curated_table(spec, v, rr.lines, ingest_id=ingest_id, ingested_at=now)
    # Parquet encoding is one GIL-free call: the archive write and the quarantine's JSON (Python)
    # overlap it. The curated table is built first, so its many short kernel calls do not queue
    # for the GIL behind the JSON loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        encoded = pool.submit(parquet_bytes, spec, curated)
        archive.write()  # the archive first, always
        quarantined = quarantine_jsonl(rr.table, v, rr.lines, rr.original_names) if failed else b""
        if failed:
            q_key = layout.quarantine_key(lk.area_province, lk.area_dataset, ingest_id)
            lake.write_bytes(q_key, quarantined)
            report.quarantine_key = q_key
        curated_bytes = encoded.result()
        lake.write_bytes(c_key, curated_bytes)
    report.curated_key = c_key
    # recorded once here, so a monthly run need not read the province's files again to name
    # them in its manifest (ADR 0039)
    report.curated_sha256, report.curated_bytes = _sha256(curated_bytes), len(curated_bytes)
    report.rows_accepted = in_scope - failed
    report.rows_rejected = failed
    timings["write"] = _lap(t)


def _lap(t: float) -> float:
    return round(time.perf_counter() - t, 4)


def pending_keys(lake: Lake, landing: Lake) -> list[LakeFile]:
    """Landed objects under ``incoming/`` whose (key, size, mtime) the ledger has not seen."""
    done = ledger.done_tokens(lake)
    return [f for f in landing.list_files(layout.INCOMING) if ledger.token(landing, f) not in done]


def ingest_tree(
    lake: Lake,
    landing: Lake,
    *,
    settings: Settings,
    progress: ProgressFn = no_progress,
    now: dt.datetime | None = None,
) -> list[IngestReport]:
    """Ingest everything pending in the landing area, in key order."""
    todo = pending_keys(lake, landing)
    reports = []
    for i, f in enumerate(todo):
        progress("ingest files", i, len(todo))
        reports.append(ingest_object(lake, landing, f.key, settings=settings, now=now, progress=progress))
    progress("ingest files", len(todo), len(todo))
    return reports


def summarise(reports: Iterable[IngestReport], *, per_file: bool = True) -> str:
    """A human summary: one line per file (or per dataset), then totals by reason."""
    reports = list(reports)
    lines = []
    totals: Counter[str] = Counter()
    read = accepted = rejected = 0
    by_dataset: dict[str, Counter[str]] = {}
    for r in reports:
        what = r.status if r.status != "rejected_file" else f"REJECTED ({r.file_reason}: {r.file_message})"
        reasons = ", ".join(f"{k} {v:,}" for k, v in r.reasons.items())
        if per_file or r.status == "rejected_file":
            lines.append(
                f"{r.source_key}: {what}; rows read {r.rows_read:,}, accepted {r.rows_accepted:,}, "
                f"rejected {r.rows_rejected:,}"
                + (f", out of scope {r.rows_out_of_scope:,}" if r.rows_out_of_scope else "")
                + (f" [{reasons}]" if reasons else "")
            )
        if r.status != "duplicate":
            totals.update(r.reasons)
            read, accepted, rejected = (
                read + r.rows_read,
                accepted + r.rows_accepted,
                rejected + r.rows_rejected,
            )
            per = by_dataset.setdefault(r.dataset, Counter())
            per.update(files=1, read=r.rows_read, accepted=r.rows_accepted, rejected=r.rows_rejected)
    if not per_file:
        for ds, c in sorted(by_dataset.items()):
            lines.append(
                f"  {ds:<24} {c['files']:>4} file(s)  rows read {c['read']:>10,}"
                f"  accepted {c['accepted']:>10,}  rejected {c['rejected']:>7,}"
            )
    files_rejected = sum(r.status == "rejected_file" for r in reports)
    dup = sum(r.status == "duplicate" for r in reports)
    lines.append(
        f"{len(reports)} file(s) ({files_rejected} rejected whole, {dup} duplicate): rows read {read:,}, "
        f"accepted {accepted:,}, rejected {rejected:,}"
    )
    out_of_scope = sum(r.rows_out_of_scope for r in reports if r.status != "duplicate")
    if out_of_scope:
        lines.append(f"rows out of scope (natural persons, neither accepted nor rejected): {out_of_scope:,}")
    if totals:
        lines.append("rejected rows by reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(totals.items())))
    return "\n".join(lines)
