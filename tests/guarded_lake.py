"""A lake as a function on Athena sees it, refusing the reads it must never make (ADR 0152):
nothing of a province passes through the function, only footers and what Athena wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.lake import Lake


class GuardedLake:
    """``lake`` whose reads and downloads of a key ``refuse`` names fail the test (and are listed
    in ``refused``); everything else, and what the Athena stand-in reads, goes to ``lake``."""

    READS = ("download", "open_input_file", "open_input_stream", "read_parquet", "read_bytes", "read_tagged")

    def __init__(self, lake: Lake, refuse: Callable[[str], bool]) -> None:
        self._lake, self._refuse = lake, refuse
        self.refused: list[str] = []

    @classmethod
    def of_keys(cls, lake: Lake, *keys: str) -> GuardedLake:
        refused = set(keys)
        return cls(lake, refused.__contains__)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._lake, name)
        if name not in self.READS:
            return attr

        def guarded(key: str, *a: Any, **k: Any) -> Any:
            if self._refuse(key):
                self.refused.append(key)
                raise AssertionError(f"{key} was read by the function")
            return attr(key, *a, **k)

        return guarded
