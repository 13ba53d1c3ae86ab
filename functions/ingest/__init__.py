"""Ingestion: provincial uploads become validated, curated Parquet (issue 2, docs/upload-contract.md).

Entry points: ``ingest_object`` (one landed object; the S3 handler and the CLI call it),
``ingest_bytes`` (bytes already in hand), ``ingest_file`` (a local file, read in place),
``ingest_tree`` (everything pending) and ``summarise``.
"""

from __future__ import annotations

from functions.ingest.pipeline import (
    ingest_bytes,
    ingest_file,
    ingest_object,
    ingest_tree,
    pending_keys,
    summarise,
)
from schemas.ingest import IngestReport

__all__ = [
    "IngestReport",
    "ingest_bytes",
    "ingest_file",
    "ingest_object",
    "ingest_tree",
    "pending_keys",
    "summarise",
]
