"""One settings object, read from the environment once.

Precedence is explicit argument > environment (``CREDITRISK_*``) > default: call
``Settings(lake_uri=...)`` to override, ``get_settings()`` for the cached environment view.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.ingest import MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDITRISK_", frozen=True, extra="ignore", populate_by_name=True
    )

    lake_uri: str = Field("./lake", description="s3://bucket[/prefix] or a local folder")
    landing_uri: str | None = Field(None, description="where providers upload; defaults to lake_uri")
    engine: Literal["duckdb", "athena"] = "duckdb"
    region: str = Field(
        "cn-north-1",
        validation_alias=AliasChoices("region", "CREDITRISK_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    aws_endpoint_url: str | None = Field(None, description="endpoint override (moto server in tests)")
    max_reject_share: float = Field(0.05, ge=0.0, le=1.0)
    legacy_uscc_allowlist: tuple[str, ...] = ()
    athena_workgroup: str = "creditrisk"
    athena_database: str = "creditrisk"
    athena_output_uri: str | None = None
    default_system: str = "samr-general"
    tz: str = "Asia/Shanghai"
    # -- classification on DuckDB (issue 3, docs/results-contract.md "Performance") --
    duckdb_memory_limit: str = Field(
        "6GB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB memory_limit",
    )
    duckdb_temp_directory: str | None = Field(
        None, description="where DuckDB spills beyond the limit (default: a temporary folder per run)"
    )
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB threads (default: the usable cores)")
    duckdb_range_entities: int | None = Field(
        None,
        ge=1,
        description="entities classified per query; a larger province runs in uscc ranges "
        "(default: what duckdb_memory_limit holds, about 2.5M for 6GB)",
    )
    field_systems: tuple[str, ...] = Field(
        ("food", "drug", "special_equipment", "industrial_product"),
        description="professional fields (schemas/fields.yaml) the monthly run classifies beside the "
        "general class (JSON list; [] for none)",
    )
    class_systems: dict[str, str] = Field(
        default_factory=dict,
        description="entity_type -> system id (JSON); unlisted types use the run's system",
    )
    # -- warnings, regional analysis, report (issue 6, docs/warnings.md, docs/analysis.md) --
    warning_rules: str = Field("samr-warnings", description="warning rule set id or YAML path")
    warnings_sns_topic_arn: str | None = Field(None, description="SNS topic told about new inspection tasks")
    warnings_notify_file: str | None = Field(None, description="local JSON-lines file told about new tasks")
    analysis_min_entities: int = Field(30, ge=1, description="smallest region/industry that can be flagged")
    analysis_share_ratio: float = Field(1.5, ge=1.0, description="flag: C+D share >= ratio x province share")
    analysis_z: float = Field(2.326, ge=0.0, description="one-sided binomial z threshold (2.326 = 1%)")
    analysis_memory_limit: str = Field(
        "512MB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB memory_limit of the report's aggregates (they spill beyond it, ADR 0109)",
    )
    analysis_trend_months: int = Field(
        24, ge=2, le=60, description="months of class-share trends in the report"
    )
    api_max_answer_bytes: int = Field(
        5 * 2**20,
        ge=16_384,
        le=6 * 2**20,
        description="largest sampling API answer as sent by Lambda (JSON-escaped); larger plans are paged",
    )
    sampling_cache_mb: int = Field(
        256,
        ge=0,
        description="decoded sampling-copy rows a warm API process keeps between plan requests "
        "(docs/adr/0163); 0: none",
    )
    # -- inspector roster (issue 15, docs/adr/0097) --
    inspectors_per_target: int = Field(
        2, ge=2, le=10, description="inspectors per target, the least a plan may ask (never below 2)"
    )
    roster_min_pool: int = Field(
        3, ge=2, description="a county with fewer eligible inspectors draws from its city, then the province"
    )

    # -- sampling tasks and the audit chain (issue 15, docs/adr/0093-0095) --
    sampling_test_mode: bool = Field(
        True,
        description="accept test draws (a caller seed, never official); false in production",
    )
    audit_kms_key_id: str | None = Field(None, description="KMS HMAC key signing the audit chain (AWS)")
    audit_key_file: str | None = Field(
        None, description="local HMAC key file (hex) signing the audit chain when there is no KMS key"
    )

    dlq_url: str | None = Field(
        None, description="SQS dead-letter queue of the asynchronous functions (docs/operations.md)"
    )

    # -- decisions made through the API finish in a worker (issue 14, docs/adr/0144) --
    correction_queue_url: str | None = Field(
        None,
        description="SQS queue of decided objections' follow-ups (warning, correction run); "
        "unset: an upheld decision stays pending until `creditrisk objection reclassify`",
    )
    correction_lease_seconds: int = Field(
        900,
        ge=1,
        description="how long a started correction run holds its objection: at least the corrections "
        "worker's timeout (tests/infra checks it), so a live worker is never taken over",
    )

    # -- ingestion (issue 2, docs/upload-contract.md) --
    landing_bucket: str | None = Field(
        None, description="bucket whose incoming/ uploads trigger ingestion; default: from landing_uri"
    )
    # -- what uploaders learn (issue 13, docs/adr/0088) --
    upload_events_bus: str | None = Field(
        None, description="EventBridge bus told about every ingest outcome (in AWS: default)"
    )
    upload_events_file: str | None = Field(None, description="local JSON-lines file told the same")
    # -- monthly delivery to inspection platforms (issue 14, docs/adr/0122) --
    delivery_events_bus: str | None = Field(
        None, description="EventBridge bus told about each province's monthly export (in AWS: default)"
    )
    delivery_events_file: str | None = Field(None, description="local JSON-lines file told the same")
    # streamed ingest (issue 13, docs/adr/0084): the landed object is copied to a local work
    # folder (Lambda: /tmp, sized by the ingest function's EphemeralStorage) and read in chunks
    ingest_work_dir: str | None = Field(
        None, description="folder for ingest temp files; default: the OS temp dir"
    )
    ingest_max_bytes: int = Field(
        MAX_UPLOAD_BYTES,
        ge=1,
        description="largest landed object ingested; a larger one is rejected whole (too_large)",
    )
    ingest_max_rows: int = Field(
        MAX_UPLOAD_ROWS,
        ge=1,
        description="most rows in one file (the duplicate-key check holds 16 bytes per row)",
    )
    ingest_chunk_bytes: int = Field(8 << 20, ge=1024, description="text read and validated per batch")

    @property
    def correction_lease(self) -> dt.timedelta:
        """The one lease of a started correction run: the worker, the CLI and the status read."""
        return dt.timedelta(seconds=self.correction_lease_seconds)

    @property
    def effective_landing_uri(self) -> str:
        return self.landing_uri or self.lake_uri

    @property
    def effective_landing_bucket(self) -> str:
        """The S3 bucket of the landing area (a placeholder name when the landing is a folder)."""
        if self.landing_bucket:
            return self.landing_bucket
        uri = self.effective_landing_uri
        return uri[len("s3://") :].split("/", 1)[0] if uri.startswith("s3://") else "creditrisk-landing"

    @property
    def landing_prefix(self) -> str:
        """The key prefix of the landing root inside its bucket ('' at the bucket root)."""
        uri = self.effective_landing_uri
        if not uri.startswith("s3://"):
            return ""
        rest = uri[len("s3://") :].split("/", 1)
        return rest[1].strip("/") + "/" if len(rest) > 1 and rest[1].strip("/") else ""

    def aws_client(self, service: str, session: Any = None) -> Any:
        """A boto3 client for ``service`` in the configured region and endpoint (moto in tests);
        made on call, never at import time."""
        if session is None:
            from functions.aws import new_session

            session = new_session()
        return session.client(service, region_name=self.region, endpoint_url=self.aws_endpoint_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
