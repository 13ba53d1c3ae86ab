"""A lake whose writer dies after N writes: crashes simulated by dependency injection (ADR 0140)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from functions.lake import Lake


class Crashed(BaseException):
    """The writing process died: a ``BaseException`` so no ``except Exception`` in the code under
    test can swallow it and carry on as a real crash would not."""


class CrashingLake(Lake):
    """The same lake (same filesystem, root and S3 client) whose write (``write_bytes`` or
    ``writing``) number ``after + 1`` never happens: the writer dies just before it.
    ``after=None`` never crashes and only records the keys written (to count a sequence's steps)."""

    def __init__(self, inner: Lake, after: int | None) -> None:
        self.__dict__.update(inner.__dict__)
        self.left = after
        self.written: list[str] = []

    def _next(self, key: str) -> None:
        if self.left is not None:
            if self.left <= 0:
                raise Crashed(key)
            self.left -= 1

    def write_bytes(self, key: str, data: bytes, **kwargs: Any) -> None:
        self._next(key)
        super().write_bytes(key, data, **kwargs)
        self.written.append(key)

    @contextlib.contextmanager
    def writing(self, key: str, **kwargs: Any) -> Iterator[Any]:
        self._next(key)
        with super().writing(key, **kwargs) as out:
            yield out
        self.written.append(key)
