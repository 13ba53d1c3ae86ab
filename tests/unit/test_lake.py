from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from functions.errors import StorageAccessDenied, StorageError, WriteConflict
from functions.lake import Lake, Spool, is_access_denied


def test_write_read_list_roundtrip(any_lake: Lake) -> None:
    any_lake.write_bytes("a/b/one.txt", b"1")
    any_lake.write_json("a/two.json", {"x": "统一"})
    any_lake.write_parquet("a/c/t.parquet", pa.table({"n": [1, 2]}))
    assert any_lake.read_bytes("a/b/one.txt") == b"1"
    assert any_lake.read_json("a/two.json") == {"x": "统一"}
    assert any_lake.read_parquet("a/c/t.parquet").column("n").to_pylist() == [1, 2]
    assert [f.key for f in any_lake.list_files("a")] == ["a/b/one.txt", "a/c/t.parquet", "a/two.json"]
    assert any_lake.exists("a/b/one.txt") and not any_lake.exists("a/b/none.txt")


def test_a_range_is_read_without_the_rest(any_lake: Lake) -> None:
    any_lake.write_bytes("r/plan.json", "0123456789统一".encode())
    assert any_lake.read_range("r/plan.json", 3, 4) == b"3456"
    assert any_lake.read_range("r/plan.json", 10, 100) == "统一".encode()  # fewer at the end
    with pytest.raises(FileNotFoundError):
        any_lake.read_range("r/none.json", 0, 1)


def test_no_temporary_objects_remain(any_lake: Lake) -> None:
    any_lake.write_bytes("x/y.bin", b"abc")
    assert [f.key for f in any_lake.list_files("x", include_hidden=True)] == ["x/y.bin"]


def test_copy_replaces_atomically(any_lake: Lake) -> None:
    any_lake.write_bytes("src.bin", b"new")
    any_lake.write_bytes("dst/obj.bin", b"old")
    any_lake.copy("src.bin", "dst/obj.bin")
    assert any_lake.read_bytes("dst/obj.bin") == b"new"


def test_missing_object_raises_file_not_found(any_lake: Lake) -> None:
    with pytest.raises(FileNotFoundError):
        any_lake.read_bytes("nope/missing.json")


def test_list_dirs_gives_partition_values(any_lake: Lake) -> None:
    any_lake.write_bytes("r/month=2026-01/p.bin", b"")
    any_lake.write_bytes("r/month=2026-02/p.bin", b"")
    assert any_lake.list_dirs("r") == ["month=2026-01", "month=2026-02"]


def test_bucketless_uri_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="no bucket"):
        Lake.from_uri("s3://")


# -- write pattern (issue 12 #5, docs/adr/0075) --------------------------------------------------
def test_s3_write_is_one_put_with_metadata_and_no_copy_or_delete(
    s3_lake: Lake, s3_bucket: str, boto3_session: boto3.Session, moto_endpoint: str, moto_requests: Any
) -> None:
    s3_lake.write_bytes("archive/42/x.csv", b"a,b\n1,2\n", metadata={"sha256": "ab12", "source-key": "k%20y"})
    requests = moto_requests()
    assert requests == [("PUT", f"/{s3_bucket}/lake/archive/42/x.csv")]
    s3 = boto3_session.client("s3", endpoint_url=moto_endpoint)
    head = s3.head_object(Bucket=s3_bucket, Key="lake/archive/42/x.csv")
    assert head["Metadata"] == {"sha256": "ab12", "source-key": "k%20y"}
    listed = s3.list_object_versions(Bucket=s3_bucket, Prefix="lake/")
    assert [v["Key"] for v in listed.get("Versions", [])] == ["lake/archive/42/x.csv"]


def test_s3_json_and_parquet_writes_are_single_puts(
    s3_lake: Lake, s3_bucket: str, moto_requests: Any
) -> None:
    s3_lake.write_json("results/a.json", {"n": 1})
    s3_lake.write_parquet("curated/t.parquet", pa.table({"n": [1]}))
    assert moto_requests() == [
        ("PUT", f"/{s3_bucket}/lake/results/a.json"),
        ("PUT", f"/{s3_bucket}/lake/curated/t.parquet"),
    ]
    assert s3_lake.read_parquet("curated/t.parquet").column("n").to_pylist() == [1]


def test_local_write_goes_through_a_temporary_file_renamed_in_place(local_lake: Lake) -> None:
    """A folder write is still atomic: the data lands under a hidden ``_tmp-`` name first."""
    seen: list[tuple[str, str]] = []
    fs = local_lake.fs

    real_move = fs.move

    def move(src: str, dst: str) -> None:
        seen.append((src.rsplit("/", 1)[-1], dst.rsplit("/", 1)[-1]))
        assert Path(src).read_bytes() == b"payload"  # whole before it becomes visible
        real_move(src, dst)

    recording = Lake(_MoveSpy(fs, move), local_lake.root, local_lake.uri)
    recording.is_local = True
    recording.write_bytes("d/obj.bin", b"payload")
    assert len(seen) == 1 and seen[0][0].startswith("_tmp-") and seen[0][1] == "obj.bin"
    assert local_lake.read_bytes("d/obj.bin") == b"payload"
    assert [f.key for f in local_lake.list_files("d", include_hidden=True)] == ["d/obj.bin"]


class _MoveSpy:
    """A filesystem that delegates everything and reports ``move``."""

    def __init__(self, fs: Any, move: Any) -> None:
        self._fs, self.move = fs, move

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)


# -- 404 vs 403 (issue 12 #4) ----------------------------------------------------------------------
def test_missing_key_on_s3_is_none_not_an_error(s3_lake: Lake) -> None:
    assert s3_lake.info("incoming/42/penalties/gone.csv") is None
    assert not s3_lake.exists("incoming/42/penalties/gone.csv")
    with pytest.raises(FileNotFoundError):
        s3_lake.read_bytes("incoming/42/penalties/gone.csv")


def test_refused_key_on_s3_is_access_denied_not_missing(s3_denied_lake: Lake) -> None:
    """S3's 403 (e.g. no s3:ListBucket and the key is missing) must never read as "gone"."""
    for read in (s3_denied_lake.info, s3_denied_lake.exists, s3_denied_lake.read_bytes):
        with pytest.raises(StorageAccessDenied, match="s3:ListBucket") as caught:
            read("incoming/42/penalties/x.csv")
        assert not isinstance(caught.value, FileNotFoundError)
        assert caught.value.code == "storage_access_denied"
    with pytest.raises(StorageAccessDenied, match="s3:PutObject"):
        s3_denied_lake.write_bytes("archive/42/x.csv", b"1")


_PYARROW_HEAD = (
    "When getting information for key 'k' in bucket 'b': AWS Error {} during HeadObject operation: {}"
)


@pytest.mark.parametrize(
    ("error", "denied"),
    [
        (OSError(_PYARROW_HEAD.format("ACCESS_DENIED", "No response body.")), True),
        (OSError(_PYARROW_HEAD.format("NETWORK_CONNECTION", "curlCode: 7")), False),
        (OSError("key 'incoming/42/forbidden (403).csv': AWS Error NETWORK_CONNECTION: curlCode: 7"), False),
        (ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject"), True),
        (ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"), True),
        (ClientError({"Error": {"Code": "SlowDown", "Message": "Slow down"}}, "PutObject"), False),
        (PermissionError(13, "Permission denied"), True),
        (FileNotFoundError("Path does not exist 'b/k'"), False),
    ],
)
def test_is_access_denied_reads_the_real_error_shapes(error: Exception, denied: bool) -> None:
    assert is_access_denied(error) is denied


def test_download_hashes_and_write_file_uploads_in_parts(any_lake: Lake, tmp_path: Path) -> None:
    """Big enough for several blocks and S3 parts; content and digest survive the round trip."""
    data = os.urandom(3 << 20) * 4  # 12 MiB
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    any_lake.write_file("big/obj.bin", src, metadata={"sha256": "x"})
    assert [f.key for f in any_lake.list_files("big", include_hidden=True)] == ["big/obj.bin"]
    dest = tmp_path / "dest.bin"
    assert any_lake.download("big/obj.bin", dest) == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == data
    assert any_lake.download("big/obj.bin", None) == hashlib.sha256(data).hexdigest()  # hash only


def test_download_of_a_missing_object_fails_clearly(any_lake: Lake, tmp_path: Path) -> None:
    with pytest.raises((FileNotFoundError, StorageError)):
        any_lake.download("nope/missing.bin", tmp_path / "x")


def test_write_file_keeps_object_metadata_on_s3_and_neither_copies_nor_deletes(
    s3_lake: Lake,
    s3_bucket: str,
    boto3_session: boto3.Session,
    moto_endpoint: str,
    moto_requests: Any,
    tmp_path: Path,
) -> None:
    """The archive's ``sha256`` metadata travels with an uploaded file as with bytes (boto3's
    transfer, not pyarrow's stream, which drops user metadata: apache/arrow#45857), and the
    upload is one PUT: no temporary object, copy or delete (docs/adr/0075)."""
    src = tmp_path / "a.csv"
    src.write_bytes(b"x,y\n1,2\n")
    s3_lake.write_file("archive/a.csv", src, metadata={"sha256": "abc", "source-key": "incoming%2Fa.csv"})
    assert moto_requests() == [("PUT", f"/{s3_bucket}/lake/archive/a.csv")]
    head = boto3_session.client("s3", endpoint_url=moto_endpoint).head_object(
        Bucket=s3_bucket, Key="lake/archive/a.csv"
    )
    assert head["Metadata"] == {"sha256": "abc", "source-key": "incoming%2Fa.csv"}


def test_create_once_writes_lose_with_a_conflict(any_lake: Lake) -> None:
    """``If-None-Match: *`` on S3, a hard link locally: the second create of a key fails (ADR 0126)."""
    any_lake.write_bytes("audit/x.json", b"first", if_none_match=True)
    with pytest.raises(WriteConflict):
        any_lake.write_bytes("audit/x.json", b"second", if_none_match=True)
    assert any_lake.read_bytes("audit/x.json") == b"first"
    assert [f.key for f in any_lake.list_files("audit")] == ["audit/x.json"]  # no temporary left


def test_if_match_replaces_only_the_version_read(any_lake: Lake) -> None:
    any_lake.write_bytes("audit/head.json", b"v1")
    found = any_lake.read_tagged("audit/head.json")
    assert found is not None and found[0] == b"v1"
    any_lake.write_bytes("audit/head.json", b"v2", if_match=found[1])
    with pytest.raises(WriteConflict):  # a stale ETag: somebody replaced it meanwhile
        any_lake.write_bytes("audit/head.json", b"v3", if_match=found[1])
    with pytest.raises(WriteConflict):  # If-Match on a key that is not there (S3: 404)
        any_lake.write_bytes("audit/none.json", b"v1", if_match=found[1])
    assert any_lake.read_bytes("audit/head.json") == b"v2"
    assert any_lake.read_tagged("audit/none.json") is None
    assert [f.key for f in any_lake.list_files("audit")] == ["audit/head.json"]


def test_s3_conditional_writes_send_the_documented_headers(s3_lake: Lake) -> None:
    """S3 takes ``If-None-Match`` only as ``*`` and ``If-Match`` as an ETag (quoted)."""
    sent: list[dict[str, str]] = []

    def keep(request: Any, **_: Any) -> None:
        sent.append({k: v.decode() if isinstance(v, bytes) else v
                     for k, v in request.headers.items() if k.startswith("If-")})  # fmt: skip

    s3_lake.s3_client.meta.events.register("before-send.s3.PutObject", keep)
    s3_lake.write_bytes("a.json", b"1", if_none_match=True)
    etag = s3_lake.read_tagged("a.json")
    assert etag is not None and etag[1] == hashlib.md5(b"1").hexdigest()
    s3_lake.write_bytes("a.json", b"2", if_match=etag[1])
    assert sent == [{"If-None-Match": "*"}, {"If-Match": f'"{etag[1]}"'}]
    with pytest.raises(ValueError, match="exclude"):
        s3_lake.write_bytes("a.json", b"3", if_none_match=True, if_match=etag[1])


# -- writing in pieces (docs/adr/0153) ------------------------------------------------------------
def test_s3_writing_in_pieces_is_one_put_of_the_whole(
    s3_lake: Lake, s3_bucket: str, boto3_session: boto3.Session, moto_endpoint: str, moto_requests: Any
) -> None:
    """No multipart upload (its abort needs a grant the API role has not), no copy, no delete."""
    with s3_lake.writing("plans/42/p.json", metadata={"Content-Type": "application/json"}) as out:
        for piece in (b"[", memoryview(b'"a","b"')[1:-1], b"]"):
            out.write(piece)
    assert moto_requests() == [("PUT", f"/{s3_bucket}/lake/plans/42/p.json")]
    assert s3_lake.read_bytes("plans/42/p.json") == b'[a","b]'
    s3 = boto3_session.client("s3", endpoint_url=moto_endpoint)
    head = s3.head_object(Bucket=s3_bucket, Key="lake/plans/42/p.json")
    assert head["Metadata"] == {"content-type": "application/json"}


def test_create_once_writing_in_pieces_loses_with_a_conflict(any_lake: Lake) -> None:
    """A plan is written in pieces and create-once (ADR 0166): the second writer of a key gets
    :class:`WriteConflict`, the first object stays whole and no temporary is left."""
    with any_lake.writing("plans/42/p.json", if_none_match=True) as out:
        out.write(b"first")
    with pytest.raises(WriteConflict), any_lake.writing("plans/42/p.json", if_none_match=True) as out:
        out.write(b"second")
    assert any_lake.read_bytes("plans/42/p.json") == b"first"
    assert [f.key for f in any_lake.list_files("plans/42", include_hidden=True)] == ["plans/42/p.json"]


def test_s3_create_once_writing_sends_if_none_match(s3_lake: Lake) -> None:
    """What the lake bucket's policy demands under ``plans/`` (infra/platform.py)."""
    sent: list[dict[str, str]] = []

    def keep(request: Any, **_: Any) -> None:
        sent.append({k: v.decode() if isinstance(v, bytes) else v
                     for k, v in request.headers.items() if k.startswith("If-")})  # fmt: skip

    s3_lake.s3_client.meta.events.register("before-send.s3.PutObject", keep)
    with s3_lake.writing("plans/42/p.json", if_none_match=True) as out:
        out.write(b"{}")
    with s3_lake.writing("plans/42/q.json") as out:
        out.write(b"{}")
    assert sent == [{"If-None-Match": "*"}, {}]


def test_spool_keeps_small_objects_in_memory_and_spills_large_ones() -> None:
    """A plan up to the limit is sent from memory; past it, everything written so far and the
    rest go to a temporary file, and the body is the same bytes either way."""
    pieces: list[bytes | memoryview] = [b"abc", memoryview(b"xdefx")[1:-1], b"ghij"]
    for limit, spills in ((100, False), (8, True), (0, True)):
        with Spool(limit) as spool:
            for piece in pieces:
                spool.write(piece)
            assert spool.on_disk is spills
            assert spool.body().read() == b"abcdefghij"


def test_s3_writing_past_the_spool_limit_is_one_put(s3_lake: Lake, moto_requests: Any) -> None:
    s3_lake.spool_in_memory = 4
    with s3_lake.writing("plans/42/big.json") as out:
        for piece in (b"[1,", b"2,3,", b"4]"):
            out.write(piece)
        assert out.on_disk
    assert [m for m, _ in moto_requests()] == ["PUT"]
    assert s3_lake.read_bytes("plans/42/big.json") == b"[1,2,3,4]"


def test_writing_that_fails_midway_leaves_nothing(any_lake: Lake) -> None:
    with pytest.raises(RuntimeError, match="died"), any_lake.writing("d/half.json") as out:
        out.write(b'{"a":')
        raise RuntimeError("died")
    assert not any_lake.exists("d/half.json")
    assert [f.key for f in any_lake.list_files("d", include_hidden=True)] == []


def test_local_writing_renames_a_temporary_file_in_place(local_lake: Lake) -> None:
    seen: list[str] = []
    real_move = local_lake.fs.move

    def move(src: str, dst: str) -> None:
        seen.append(src.rsplit("/", 1)[-1])
        assert Path(src).read_bytes() == b"onetwo"  # whole before it becomes visible
        real_move(src, dst)

    recording = Lake(_MoveSpy(local_lake.fs, move), local_lake.root, local_lake.uri)
    recording.is_local = True
    with recording.writing("d/obj.bin") as out:
        out.write(b"one")
        out.write(b"two")
    assert len(seen) == 1 and seen[0].startswith("_tmp-")
    assert local_lake.read_bytes("d/obj.bin") == b"onetwo"


# -- one temporary-then-publish for every folder write ------------------------------------------
class _Died(BaseException):
    """A crash (not an ``Exception``): nothing may swallow it, the temporary must still go."""


def _no_temporaries(lake: Lake, prefix: str) -> list[str]:
    return [f.key for f in lake.list_files(prefix, include_hidden=True)]


def test_local_writing_interrupted_leaves_no_file_and_no_temporary(local_lake: Lake) -> None:
    """The old object stays whole, the new one never appears, and no ``_tmp-`` file is left:
    for an error in the block, a crash, and a move that fails (the publish step itself)."""
    local_lake.write_bytes("d/obj.json", b"old")
    with pytest.raises(_Died), local_lake.writing("d/obj.json") as out:
        out.write(b'{"half":')
        raise _Died
    with pytest.raises(_Died), local_lake.writing("d/new.json") as out:
        out.write(b"half")
        raise _Died
    failing = Lake(_MoveSpy(local_lake.fs, _refuse_move), local_lake.root, local_lake.uri)
    failing.is_local = True
    with (
        pytest.raises(StorageError, match=r"cannot write .*d/new\.json"),
        failing.writing("d/new.json") as out,
    ):
        out.write(b"whole")
    with pytest.raises(StorageError, match=r"cannot write .*d/obj\.json"):
        failing.write_bytes("d/obj.json", b"new")
    assert local_lake.read_bytes("d/obj.json") == b"old"
    assert _no_temporaries(local_lake, "d") == ["d/obj.json"]


def _refuse_move(src: str, dst: str) -> None:
    raise OSError(28, "No space left on device")


def test_local_write_file_and_copy_that_fail_leave_no_temporary(local_lake: Lake, tmp_path: Path) -> None:
    """The same temporary-then-publish serves uploads and copies: a source that cannot be read
    is a clear ``StorageError`` naming the destination, and nothing is left behind."""
    with pytest.raises(StorageError, match=r"cannot write .*up/a\.csv"):
        local_lake.write_file("up/a.csv", tmp_path / "missing.csv")
    with pytest.raises(StorageError, match=r"cannot write .*up/b\.bin"):
        local_lake.copy("nowhere.bin", "up/b.bin")
    assert _no_temporaries(local_lake, "up") == []
    src = tmp_path / "a.csv"
    src.write_bytes(b"x\n1\n")
    local_lake.write_file("up/a.csv", src)
    local_lake.copy("up/a.csv", "up/b.bin")
    assert local_lake.read_bytes("up/b.bin") == b"x\n1\n"
    assert _no_temporaries(local_lake, "up") == ["up/a.csv", "up/b.bin"]


def test_local_create_once_that_loses_leaves_no_temporary(local_lake: Lake) -> None:
    """A linked temporary keeps its name after the link: it is removed whether the link wins or
    loses, and a lost compare-and-replace removes its temporary too."""
    local_lake.write_bytes("a/once.json", b"1", if_none_match=True)
    with pytest.raises(WriteConflict):
        local_lake.write_bytes("a/once.json", b"2", if_none_match=True)
    with pytest.raises(WriteConflict):
        local_lake.write_bytes("a/once.json", b"3", if_match="0" * 32)
    assert local_lake.read_bytes("a/once.json") == b"1"
    assert [f.key for f in local_lake.list_files("a", include_hidden=True) if "_tmp-" in f.key] == []


def test_s3_writing_interrupted_sends_nothing(s3_lake: Lake, moto_requests: Any) -> None:
    """On S3 the pieces are spooled locally: a block that raises never reaches S3, so there is no
    partial object (and no multipart upload left to abort)."""
    with pytest.raises(_Died), s3_lake.writing("plans/42/half.json") as out:
        out.write(b'{"half":')
        raise _Died
    assert moto_requests() == []
    assert not s3_lake.exists("plans/42/half.json")


def test_s3_writing_refused_is_access_denied(s3_denied_lake: Lake) -> None:
    with (
        pytest.raises(StorageAccessDenied, match="s3:PutObject"),
        s3_denied_lake.writing("plans/x.json") as out,
    ):
        out.write(b"{}")
