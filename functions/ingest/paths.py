"""Landing keys: ``incoming/<PP>/<dataset>/<file>`` parsed, URL-decoded and checked."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from functions import layout
from functions.errors import FileRejected
from schemas.datasets import DATASETS

# Longest suffix first: ``.csv.gz`` must win over ``.gz``.
FORMATS: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv.gz"),
    (".jsonl.gz", "jsonl.gz"),
    (".csv", "csv"),
    (".jsonl", "jsonl"),
    (".parquet", "parquet"),
    (".xlsx", "xlsx"),
    (".xls", "xls"),
)
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class LandingKey:
    key: str  # decoded, relative to the landing root: incoming/<PP>/<dataset>/<file>
    province: str  # as given (may be invalid; see ``problem``)
    dataset: str
    filename: str
    fmt: str | None
    problem: FileRejected | None  # why the path itself rejects the file, if it does

    @property
    def area_province(self) -> str:
        """A safe path segment for archive/report keys even when the province is invalid."""
        return self.province if _SAFE_SEGMENT.match(self.province) else "invalid"

    @property
    def area_dataset(self) -> str:
        return self.dataset if _SAFE_SEGMENT.match(self.dataset) else "invalid"

    @property
    def area_filename(self) -> str:
        name = self.filename.replace("/", "_")
        return name if name not in ("", ".", "..") and not name.startswith(("_", ".")) else f"file-{name}"


def decode_event_key(raw: str) -> str:
    """S3 event keys are URL-encoded with ``+`` for spaces (``month%3D2026-10`` → ``month=2026-10``)."""
    return unquote_plus(raw)


def format_of(filename: str) -> str | None:
    lower = filename.lower()
    return next((fmt for suffix, fmt in FORMATS if lower.endswith(suffix)), None)


def parse_landing_key(key: str) -> LandingKey:
    """Split a decoded landing key; path problems are returned (not raised) so they can be reported."""
    key = key.lstrip("/")
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != layout.INCOMING or not all(parts):
        filename = posixpath.basename(key) or "unnamed"
        return LandingKey(
            key,
            parts[1] if len(parts) > 1 else "invalid",
            parts[2] if len(parts) > 2 else "invalid",
            filename,
            format_of(filename),
            FileRejected(
                "the object is not at incoming/<province>/<dataset>/<file>", field="key", reason="bad_path"
            ),
        )
    _, province, dataset, filename = parts
    fmt = format_of(filename)
    problem: FileRejected | None = None
    if not layout.PROVINCE_RE.match(province) or province not in layout.PROVINCES:
        problem = FileRejected(
            f"{province!r} is not a GB/T 2260 province code", field="province", reason="bad_province"
        )
    elif dataset not in DATASETS:
        problem = FileRejected(
            f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}",
            field="dataset",
            reason="unknown_dataset",
        )
    elif fmt is None:
        problem = FileRejected(
            f"unsupported file type {filename!r}; use {', '.join(s for s, _ in FORMATS)}",
            field="format",
            reason="unsupported_format",
        )
    return LandingKey(key, province, dataset, filename, fmt, problem)
