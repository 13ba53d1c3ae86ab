"""Trigger events as AWS delivers them (docs/adr/0050): parsed here, never ad hoc in handlers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Bucket(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    name: str = Field(min_length=3)


class _Object(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    key: str = Field(min_length=1, description="URL-encoded like S3 notification keys")
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(None, alias="version-id")
    sequencer: str | None = None


class _Detail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    bucket: _Bucket
    object: _Object


class S3ObjectCreatedEvent(BaseModel):
    """An EventBridge "Object Created" event from S3 (the landing bucket in AWS)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    source: Literal["aws.s3"]
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    id: str = ""
    detail: _Detail
