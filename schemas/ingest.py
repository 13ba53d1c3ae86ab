"""The ingest report: one JSON per ingest beside the curated data (the commit marker)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IngestStatus = Literal["accepted", "rejected_file", "duplicate"]

ROW_REASONS = (
    "missing_required",
    "bad_uscc_format",
    "bad_uscc_checkdigit",
    "bad_date",
    "future_date",
    "bad_enum",
    "bad_number",
    "bad_format",
    "region_outside_province",
    "entity_type_mismatch",
    "duplicate_key",
    "personal_data",
)
FILE_REASONS = (
    "bad_path",
    "bad_province",
    "unknown_dataset",
    "unsupported_format",
    "bad_encoding",
    "bad_format",
    "empty_file",
    "missing_column",
    "duplicate_column",
    "too_many_rejects",
    "too_large",
)
# The largest upload ingested (landed bytes, as stored) and the most rows in one file: above
# either the file is rejected whole with ``too_large`` and stays in the landing area. Sized for
# the ingest Lambda's ephemeral storage and memory (docs/adr/0084).
MAX_UPLOAD_BYTES = 3_000_000_000
MAX_UPLOAD_ROWS = 60_000_000


class RowError(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int = Field(description="1-based line (CSV: header is line 1) or row number (Parquet)")
    column: str | None
    code: str
    message: str


class IngestReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest_id: str
    source_key: str
    province: str
    dataset: str
    size: int
    sha256: str
    etag: str | None = None
    version_id: str | None = None
    format: str | None = None
    encoding: str | None = None
    sheet: str | None = Field(default=None, description="the sheet read from a spreadsheet (xlsx/xls)")
    header_mapping: dict[str, str] = Field(default_factory=dict, description="uploaded header → column")
    ignored_columns: list[str] = Field(default_factory=list)
    profile: str | None = Field(default=None, description="mapping profile used (schemas/profiles/)")
    profile_version: str | None = None
    dropped_columns: list[str] = Field(
        default_factory=list,
        description="personal-data columns dropped before anything was stored or scanned",
    )
    derived_columns: dict[str, str] = Field(default_factory=dict, description="derived column → how")
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_out_of_scope: int = Field(
        default=0,
        description="rows outside the platform's scope (natural persons): neither accepted nor rejected",
    )
    out_of_scope_reasons: dict[str, int] = Field(
        default_factory=dict, description="out-of-scope rows per reason"
    )
    reasons: dict[str, int] = Field(default_factory=dict, description="rejected rows per reason code")
    errors: list[RowError] = Field(default_factory=list, description="the first 100 row errors")
    status: IngestStatus
    file_reason: str | None = None
    file_message: str | None = None
    ingested_at: str
    archive_key: str | None = None
    curated_key: str | None = None
    curated_sha256: str | None = Field(
        default=None, description="sha256 of the curated Parquet object as written (the runs' input digest)"
    )
    curated_bytes: int | None = Field(default=None, description="size of the curated Parquet object")
    quarantine_key: str | None = None
    report_key: str | None = None
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per step")


class S3ObjectRecord(BaseModel):
    """One record of an S3 ``ObjectCreated`` notification, key URL-decoded."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    sequencer: str | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> list[S3ObjectRecord]:
        """Every S3 record of a notification (real ones carry one; the format allows more)."""
        from urllib.parse import unquote_plus

        out = []
        for rec in event.get("Records") or []:
            s3 = rec.get("s3") or {}
            obj = s3.get("object") or {}
            out.append(
                cls(
                    bucket=(s3.get("bucket") or {}).get("name", ""),
                    key=unquote_plus(obj.get("key", "")),
                    etag=obj.get("eTag"),
                    version_id=obj.get("versionId"),
                    size=obj.get("size"),
                    sequencer=obj.get("sequencer"),
                )
            )
        return out
