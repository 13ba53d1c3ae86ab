"""What an uploader learns about its uploads (issue 13): the public view of an ingest report.

``GET /v1/uploads``, ``GET /v1/uploads/{ingest_id}`` and the ingest-outcome notification all
carry :class:`UploadOut`. It is a documented subset of :class:`schemas.ingest.IngestReport`:
where the lake keeps the archive, curated and quarantine copies and how long each step took are
internal and left out; nothing in it is personal data (row errors carry fixed messages, free
text is masked; docs/adr/0087).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.api import Province

INGEST_ID_PATTERN = r"^[0-9a-f]{20}$"
UPLOADS_PAGE = 200  # largest page of GET /v1/uploads
UPLOADS_DEFAULT_PAGE = 50
MAX_CURSOR = 2048  # a position and up to 40 recent ids, base64
# The notification: EventBridge ``source`` and ``detail-type`` (the per-province rules match on
# them and on ``detail.province``, infra/uploads_notify.py).
EVENT_SOURCE = "creditrisk.ingest"
EVENT_DETAIL_TYPE = "Ingest outcome"

Outcome = Literal["accepted", "partial", "rejected"]
IngestId = Annotated[str, Field(pattern=INGEST_ID_PATTERN, description="20 hex digits")]


class UploadError(BaseModel):
    """One row error: where (line, column) and why (code, fixed message; never the value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    line: int = Field(description="1-based line (CSV: the header is line 1) or row number (Parquet)")
    column: str | None
    code: str
    message: str


class UploadOut(BaseModel):
    """One upload's outcome as its province sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ingest_id: str
    province: str
    dataset: str
    source_key: str = Field(description="the landing key: incoming/<PP>/<dataset>/<file>")
    size: int = Field(description="bytes uploaded")
    sha256: str = Field(description="of the uploaded bytes")
    etag: str | None = Field(description="as S3 reported it for the upload (null for local ingests)")
    version_id: str | None = Field(description="S3 version of the upload (null when unversioned)")
    format: str | None
    encoding: str | None
    ingested_at: str = Field(description="ISO 8601, UTC")
    outcome: Outcome = Field(
        description="accepted: every row; partial: some rows rejected (listed in `reasons`); "
        "rejected: the whole file (`file_reason`)"
    )
    file_reason: str | None = Field(description="why the whole file was rejected (a FILE_REASONS code)")
    file_message: str | None = Field(description="the same in words (identity numbers masked)")
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rows_out_of_scope: int = Field(
        description="rows outside the platform's scope (natural persons): neither accepted nor rejected; "
        "rows_read = rows_accepted + rows_rejected + rows_out_of_scope"
    )
    out_of_scope_reasons: dict[str, int] = Field(description="out-of-scope rows per reason")
    reasons: dict[str, int] = Field(description="rejected rows per reason code")
    errors: list[UploadError] = Field(description="the first row errors (at most 100), in file order")
    sheet: str | None = Field(None, description="the sheet read from a spreadsheet upload (xlsx/xls)")
    header_mapping: dict[str, str] = Field(description="uploaded header → contract column")
    ignored_columns: list[str] = Field(description="uploaded columns the contract does not use")
    profile: str | None = Field(description="the mapping profile that read the file (schemas/profiles/)")
    profile_version: str | None
    dropped_columns: list[str] = Field(
        description="personal-data columns dropped before anything was stored or scanned"
    )
    derived_columns: dict[str, str] = Field(description="contract column derived from the file → how")


class UploadEvent(UploadOut):
    """The notification's ``detail``: the public view, plus whether this was a re-delivery."""

    duplicate: bool = Field(
        description="the same bytes at the same key were ingested before; nothing was written again"
    )


class UploadsQuery(BaseModel):
    """Query string of ``GET /v1/uploads`` (values arrive as strings; numbers are coerced)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    province: Province
    since: Annotated[str | None, Field(max_length=40)] = Field(
        None, description="only uploads ingested at or after this ISO date or date-time (UTC if no zone)"
    )
    cursor: Annotated[str | None, Field(min_length=1, max_length=MAX_CURSOR)] = None
    limit: Annotated[int, Field(ge=1, le=UPLOADS_PAGE)] = UPLOADS_DEFAULT_PAGE

    @field_validator("since")
    @classmethod
    def _iso_utc(cls, v: str | None) -> str | None:
        """Normalised to ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (what ``ingested_at`` looks like)."""
        if v is None:
            return None
        try:
            when = dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 date or date-time, e.g. 2026-10-01T00:00:00Z") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class UploadQuery(BaseModel):
    """``GET /v1/uploads/{ingest_id}``; ``province`` narrows the search for multi-province tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ingest_id: IngestId
    province: Province | None = None


class UploadsPage(BaseModel):
    """One page of a province's uploads, oldest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    province: str
    since: str | None
    limit: int
    has_more: bool = Field(description="more uploads follow now: ask again with `next_cursor`")
    next_cursor: str | None = Field(
        description="the position after this page (the given cursor when the page is empty): pass it "
        "as `cursor` for the next page, or keep it to poll later for newer uploads; null only when "
        "the province has no matching upload at all"
    )
    uploads: list[UploadOut]
