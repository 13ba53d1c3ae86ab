"""Dry run of one file against the upload contract: what ingest would do, writing nothing.

``creditrisk contract check FILE`` is the command a provincial engineer runs before wiring an
export: the mapping the profile would use, the first problems per column and the outcome. It
reads and validates exactly as ingest does (same readers, profile, validation and threshold),
without a lake.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import PurePath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from functions.errors import FileRejected, InvalidInput
from functions.ingest.paths import format_of
from functions.ingest.profiles import ColumnPlan, load_profile
from functions.ingest.quarantine import first_errors
from functions.ingest.readers import read
from functions.ingest.validate import validate
from functions.settings import Settings
from schemas.datasets import DATASETS
from schemas.ingest import RowError

PER_COLUMN = 3  # problems shown per column


@dataclass
class CheckResult:
    file: str
    dataset: str
    province: str
    province_from: str  # option | path | data
    format: str
    accepted: bool
    encoding: str | None = None
    sheet: str | None = None  # a spreadsheet: the sheet that was read
    plan: ColumnPlan | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_out_of_scope: int = 0
    out_of_scope_reasons: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[RowError]] = field(default_factory=dict)  # column → first errors
    file_reason: str | None = None
    file_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "file": self.file,
            "dataset": self.dataset,
            "province": self.province,
            "province_from": self.province_from,
            "format": self.format,
            "encoding": self.encoding,
            "sheet": self.sheet,
            "outcome": "accepted" if self.accepted else "rejected",
            "file_reason": self.file_reason,
            "file_message": self.file_message,
            "profile": plan.profile if plan else None,
            "profile_version": plan.profile_version if plan else None,
            "header_mapping": plan.header_mapping if plan else {},
            "dropped_columns": list(plan.dropped_personal) if plan else [],
            "ignored_columns": list(plan.ignored) if plan else [],
            "derived_columns": dict(plan.derived) if plan else {},
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "rows_out_of_scope": self.rows_out_of_scope,
            "out_of_scope_reasons": self.out_of_scope_reasons,
            "reasons": self.reasons,
            "problems": {c: [e.model_dump() for e in errs] for c, errs in self.problems.items()},
        }


def guess_dataset(data: bytes, fmt: str, province: str | None) -> str | None:
    """The dataset whose columns the file's headers map to best (reading is cheap for the
    files an engineer checks by hand)."""
    profile = load_profile(province)
    best: tuple[int, str] | None = None
    for name, spec in DATASETS.items():
        try:
            plan = read(data, fmt, spec, profile).plan
        except FileRejected:
            continue
        score = len(plan.columns) if plan else 0
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None


def _province_of(path: PurePath) -> str | None:
    parts = path.parts
    if len(parts) >= 3 and parts[-3].isdigit() and len(parts[-3]) == 2:
        return parts[-3]
    return None


def _province_from_data(table: pa.Table) -> str | None:
    if "uscc" not in table.column_names:
        return None
    prov = pc.utf8_slice_codeunits(table.column("uscc"), 2, 4).drop_null().to_pylist()
    counts = Counter(p for p in prov if p.isdigit())
    return counts.most_common(1)[0][0] if counts else None


def check_bytes(
    data: bytes,
    path: PurePath,
    *,
    dataset: str | None,
    province: str | None,
    settings: Settings,
    today: dt.date | None = None,
) -> CheckResult:
    """What ingest would make of ``data`` uploaded as ``path`` (nothing is written)."""
    fmt = format_of(path.name)
    if fmt is None:
        raise InvalidInput(f"{path.name}: unknown format (csv, csv.gz, jsonl, jsonl.gz, parquet, xlsx, xls)")
    prov, prov_from = (province, "option") if province else (_province_of(path), "path")
    dataset = dataset or (
        path.parent.name if path.parent.name in DATASETS else guess_dataset(data, fmt, prov)
    )
    if dataset not in DATASETS:
        raise InvalidInput(f"cannot tell the dataset of {path.name}: pass --dataset ({', '.join(DATASETS)})")
    spec = DATASETS[dataset]
    today = today or dt.datetime.now(dt.UTC).date()
    result = CheckResult(str(path), dataset, prov or "", prov_from, fmt, accepted=False)
    try:
        rr = read(data, fmt, spec, load_profile(prov))
        result.plan, result.encoding, result.sheet = rr.plan, rr.encoding, rr.sheet
        table, lines = rr.table, rr.lines
        result.rows_read = table.num_rows
        if rr.out_of_scope is not None and rr.out_of_scope_reason is not None:
            out = int(pc.sum(rr.out_of_scope).as_py() or 0)
            if out:
                keep = pc.invert(rr.out_of_scope)
                table, lines = table.filter(keep), lines.filter(keep)
                result.rows_out_of_scope = out
                result.out_of_scope_reasons = {rr.out_of_scope_reason: out}
        if not prov:
            prov, prov_from = _province_from_data(table) or "00", "data"
            result.province, result.province_from = prov, prov_from
        v = validate(
            table,
            spec,
            province=prov,
            today=today,
            legacy_uscc=settings.legacy_uscc_allowlist,
            display_names=rr.original_names,
        )
        failed = v.rows_failed
        result.reasons = v.counts()
        for e in first_errors(v, lines, limit=1000):
            errs = result.problems.setdefault(e.column or "(row)", [])
            if len(errs) < PER_COLUMN:
                errs.append(e)
        in_scope = result.rows_read - result.rows_out_of_scope
        result.rows_rejected, result.rows_accepted = failed, in_scope - failed
        if in_scope and Fraction(failed, in_scope) > Fraction(str(settings.max_reject_share)):
            raise FileRejected(
                f"{failed} of {in_scope} rows ({failed / in_scope:.1%}) fail validation; "
                f"more than the allowed {settings.max_reject_share:.1%}",
                reason="too_many_rejects",
            )
        result.accepted = True
    except FileRejected as exc:
        result.accepted = False
        result.file_reason = str(exc.details.get("reason", "rejected"))
        result.file_message = exc.message
        result.rows_accepted = 0
    return result


def render(r: CheckResult) -> str:
    """The check as text for a terminal."""
    out = [f"file:     {r.file}", f"dataset:  {r.dataset} ({DATASETS[r.dataset].zh})"]
    out.append(f"format:   {r.format}" + (f", encoding {r.encoding}" if r.encoding else ""))
    if r.sheet is not None:
        out.append(f"sheet:    {r.sheet}")
    out.append(f"province: {r.province or '?'} (from {r.province_from})")
    if r.plan is not None:
        p = r.plan
        out.append(f"profile:  {p.profile} {p.profile_version}")
        out.append("mapping:")
        out.extend(f"  {h} → {c}" for h, c in p.header_mapping.items())
        if p.derived:
            out.append("derived:")
            out.extend(f"  {c}: {how}" for c, how in p.derived.items())
        if p.dropped_personal:
            out.append("dropped (personal data, never stored): " + ", ".join(p.dropped_personal))
        if p.ignored:
            out.append("ignored (kept as extras, scanned for personal data): " + ", ".join(p.ignored))
    out.append(
        f"rows:     read {r.rows_read:,}, accepted {r.rows_accepted:,}, rejected {r.rows_rejected:,}, "
        f"out of scope {r.rows_out_of_scope:,}"
        + (
            " (" + ", ".join(f"{k} {v:,}" for k, v in r.out_of_scope_reasons.items()) + ")"
            if r.out_of_scope_reasons
            else ""
        )
    )
    if r.reasons:
        out.append("rejected rows by reason: " + ", ".join(f"{k} {v:,}" for k, v in r.reasons.items()))
    if r.problems:
        out.append(f"first problems per column (up to {PER_COLUMN}):")
        for column, errs in r.problems.items():
            for e in errs:
                out.append(f"  {column}: line {e.line}: {e.code}: {e.message}")
    if r.accepted:
        out.append("outcome:  ACCEPTED" + (" (with rejected rows)" if r.rows_rejected else ""))
    else:
        out.append(f"outcome:  REJECTED ({r.file_reason}: {r.file_message})")
    return "\n".join(out)
