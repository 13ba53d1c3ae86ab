"""The public view of an ingest report: what a province may read about its own uploads.

An explicit allow-list of fields (a field added to ``IngestReport`` stays internal until it is
added here and to ``schemas/uploads.py``). Free text that could quote an uploaded value is
masked; row errors already carry fixed messages, never values.
"""

from __future__ import annotations

from functions.uploads.masking import mask_text
from schemas.ingest import IngestReport
from schemas.uploads import Outcome, UploadError, UploadEvent, UploadOut


def outcome(report: IngestReport) -> Outcome:
    """accepted / partial / rejected from the stored status and counts (a re-delivery's answer
    has status ``duplicate``; its ``file_reason`` still tells a rejected file)."""
    if report.status == "rejected_file" or report.file_reason is not None:
        return "rejected"
    return "partial" if report.rows_rejected else "accepted"


def public_view(report: IngestReport) -> UploadOut:
    return UploadOut(
        ingest_id=report.ingest_id,
        province=report.province,
        dataset=report.dataset,
        source_key=mask_text(report.source_key),
        size=report.size,
        sha256=report.sha256,
        etag=report.etag,
        version_id=report.version_id,
        format=report.format,
        encoding=report.encoding,
        ingested_at=report.ingested_at,
        outcome=outcome(report),
        file_reason=report.file_reason,
        file_message=mask_text(report.file_message) if report.file_message is not None else None,
        rows_read=report.rows_read,
        rows_accepted=report.rows_accepted,
        rows_rejected=report.rows_rejected,
        rows_out_of_scope=report.rows_out_of_scope,
        out_of_scope_reasons=dict(report.out_of_scope_reasons),
        reasons=dict(report.reasons),
        errors=[
            UploadError(
                line=e.line,
                column=mask_text(e.column) if e.column is not None else None,
                code=e.code,
                message=mask_text(e.message),
            )
            for e in report.errors
        ],
        sheet=mask_text(report.sheet) if report.sheet is not None else None,
        header_mapping={mask_text(k): v for k, v in report.header_mapping.items()},
        ignored_columns=[mask_text(c) for c in report.ignored_columns],
        profile=report.profile,
        profile_version=report.profile_version,
        dropped_columns=[mask_text(c) for c in report.dropped_columns],
        derived_columns=dict(report.derived_columns),
    )


def event_detail(report: IngestReport) -> UploadEvent:
    """The notification's detail; ``status == "duplicate"`` only on a re-delivery's answer."""
    view = public_view(report).model_dump()
    return UploadEvent(**view, duplicate=report.status == "duplicate")
