"""Orchestration: one landed object → archive, quarantine, curated Parquet, report (in that order).

The report is the commit marker: it is written last, so a crash before it leaves at most an
unreferenced archive/curated object at a deterministic path that the re-delivery overwrites
(docs/adr/0010). ``ingest_id`` = digest(landing key, SHA-256 of content): the same object
delivered twice finds its report and writes nothing.

The file is streamed (docs/adr/0084): an S3 object is copied to a local work folder while it is
hashed (a local file is read in place and hashed beside the first batches, docs/adr/0136), then
read, validated and written in batches to local temp files (curated Parquet, quarantine lines);
duplicate keys across batches are found from 64-bit key hashes (``keys.KeyIndex``) and confirmed
exactly in a second read. The reject threshold is decided once the whole file is known, before
anything is published; then the outputs are uploaded in the order above.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from functions import layout
from functions.coverage.store import Delivered, record_reports
from functions.errors import FileRejected, NotFound
from functions.ingest import ledger
from functions.ingest.curate import CuratedWriter, curated_table
from functions.ingest.keys import KeyIndex, key_hashes
from functions.ingest.paths import LandingKey, parse_landing_key
from functions.ingest.profiles import load_profile
from functions.ingest.quarantine import MAX_REPORT_ERRORS, first_errors, quarantine_jsonl
from functions.ingest.readers import Batch, RestartAsGB18030, Source, StreamReader
from functions.ingest.validate import Validated, duplicate_mask, key_columns, validate
from functions.lake import Lake, LakeFile
from functions.obs.context import bind, scoped
from functions.progress import ProgressFn, no_progress
from functions.settings import Settings
from schemas.datasets import DATASETS, DatasetSpec
from schemas.ingest import IngestReport, RowError

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
    """Ingest the landed object ``key`` (decoded, relative to the landing root).

    A local landing folder is read in place; an S3 object is first copied to the work folder
    (hashed on the way). Above ``settings.ingest_max_bytes`` the object is only hashed (a stream,
    nothing stored) and rejected whole as ``too_large``; it stays where it was landed."""
    info = landing.info(key)
    if info is None:
        raise NotFound(f"no landed object at {landing.display(key)}", field="key")
    progress("read object", 0, info.size)
    with _work_dir(settings) as tmp:
        work = Path(tmp)
        sha: str | Digest
        if info.size > settings.ingest_max_bytes:
            sha = landing.download(key, None)
            report = _ingest(lake, key, None, info.size, sha, etag, version_id, settings, now, progress, work)
        else:
            if landing.is_local:
                source: Path = Path(landing.path(key))
                sha = Digest(source)  # read in place: hashed beside the first batches
            else:
                source = work / "source"
                sha = landing.download(key, source)
            report = _ingest(
                lake, key, source, info.size, sha, etag, version_id, settings, now, progress, work
            )
    ledger.record(lake, landing, info, ingest_id=report.ingest_id, status=report.status)
    return report


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
    sha = hashlib.sha256(data).hexdigest()
    with _work_dir(settings) as tmp:
        return _ingest(lake, key, data, len(data), sha, etag, version_id, settings, now, progress, Path(tmp))


def ingest_file(
    lake: Lake,
    key: str,
    path: str | Path,
    *,
    settings: Settings,
    now: dt.datetime | None = None,
    progress: ProgressFn = no_progress,
) -> IngestReport:
    """Ingest the local file ``path`` as if uploaded at landing ``key`` (read in place, streamed)."""
    path = Path(path)
    with _work_dir(settings) as tmp:
        return _ingest(
            lake, key, path, path.stat().st_size, Digest(path), None, None, settings, now, progress, Path(tmp)
        )


def _work_dir(settings: Settings) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="ingest-", dir=settings.ingest_work_dir)


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Digest:
    """The SHA-256 of a local file, computed in a thread from construction (hashlib releases the
    GIL): the ingest id it names is needed only when the first accepted rows are written and
    before anything is published, so the hash runs beside the first batches instead of alone
    before them (docs/adr/0136). An object copied from S3 is hashed on its way down instead."""

    def __init__(self, path: Path) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sha256")
        self._future = self._thread.submit(_file_sha256, path)
        self._thread.shutdown(wait=False)  # the thread ends with its one task

    def done(self) -> bool:
        return self._future.done()

    def value(self) -> str:
        """The hex digest, once computed (its error, if reading failed)."""
        return self._future.result()

    def wait(self) -> None:
        """Let a still running hash end quietly (another error is on its way)."""
        try:
            self._future.result()
        except Exception:  # the caller's error is the one to report
            logger.debug("hashing the landed file failed while another error unwound")


class _Duplicate(Exception):
    """The landed content was ingested before: its earlier report, as a duplicate's."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__(report.ingest_id)
        self.report = report


class _Identity:
    """Who this ingest is, once the content's digest is known: the ingest id, its report and
    its archive upload (started then). Until then the reading goes on (docs/adr/0136)."""

    def __init__(
        self,
        lake: Lake,
        lk: LandingKey,
        source: Source | None,
        size: int,
        sha: str | Digest,
        etag: str | None,
        version_id: str | None,
        now: dt.datetime,
    ) -> None:
        self.lake, self.lk, self.source, self.size, self.sha = lake, lk, source, size, sha
        self.etag, self.version_id, self.now = etag, version_id, now
        self._report: IngestReport | None = None
        self._archive: _Archive | None = None

    def known(self) -> bool:
        return isinstance(self.sha, str) or self.sha.done()

    def digest(self) -> str:
        return self.sha if isinstance(self.sha, str) else self.sha.value()

    def ingest_id(self) -> str:
        """Pure and thread-safe (the writer's thread asks for it); waits for the digest."""
        return make_ingest_id(self.lk.key, self.digest())

    def report_key(self) -> str:
        return layout.ingest_report_key(self.lk.area_province, self.lk.area_dataset, self.ingest_id())

    def poll(self) -> None:
        """Identify as soon as the digest is there (between batches): an earlier ingest of the
        same content stops this one early, and the archive upload starts."""
        if self._report is None and self.known():
            self.report()

    def report(self) -> IngestReport:
        """The report of this ingest (waits for the digest; the first call checks for an earlier
        report, raising ``_Duplicate``, and starts the archive upload)."""
        if self._report is not None:
            return self._report
        lk, sha = self.lk, self.digest()
        ingest_id = make_ingest_id(lk.key, sha)
        bind(ingest_id=ingest_id)  # on every log line from here (docs/adr/0076)
        pp, ds = lk.area_province, lk.area_dataset
        report_key = self.report_key()
        if self.lake.exists(report_key):
            previous = IngestReport.model_validate(self.lake.read_json(report_key))
            logger.info(
                "ingest %s of %s already done (%s); nothing to do", ingest_id, lk.key, previous.status
            )
            raise _Duplicate(previous.model_copy(update={"status": "duplicate"}))
        archive_key = layout.archive_key(pp, ds, ingest_id, lk.area_filename)
        self._archive = _Archive(
            self.lake, archive_key, self.source, {"sha256": sha, "source-key": quote(lk.key)}
        )
        self._report = IngestReport(
            ingest_id=ingest_id,
            source_key=lk.key,
            province=lk.province,
            dataset=lk.dataset,
            size=self.size,
            sha256=sha,
            etag=self.etag,
            version_id=self.version_id,
            format=lk.fmt,
            status="accepted",
            ingested_at=self.now.isoformat().replace("+00:00", "Z"),
            archive_key=archive_key if self.source is not None else None,
            report_key=report_key,
        )
        self._archive.start()  # beside the reading; always completes before any other output
        return self._report

    def archive(self) -> _Archive:
        self.report()
        assert self._archive is not None
        return self._archive

    def settle(self) -> None:
        """Wait for the threads started so far, quietly (an error may be unwinding): nothing
        reads the work folder or the landed file once the ingest returns."""
        if self._archive is not None:
            self._archive.abandon()
        if isinstance(self.sha, Digest):
            self.sha.wait()


@scoped
def _ingest(
    lake: Lake,
    key: str,
    source: Source | None,
    size: int,
    sha: str | Digest,
    etag: str | None,
    version_id: str | None,
    settings: Settings,
    now: dt.datetime | None,
    progress: ProgressFn,
    work: Path,
) -> IngestReport:
    """The ingest of one landed file (``source`` None: too large to read); ``sha``: the content's
    SHA-256, or a local file's still being computed."""
    timings: dict[str, float] = {}
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    today = now.astimezone(ZoneInfo(settings.tz)).date()
    lk = parse_landing_key(key)
    ident = _Identity(lake, lk, source, size, sha, etag, version_id, now)
    delivered: dict[str, Delivered] = {}
    try:
        ident.poll()  # a digest already known: an earlier ingest is found before any reading
        try:
            counted = _read_validate_publish(
                lake, lk, source, size, ident, settings, today, now, timings, progress, work
            )
            delivered[ident.ingest_id()] = counted
        except FileRejected as exc:
            report = ident.report()
            ident.archive().write()
            report.status = "rejected_file"
            report.file_reason = str(exc.details.get("reason", "rejected"))
            report.file_message = exc.message
            report.rows_accepted, report.rows_rejected = 0, report.rows_read - report.rows_out_of_scope
            report.curated_key = report.quarantine_key = None
            logger.info("ingest %s of %s rejected: %s", report.ingest_id, lk.key, report.file_reason)
    except _Duplicate as done:
        return done.report
    finally:
        ident.settle()
    report = ident.report()
    report.timings = timings
    assert report.rows_read == report.rows_accepted + report.rows_rejected + report.rows_out_of_scope
    lake.write_json(ident.report_key(), report.model_dump(mode="json"))  # the commit marker
    # What the ingest delivered, for the rules' input checks (docs/adr/0104); never fails it.
    record_reports(lake, [report], delivered)
    return report


def _read_validate_publish(
    lake: Lake,
    lk: LandingKey,
    source: Source | None,
    size: int,
    ident: _Identity,
    settings: Settings,
    today: dt.date,
    now: dt.datetime,
    timings: dict[str, float],
    progress: ProgressFn,
    work: Path,
) -> Delivered:
    """Everything before the report: read, validate, publish; what was delivered."""
    if source is None:
        raise FileRejected(
            f"the file is {size:,} bytes; the largest upload ingested is {settings.ingest_max_bytes:,} "
            "bytes: split it into several files (docs/upload-contract.md)",
            reason="too_large",
        )
    if lk.problem is not None:
        raise lk.problem
    assert lk.fmt is not None
    progress(f"parse {lk.filename}", 0, None)
    reader = StreamReader(
        source,
        lk.fmt,
        DATASETS[lk.dataset],
        chunk_bytes=settings.ingest_chunk_bytes,
        profile=load_profile(lk.province),
    )
    return _process(lake, lk, reader, ident, settings, today, now, timings, progress, work)


class _Archive:
    """The byte-for-byte archive, written once and before any other output (docs/adr/0010).

    Its upload starts as the reading starts (``start``) and runs beside it; ``write`` waits for
    it, so it still completes before the quarantine, the curated file and the report."""

    def __init__(self, lake: Lake, key: str, source: Source | None, metadata: dict[str, str]) -> None:
        self.lake, self.key, self.source, self.metadata = lake, key, source, metadata
        self.done = source is None  # too large to copy: it stays in the landing area
        self._upload: Future[None] | None = None
        self._thread: ThreadPoolExecutor | None = None

    def _put(self) -> None:
        if isinstance(self.source, bytes):
            self.lake.write_bytes(self.key, self.source, metadata=self.metadata)
        else:
            assert self.source is not None
            self.lake.write_file(self.key, self.source, metadata=self.metadata)

    def start(self) -> None:
        if not self.done and self._upload is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-archive")
            self._upload = self._thread.submit(self._put)

    def write(self) -> None:
        if self.done:
            return
        if self._upload is None:
            self._put()
        else:
            self.finish()
        self.done = True

    def abandon(self) -> None:
        """Wait for a started upload and keep quiet about it (another error is on its way)."""
        try:
            self.finish()
        except Exception:  # the caller's error is the one to report
            logger.debug("archive upload of %s failed while another error unwound", self.key)

    def finish(self) -> None:
        """Wait for a started upload (its error, if any, is raised)."""
        if self._upload is not None and self._thread is not None:
            try:
                self._upload.result()
            finally:
                self._thread.shutdown()
                self._upload = self._thread = None


@dataclass
class _Pass:
    """What one read of the file produced: local outputs and the running totals."""

    work: Path
    curated_path: Path
    quarantine_path: Path
    rows: int = 0  # in scope (validated)
    out_of_scope: Counter[str] = field(default_factory=Counter)  # rows outside scope, per reason
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    keys: KeyIndex = field(default_factory=KeyIndex)
    candidates: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # KeyIndex's
    quarantine_bytes: int = 0
    curated_sha256: str = ""  # of the curated file, hashed as it was written
    delivered: Delivered | None = None  # coverage of the accepted rows, counted as written

    def discard(self) -> None:
        """Free the work folder's space for the next pass."""
        self.curated_path.unlink(missing_ok=True)
        self.quarantine_path.unlink(missing_ok=True)


def _process(
    lake: Lake,
    lk: LandingKey,
    reader: StreamReader,
    ident: _Identity,
    settings: Settings,
    today: dt.date,
    now: dt.datetime,
    timings: dict[str, float],
    progress: ProgressFn,
    work: Path,
) -> Delivered:
    """Validate and write every batch locally, decide, then publish; fills the report and
    returns the coverage of the accepted rows."""
    spec = DATASETS[lk.dataset]
    run = _Runner(lk, reader, ident, spec, settings, today, now, timings, progress, work)
    t = time.perf_counter()
    result = run.first_pass()
    passes = 1
    candidates = result.candidates
    if len(candidates):
        duplicates = run.confirm(candidates)
        passes += 1
        if len(duplicates):
            result.discard()
            result = run.full_pass(duplicates, hash_keys=False)
            passes += 1
    timings["passes"] = passes
    timings["stream"] = _lap(t)
    report = ident.report()
    report.encoding, report.header_mapping = reader.encoding, reader.mapping
    report.sheet = reader.sheet
    report.ignored_columns = reader.ignored
    if reader.plan is not None:
        report.profile, report.profile_version = reader.plan.profile, reader.plan.profile_version
        report.dropped_columns, report.derived_columns = (
            list(reader.plan.dropped_personal),
            dict(reader.plan.derived),
        )
    # Out-of-scope rows (natural persons) are counted apart, before validation: they never
    # count towards the reject threshold (rows_read = accepted + rejected + out_of_scope).
    in_scope = result.rows
    report.rows_out_of_scope = sum(result.out_of_scope.values())
    report.out_of_scope_reasons = dict(sorted(result.out_of_scope.items()))
    report.rows_read = in_scope + report.rows_out_of_scope
    report.reasons = dict(sorted(result.reasons.items()))
    report.errors = result.errors
    failed = result.failed
    if in_scope and Fraction(failed, in_scope) > Fraction(str(settings.max_reject_share)):
        share = failed / in_scope
        raise FileRejected(
            f"{failed} of {in_scope} rows ({share:.1%}) fail validation; "
            f"more than the allowed {settings.max_reject_share:.1%}",
            reason="too_many_rejects",
        )
    t = time.perf_counter()
    ingest_id = report.ingest_id
    ident.archive().write()  # the archive first, always
    if failed:
        q_key = layout.quarantine_key(lk.area_province, lk.area_dataset, ingest_id)
        lake.write_file(q_key, result.quarantine_path)
        report.quarantine_key = q_key
    c_key = layout.curated_key(lk.dataset, lk.province, ingest_id)
    lake.write_file(c_key, result.curated_path)
    report.curated_key = c_key
    # recorded once here, so a monthly run need not read the province's files again to name
    # them in its manifest (ADR 0039)
    report.curated_sha256 = result.curated_sha256
    report.curated_bytes = result.curated_path.stat().st_size
    report.rows_accepted = in_scope - failed
    report.rows_rejected = failed
    timings["write"] = _lap(t)
    assert result.delivered is not None
    return result.delivered


class _Runner:
    """Reads of one file: the first (validating, hashing keys), the confirmation of duplicate
    candidates, and a full pass again when duplicates are confirmed."""

    def __init__(
        self,
        lk: LandingKey,
        reader: StreamReader,
        ident: _Identity,
        spec: DatasetSpec,
        settings: Settings,
        today: dt.date,
        now: dt.datetime,
        timings: dict[str, float],
        progress: ProgressFn,
        work: Path,
    ) -> None:
        self.lk, self.reader, self.ident, self.spec = lk, reader, ident, spec
        self.settings, self.today, self.now = settings, today, now
        self.timings, self.progress, self.work = timings, progress, work
        self.pass_no = 0

    def first_pass(self) -> _Pass:
        while True:  # a UTF-8 prefix over a GB18030 file: start again, nothing was published
            try:
                return self.full_pass(np.zeros(0, np.int64), hash_keys=True)
            except RestartAsGB18030:
                for name in (f"curated-{self.pass_no}.parquet", f"quarantine-{self.pass_no}.jsonl"):
                    (self.work / name).unlink(missing_ok=True)
                logger.info(
                    "ingest of %s: not UTF-8 after the sniffed prefix; reading as GB18030", self.lk.key
                )

    def full_pass(self, duplicates: np.ndarray, *, hash_keys: bool) -> _Pass:
        """Every batch validated (``duplicates``: sorted file row numbers with a repeated key),
        accepted rows appended to a local Parquet file, rejected ones to local JSON lines.

        Three threads besides this one, each a stage with its own order (docs/adr/0136): the
        next batch is read and cleaned ahead (``_prefetched``), key hashes are computed and
        sorted (``keys``), and the curated table is built and encoded (``write``) — Parquet
        encoding, the largest single step, never waits behind the key hashes."""
        self.pass_no += 1
        out = _Pass(
            self.work,
            self.work / f"curated-{self.pass_no}.parquet",
            self.work / f"quarantine-{self.pass_no}.jsonl",
        )
        writer = CuratedWriter(self.spec, out.curated_path)
        out.delivered = Delivered(self.lk.dataset)
        label = f"validate {self.lk.filename}"
        try:
            with (
                open(out.quarantine_path, "wb") as quarantine,
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write") as bg,
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-keys") as keys,
            ):
                pending: Future[None] | None = None
                hashed: Future[None] | None = None
                columns: list[str] = []  # the uploaded names of the columns so far, in order
                quarantined: list[str] | None = None  # the columns when a row was first rejected
                for batch in _prefetched(self.reader.batches()):
                    self.ident.poll()  # an earlier ingest of the same content stops this one
                    table, lines, outside = batch.in_scope()
                    if outside:
                        out.out_of_scope[batch.out_of_scope_reason or "out_of_scope"] += outside
                    n = table.num_rows
                    if out.rows + n + sum(out.out_of_scope.values()) > self.settings.ingest_max_rows:
                        raise FileRejected(
                            f"the file has more than {self.settings.ingest_max_rows:,} rows: "
                            "split it into several files (docs/upload-contract.md)",
                            reason="too_large",
                        )
                    if hash_keys:
                        if hashed is not None:
                            hashed.result()  # in file order, and its error surfaces here
                        hashed = keys.submit(self._hash, table, out.keys)
                    t = time.perf_counter()
                    v = validate(
                        table,
                        self.spec,
                        province=self.lk.province,
                        today=self.today,
                        legacy_uscc=self.settings.legacy_uscc_allowlist,
                        display_names=batch.original_names,
                        duplicates=_batch_mask(duplicates, out.rows, n),
                    )
                    failed = v.rows_failed
                    out.failed += failed
                    out.reasons.update(v.counts())
                    if len(out.errors) < MAX_REPORT_ERRORS:
                        out.errors.extend(first_errors(v, lines, limit=MAX_REPORT_ERRORS - len(out.errors)))
                    q = quarantine_jsonl(table, v, lines, batch.original_names) if failed else b""
                    columns = [batch.original_names.get(c, c) for c in table.column_names]
                    if failed and quarantined is None:
                        quarantined = columns  # columns only grow (JSON Lines keys): see below
                    self.timings["validate"] = round(self.timings.get("validate", 0.0) + _lap(t), 4)
                    if pending is not None:
                        pending.result()
                    # Filter and Parquet encoding release the GIL: they overlap the next batch.
                    pending = bg.submit(self._write, writer, out.delivered, v, lines, quarantine, q)
                    out.rows += n
                    out.quarantine_bytes += len(q)
                    if out.quarantine_bytes > self.settings.ingest_max_bytes:
                        # only a file failing far beyond any sensible reject share gets here: stop
                        # before the work folder fills up (docs/adr/0084)
                        raise FileRejected(
                            f"{out.failed:,} of the first {out.rows:,} rows fail validation; their "
                            f"quarantine alone exceeds {self.settings.ingest_max_bytes:,} bytes",
                            reason="too_many_rejects",
                        )
                    self.progress(label, out.rows, None)
                if pending is not None:
                    pending.result()
                # the last row group is encoded while the key hashes are merged
                closing = bg.submit(writer.close)
                if hashed is not None:
                    hashed.result()
                    out.candidates = out.keys.candidates()
                    out.keys = KeyIndex()  # the hashes are no longer needed
                    if len(out.candidates):
                        logger.info("ingest of %s: %d key hash candidates", self.lk.key, len(out.candidates))
                closing.result()
            out.curated_sha256 = writer.sha256()
            if quarantined is not None and quarantined != columns:
                _complete_quarantine(out.quarantine_path, columns)
        except BaseException:
            writer.close()
            raise
        return out

    def _hash(self, table: pa.Table, index: KeyIndex) -> None:
        index.add(key_hashes(key_columns(table, self.spec)))

    def _write(
        self,
        writer: CuratedWriter,
        delivered: Delivered,
        v: Validated,
        lines: pa.Array,
        quarantine: BinaryIO,
        q: bytes,
    ) -> None:
        """The batch's accepted rows → the curated file (and their coverage), its rejected ones →
        the quarantine."""
        ingest_id = self.ident.ingest_id()  # the first batch may wait here for the digest
        curated = curated_table(self.spec, v, lines, ingest_id=ingest_id, ingested_at=self.now)
        writer.write(curated)
        delivered.add(curated)
        if q:
            quarantine.write(q)

    def confirm(self, candidates: np.ndarray) -> np.ndarray:
        """Sorted file row numbers among ``candidates`` whose key really repeats (exact compare)."""
        parts: list[pa.Table] = []
        rows = 0
        for batch in self.reader.batches():
            table = batch.in_scope()[0]
            n = table.num_rows
            lo, hi = np.searchsorted(candidates, [rows, rows + n])
            if hi > lo:
                local = pa.array(candidates[lo:hi] - rows)
                keys = key_columns(table, self.spec)
                parts.append(
                    pa.table([k.take(local) for k in keys], names=[f"k{i}" for i in range(len(keys))])
                )
            rows += n
        if not parts:
            return np.zeros(0, np.int64)
        table = pa.concat_tables(parts)
        mask = duplicate_mask([c.combine_chunks() for c in table.columns])
        exact: np.ndarray = candidates[np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)]
        logger.info("ingest of %s: %d duplicate rows", self.lk.key, len(exact))
        return exact


_END = object()


def _prefetched(batches: Iterator[Batch]) -> Iterator[Batch]:
    """``batches`` read one ahead in a thread: the next chunk's parse and clean-up (GIL-free
    kernels, mostly) overlap this batch's validation. Errors surface in order."""
    with ThreadPoolExecutor(max_workers=1) as ahead:
        nxt = ahead.submit(next, batches, _END)
        while True:
            item = nxt.result()
            if item is _END:
                return
            nxt = ahead.submit(next, batches, _END)
            yield item  # type: ignore[misc]


def _complete_quarantine(path: Path, columns: list[str]) -> None:
    """Every quarantine line lists every column of the file, as one read of the whole file
    would (a key missing from a row is null there): lines written before a JSON Lines key first
    appeared get it as null, in the file's column order. Only a JSON Lines file whose keys grow
    after a rejected row gets here; the quarantine is read and written again line by line."""
    done = path.with_suffix(".complete")
    with open(path, "rb") as old, open(done, "wb") as new:
        for line in old:
            row = json.loads(line)
            if list(row["values"]) != columns:
                row["values"] = {c: row["values"].get(c) for c in columns}
                line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
            new.write(line)
    done.replace(path)


def _batch_mask(duplicates: np.ndarray, start: int, n: int) -> pa.Array:
    mask = np.zeros(n, dtype=bool)
    lo, hi = np.searchsorted(duplicates, [start, start + n])
    mask[duplicates[lo:hi] - start] = True
    return pa.array(mask)


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
