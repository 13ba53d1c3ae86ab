"""The lake: one code path for ``s3://bucket[/prefix]`` and a local folder.

Everything goes through ``pyarrow.fs`` so that the same calls work against S3 (or a moto
server in tests) and a folder. Paths given to ``Lake`` methods are *relative* keys such as
``curated/penalties/province=42/...``. Writes are atomic: on S3 one ``PutObject`` (atomic by
itself; user metadata kept as ``x-amz-meta-*``, which pyarrow's S3 streams cannot set); in a
folder the file is written under a hidden temporary name (``_tmp-…``, ignored by Athena, pyarrow
datasets and our listings) and renamed, so a crash never leaves a half-written file visible
(docs/adr/0075).

Reads tell a missing key (``FileNotFoundError`` / ``None``) from a refused one
(``StorageAccessDenied``): without ``s3:ListBucket`` S3 answers 403 for a missing key, and that
must reach the operator as a permission problem, not as "object gone".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from functions.errors import StorageAccessDenied, StorageError, WriteConflict
from functions.layout import RECORD_PREFIXES

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
# how pyarrow (AWS SDK for C++) words a refusal: "AWS Error ACCESS_DENIED during HeadObject
# operation"; boto3's are recognised by their error code (403 on HEAD, AccessDenied otherwise).
# Markers are specific enough not to match a key that merely contains a word like "forbidden".
_DENIED = ("aws error access_denied", "(accessdenied)", "http status code: 403", "http status 403")
_MISSING = ("not found", "nosuchkey", "no_such_key", "path does not exist", "(404)")


def is_access_denied(exc: BaseException) -> bool:
    """True when a storage error is S3's 403 (a permission problem, never a missing key)."""
    if isinstance(exc, PermissionError):
        return True
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")).lower()
    if code in ("403", "accessdenied", "forbidden"):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _DENIED)


def _s3_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


# S3 conditional writes (docs/adr/0126): 412 when the condition does not hold, 409 when another
# conditional write to the key was in flight (retry), 404 for If-Match on a key that is gone.
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def local_etag(data: bytes) -> str:
    """The ETag a single-part S3 upload gets (MD5 of the bytes): the local lake's one too."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _is_missing(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")).lower()
    return code in ("404", "nosuchkey", "notfound") or any(m in str(exc).lower() for m in _MISSING)


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


SPOOL_IN_MEMORY = 16 * 2**20  # a 1M province's plan (7 MB) is sent from memory, not from /tmp


class Spool:
    """What :meth:`Lake.writing` fills on S3: memory up to ``limit`` bytes, then an anonymous
    temporary file. Before, every object went through ``/tmp``: written, read back and sent, a
    second pass over a plan's 7 MB in each POST; a province-wide plan of 134 MB still spills."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._memory: io.BytesIO | None = io.BytesIO()
        self._file: Any = None

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def write(self, data: bytes | memoryview) -> int:
        if self._memory is not None and self._memory.tell() + memoryview(data).nbytes > self._limit:
            self._file = tempfile.TemporaryFile(prefix="creditrisk-put-")  # noqa: SIM115 (closed by close())
            self._file.write(self._memory.getbuffer())
            self._memory = None
        out: int = (self._memory if self._memory is not None else self._file).write(data)
        return out

    def body(self) -> Any:
        """The whole content as a readable stream from its start (what ``PutObject`` sends)."""
        stream = self._memory if self._memory is not None else self._file
        stream.flush()
        stream.seek(0)
        return stream

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._memory = self._file = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Lake:
    """A root (bucket/prefix or folder) on a ``pyarrow.fs`` filesystem."""

    spool_in_memory = SPOOL_IN_MEMORY  # bytes :meth:`writing` holds in memory on S3

    def __init__(
        self,
        fs: pafs.FileSystem,
        root: str,
        uri: str,
        *,
        s3_client: Callable[[], Any] | None = None,
    ) -> None:
        """``s3_client`` makes the boto3 S3 client used for writes on S3 (called on first write,
        never at import time); pyarrow's S3 streams cannot write a single PUT with metadata."""
        self.fs = fs
        self.root = root.rstrip("/")
        self.uri = uri
        self.is_local = isinstance(fs, pafs.LocalFileSystem)
        self._s3_client_factory = s3_client
        self._s3_client: Any = None

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

            def client() -> Any:
                from functions.aws import new_session

                session = boto3_session or new_session()
                return session.client("s3", region_name=region, endpoint_url=endpoint_url)

            return cls(fs, root, uri.rstrip("/"), s3_client=client)
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
    def _read_error(self, key: str, exc: OSError) -> StorageError:
        if is_access_denied(exc) and self.is_local:
            return StorageAccessDenied(f"permission denied reading {self.display(key)}", field="key")
        if is_access_denied(exc):
            return StorageAccessDenied(
                f"access denied reading {self.display(key)}: the role lacks s3:GetObject on the "
                "key, or s3:ListBucket on the bucket (without it S3 answers 403 for a missing key)",
                field="key",
            )
        return StorageError(f"cannot read {self.display(key)}: {exc}")

    def exists(self, key: str) -> bool:
        return self.info(key) is not None

    def info(self, key: str) -> LakeFile | None:
        """The file at ``key``, None when there is none; a refusal raises ``StorageAccessDenied``."""
        try:
            fi = self.fs.get_file_info(self.path(key))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._read_error(key, exc) from exc
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
            if not is_access_denied(exc) and _is_missing(exc):
                raise FileNotFoundError(self.display(key)) from exc
            raise self._read_error(key, exc) from exc

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object and its ETag (for a later ``write_bytes(if_match=…)``); ``None`` if absent."""
        if self.is_local:
            try:
                data = self.read_bytes(key)
            except FileNotFoundError:
                return None
            return data, local_etag(data)
        bucket, _, object_key = self.path(key).partition("/")
        try:
            out = self.s3_client.get_object(Bucket=bucket, Key=object_key)
            return bytes(out["Body"].read()), str(out["ETag"]).strip('"')
        except Exception as exc:
            if not is_access_denied(exc) and _is_missing(exc):
                return None
            if is_access_denied(exc):
                raise self._read_error(key, PermissionError(str(exc))) from exc
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
            if not is_access_denied(exc) and _is_missing(exc):
                raise FileNotFoundError(self.display(key)) from exc
            raise self._read_error(key, exc) from exc
        return digest.hexdigest()

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (fewer at the end): one ranged GET on S3."""
        with self.open_input_file(key) as f:
            data = f.read_at(length, start)
        return bytes(data)

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

    @property
    def s3_client(self) -> Any:
        """The boto3 S3 client used for writes (made on first use)."""
        if self._s3_client is None:
            if self._s3_client_factory is None:
                raise StorageError(f"no S3 client configured for {self.uri}")
            self._s3_client = self._s3_client_factory()
        return self._s3_client

    def _write_error(self, key: str, exc: Exception) -> StorageError:
        if is_access_denied(exc):
            why = "the role lacks s3:PutObject there"
            if key.lstrip("/").startswith(tuple(f"{p}/" for p in RECORD_PREFIXES)):
                why += (
                    ", or the lake bucket's policy refuses it: a sampling record is created once"
                    " (If-None-Match) and never rewritten or deleted (docs/adr/0166)"
                )
            return StorageAccessDenied(f"access denied writing {self.display(key)}: {why}", field="key")
        return StorageError(f"cannot write {self.display(key)}: {exc}")

    def write_bytes(
        self,
        key: str,
        data: bytes,
        *,
        metadata: dict[str, str] | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> None:
        """Write atomically: readers see the old object or the whole new one, never a part.

        On S3 one ``PutObject`` (atomic; no temporary object, no copy, no delete, so no
        ``s3:DeleteObject`` grant and no noncurrent temporary versions); ``metadata`` becomes
        ``x-amz-meta-*``. In a folder: a temporary file renamed in place (``metadata`` ignored).

        Conditional writes (docs/adr/0126) raise :class:`WriteConflict` when they lose:
        ``if_none_match`` creates the object only if there is none (S3 ``If-None-Match: *``; a
        hard link in a folder, which fails if the name exists), ``if_match`` replaces it only if
        its ETag is still that one (S3 ``If-Match``; a compare under a lock file in a folder)."""
        if if_none_match and if_match is not None:
            raise ValueError("if_none_match and if_match exclude each other")
        if not self.is_local:
            self._put(key, data, metadata, if_none_match=if_none_match, if_match=if_match)
            return
        with (
            self._staged(key, if_none_match=if_none_match, if_match=if_match) as tmp,
            self.fs.open_output_stream(tmp, compression=None) as out,
        ):
            out.write(data)

    @contextlib.contextmanager
    def writing(
        self, key: str, *, metadata: dict[str, str] | None = None, if_none_match: bool = False
    ) -> Iterator[Any]:
        """:meth:`write_bytes` for data made in pieces: write them to the stream yielded; the
        object appears whole when the block ends, not at all if it raises. Memory stays at one
        piece whatever the size (a province-wide plan, docs/adr/0153).

        On S3 the pieces go to a :class:`Spool` (memory up to :attr:`spool_in_memory`, then an
        anonymous local temporary file) sent as one ``PutObject``: atomic, no multipart upload
        (so the grants of :meth:`write_bytes` suffice, and a bucket policy that demands
        ``If-None-Match`` can be met: multipart parts carry no condition), up to S3's 5 GB per
        PUT; nothing is sent if the block raises. In a folder a temporary file renamed (or, with
        ``if_none_match``, linked once) in place, as :meth:`write_bytes`; a lost create-once is
        :class:`WriteConflict`."""
        if not self.is_local:
            with Spool(self.spool_in_memory) as spool:
                yield spool
                self._put(key, spool.body(), metadata, if_none_match=if_none_match)
            return
        with (
            self._staged(key, if_none_match=if_none_match) as tmp,
            self.fs.open_output_stream(tmp, compression=None) as out,
        ):
            yield out

    def _put(
        self,
        key: str,
        body: Any,
        metadata: dict[str, str] | None,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> None:
        """One ``PutObject`` of ``body`` (bytes or a file), conditional as :meth:`write_bytes` says;
        a lost condition is :class:`WriteConflict`, anything else a :class:`StorageError`."""
        bucket, _, object_key = self.path(key).partition("/")
        extra: dict[str, str] = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        elif if_match is not None:
            extra["IfMatch"] = f'"{if_match.strip(chr(34))}"'
        try:
            self.s3_client.put_object(
                Bucket=bucket, Key=object_key, Body=body, Metadata=metadata or {}, **extra
            )
        except Exception as exc:  # botocore ClientError / EndpointConnectionError
            code = _s3_code(exc)
            if extra and (code in _LOST_RACE or (if_match is not None and _is_missing(exc))):
                raise WriteConflict(f"{self.display(key)} changed meanwhile", field="key") from exc
            raise self._write_error(key, exc) from exc

    @contextlib.contextmanager
    def _staged(self, key: str, *, if_none_match: bool = False, if_match: str | None = None) -> Iterator[str]:
        """In a folder, the path of a hidden temporary file (``_tmp-…``) to fill in the block; when
        the block ends it becomes ``key`` (renamed in place, linked once with ``if_none_match``, or
        renamed under the lock while the ETag is still ``if_match``), and in every other case it is
        removed: readers never see a part, and no temporary is left behind (docs/adr/0075).
        The one temporary-then-publish of every folder write."""
        final = self.path(key)
        tmp = self._tmp_path(key)
        self._ensure_parent(final)
        moved = False  # a linked temporary (create-once) keeps its name and is removed below
        try:
            yield tmp
            if if_none_match:
                self._link_once(key, tmp, final)
            elif if_match is not None:
                with self._locked(final):
                    current = self.read_tagged(key)
                    if current is None or current[1] != if_match.strip('"'):
                        raise WriteConflict(f"{self.display(key)} changed meanwhile", field="key")
                    self.fs.move(tmp, final)
                    moved = True
            else:
                self.fs.move(tmp, final)
                moved = True
        except OSError as exc:
            raise StorageError(f"cannot write {self.display(key)}: {exc}") from exc
        finally:
            if not moved:
                self._silent_delete(tmp)

    def _link_once(self, key: str, tmp: str, final: str) -> None:
        """Create-once in a folder: ``link`` fails when the name exists (``O_EXCL`` semantics)."""
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise WriteConflict(f"{self.display(key)} exists already", field="key") from None

    @contextlib.contextmanager
    def _locked(self, final: str) -> Iterator[None]:
        """An exclusive lock beside ``final`` (a hidden ``_lock-`` file) for compare-and-replace."""
        directory, name = posixpath.split(final)
        fd = os.open(f"{directory}/_lock-{name}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def write_file(self, key: str, source: str | Path, *, metadata: dict[str, str] | None = None) -> None:
        """Upload the local file ``source`` to ``key``, as atomically as ``write_bytes``.

        On S3 boto3's managed transfer: one PutObject, or a multipart upload for a large file that
        S3 shows only once complete and that is aborted on failure (never a temporary object, a
        copy or a delete; memory stays at a few parts whatever the size). In a folder: a temporary
        file renamed in place."""
        if not self.is_local:
            bucket, _, object_key = self.path(key).partition("/")
            try:
                self.s3_client.upload_file(
                    str(source), bucket, object_key, ExtraArgs={"Metadata": metadata or {}}
                )
            except Exception as exc:  # boto3 S3UploadFailedError wraps the ClientError
                raise self._write_error(key, exc) from exc
            return
        with self._staged(key) as tmp:
            shutil.copyfile(source, tmp)

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, json.dumps(obj, ensure_ascii=False, indent=2, default=str).encode("utf-8"))

    def write_parquet(self, key: str, table: pa.Table, *, compression: str = "zstd") -> None:
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf, compression=compression)
        self.write_bytes(key, buf.getvalue())

    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side copy on S3; atomic replace of the destination."""
        if self.is_local:
            with self._staged(dst_key) as tmp:
                self.fs.copy_file(self.path(src_key), tmp)
        else:
            self.fs.copy_file(self.path(src_key), self.path(dst_key))

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
