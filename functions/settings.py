"""One settings object, read from the environment once.

Precedence is explicit argument > environment (``CREDITRISK_*``) > default: call
``Settings(lake_uri=...)`` to override, ``get_settings()`` for the cached environment view.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @property
    def effective_landing_uri(self) -> str:
        return self.landing_uri or self.lake_uri


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
