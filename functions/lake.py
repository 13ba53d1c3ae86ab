"""The lake: one code path for ``s3://bucket[/prefix]`` and a local folder.

Everything goes through ``pyarrow.fs`` so that the same calls work against S3 (or a moto
server in tests) and a folder. Paths given to ``Lake`` methods are *relative* keys such as
``curated/penalties/province=42/...``. Writes are atomic: the object is written under a hidden
temporary name (``_tmp-…``, ignored by Athena, pyarrow datasets and our listings) and moved in
place, so a crash never leaves a half-written object visible.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from functions.errors import StorageError

if TYPE_CHECKING:
    import boto3
    import pyarrow as pa
    import pyarrow.fs as pafs
else:

    class _LazyPyarrowFs:
        """``pyarrow.fs`` imported on first use: importing the handler module stays fast (cold
        start, issue 4 / docs/adr/0044); every ``pafs.X`` behaves as before."""

        def __getattr__(self, name: str) -> Any:
            import pyarrow.fs

            return getattr(pyarrow.fs, name)

    pafs = _LazyPyarrowFs()

logger = logging.getLogger(__name__)

HIDDEN_PREFIXES = ("_", ".")
COPY_BLOCK = 8 << 20  # bytes per read/write when streaming an object to or from a local file


@dataclass(frozen=True)
class LakeFile:
    key: str  # relative to the lake root
    size: int
    mtime_ns: int | None


def make_s3_filesystem(
    *,
    region: str,
    endpoint_url: str | None = None,
    boto3_session: boto3.Session | None = None,
) -> pafs.S3FileSystem:
    """An S3 filesystem whose credentials come from the given boto3 session (or the default chain)."""
    kwargs: dict[str, Any] = {"region": region}
    if boto3_session is not None:
        creds = boto3_session.get_credentials()
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            kwargs.update(access_key=frozen.access_key, secret_key=frozen.secret_key)
            if frozen.token:
                kwargs["session_token"] = frozen.token
    if endpoint_url:
        parsed = urlparse(endpoint_url)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    return pafs.S3FileSystem(**kwargs)


class Lake:
    """A root (bucket/prefix or folder) on a ``pyarrow.fs`` filesystem."""

    def __init__(self, fs: pafs.FileSystem, root: str, uri: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.uri = uri
        self.is_local = isinstance(fs, pafs.LocalFileSystem)

    @classmethod
    def from_uri(
        cls,
        uri: str,
        *,
        region: str = "cn-north-1",
        endpoint_url: str | None = None,
        boto3_session: boto3.Session | None = None,
        filesystem: pafs.FileSystem | None = None,
    ) -> Lake:
        if uri.startswith("s3://"):
            parsed = urlparse(uri)
            if not parsed.netloc:
                raise StorageError(f"lake URI {uri!r} names no bucket", field="lake_uri")
            root = parsed.netloc + parsed.path.rstrip("/")
            fs = filesystem or make_s3_filesystem(
                region=region, endpoint_url=endpoint_url, boto3_session=boto3_session
            )
            return cls(fs, root, uri.rstrip("/"))
        local = Path(uri[len("file://") :] if uri.startswith("file://") else uri).expanduser().resolve()
        local.mkdir(parents=True, exist_ok=True)
        return cls(filesystem or pafs.LocalFileSystem(), local.as_posix(), local.as_posix())

    # -- paths -----------------------------------------------------------------------------
    def path(self, key: str) -> str:
        """The filesystem path of a relative key."""
        key = key.lstrip("/")
        return f"{self.root}/{key}" if key else self.root

    def rel(self, path: str) -> str:
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    def display(self, key: str) -> str:
        """A human-readable location (``s3://…`` or an absolute path) for messages."""
        return f"{self.uri}/{key.lstrip('/')}"

    # -- reads -----------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return bool(self.fs.get_file_info(self.path(key)).type == pafs.FileType.File)

    def info(self, key: str) -> LakeFile | None:
        fi = self.fs.get_file_info(self.path(key))
        if fi.type != pafs.FileType.File:
            return None
        return LakeFile(key, fi.size or 0, fi.mtime_ns)

    def read_bytes(self, key: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.path(key), compression=None) as f:
                return bytes(f.read())
        except FileNotFoundError:
            raise
        except OSError as exc:  # pyarrow raises OSError for most S3 failures
            if "not found" in str(exc).lower() or "nosuchkey" in str(exc).lower():
                raise FileNotFoundError(self.display(key)) from exc
            raise StorageError(f"cannot read {self.display(key)}: {exc}") from exc

    def open_input_stream(self, key: str) -> Any:
        """A sequential stream of the object's bytes (no decompression): read it in blocks."""
        return self.fs.open_input_stream(self.path(key), compression=None)

    def download(self, key: str, dest: str | Path | None, *, block: int = COPY_BLOCK) -> str:
        """Copy the object to the local file ``dest`` (None: nowhere) block by block; its SHA-256.

        Hashing happens on the way (hashlib releases the GIL), so a large upload is read once and
        never held in memory (docs/adr/0084)."""
        digest = hashlib.sha256()
        try:
            with self.open_input_stream(key) as src, open(dest or os.devnull, "wb") as out:
                while chunk := src.read(block):
                    digest.update(chunk)
                    if dest is not None:
                        out.write(chunk)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot read {self.display(key)} into {dest}: {exc}") from exc
        return digest.hexdigest()

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def open_input_file(self, key: str) -> Any:
        """A random-access file (what Parquet readers need)."""
        return self.fs.open_input_file(self.path(key))

    def list_files(
        self, prefix: str, *, recursive: bool = True, include_hidden: bool = False
    ) -> list[LakeFile]:
        """Files under ``prefix`` (sorted by key); hidden (``_``/``.``) names are skipped."""
        selector = pafs.FileSelector(self.path(prefix.rstrip("/")), recursive=recursive, allow_not_found=True)
        out: list[LakeFile] = []
        for fi in self.fs.get_file_info(selector):
            if fi.type != pafs.FileType.File:
                continue
            key = self.rel(fi.path)
            if not include_hidden and any(
                part.startswith(HIDDEN_PREFIXES) for part in key[len(prefix.rstrip("/")) :].split("/") if part
            ):
                continue
            out.append(LakeFile(key, fi.size or 0, fi.mtime_ns))
        out.sort(key=lambda f: f.key)
        return out

    def list_dirs(self, prefix: str) -> list[str]:
        """Immediate sub-folder names under ``prefix`` (e.g. partition values)."""
        selector = pafs.FileSelector(self.path(prefix.rstrip("/")), recursive=False, allow_not_found=True)
        names = {
            posixpath.basename(fi.path.rstrip("/"))
            for fi in self.fs.get_file_info(selector)
            if fi.type == pafs.FileType.Directory
        }
        return sorted(n for n in names if not n.startswith(HIDDEN_PREFIXES))

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        with self.open_input_file(key) as f:
            return pq.read_table(f, columns=columns)

    # -- writes ----------------------------------------------------------------------------
    def _ensure_parent(self, path: str) -> None:
        if self.is_local:
            self.fs.create_dir(posixpath.dirname(path), recursive=True)

    def _tmp_path(self, key: str) -> str:
        directory, name = posixpath.split(self.path(key))
        return f"{directory}/_tmp-{uuid.uuid4().hex}-{name}"

    def write_bytes(self, key: str, data: bytes, *, metadata: dict[str, str] | None = None) -> None:
        """Write atomically: readers see the old object or the whole new one, never a part."""
        final = self.path(key)
        tmp = self._tmp_path(key)
        self._ensure_parent(final)
        try:
            with self.fs.open_output_stream(tmp, compression=None, metadata=metadata) as out:
                out.write(data)
            self.fs.move(tmp, final)
        except OSError as exc:
            self._silent_delete(tmp)
            raise StorageError(f"cannot write {self.display(key)}: {exc}") from exc

    def write_file(self, key: str, source: str | Path, *, metadata: dict[str, str] | None = None) -> None:
        """Upload the local file ``source`` block by block, atomically like ``write_bytes``.

        On S3 the output stream sends parts as they fill (a multipart upload), so memory stays at a
        few parts whatever the file size; the temporary object is moved in place only once complete."""
        final = self.path(key)
        tmp = self._tmp_path(key)
        self._ensure_parent(final)
        try:
            with (
                open(source, "rb") as src,
                self.fs.open_output_stream(tmp, compression=None, metadata=metadata) as out,
            ):
                while chunk := src.read(COPY_BLOCK):
                    out.write(chunk)
            self.fs.move(tmp, final)
        except OSError as exc:
            self._silent_delete(tmp)
            raise StorageError(f"cannot write {self.display(key)}: {exc}") from exc

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, json.dumps(obj, ensure_ascii=False, indent=2, default=str).encode("utf-8"))

    def write_parquet(self, key: str, table: pa.Table, *, compression: str = "zstd") -> None:
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf, compression=compression)
        self.write_bytes(key, buf.getvalue())

    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side copy on S3; atomic replace of the destination."""
        dst = self.path(dst_key)
        self._ensure_parent(dst)
        if self.is_local:
            tmp = self._tmp_path(dst_key)
            self.fs.copy_file(self.path(src_key), tmp)
            self.fs.move(tmp, dst)
        else:
            self.fs.copy_file(self.path(src_key), dst)

    def delete(self, key: str) -> None:
        self.fs.delete_file(self.path(key))

    def _silent_delete(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except OSError:
            logger.debug("temporary object %s already gone", path)


def open_lake(
    uri: str | None = None,
    *,
    settings: Any = None,
    boto3_session: boto3.Session | None = None,
) -> Lake:
    """The lake named by ``uri`` (default: settings.lake_uri), configured from settings."""
    from functions.settings import get_settings

    s = settings or get_settings()
    return Lake.from_uri(
        uri or s.lake_uri,
        region=s.region,
        endpoint_url=s.aws_endpoint_url,
        boto3_session=boto3_session,
    )
