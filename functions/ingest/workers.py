"""One pool of two worker threads for the ingest's column kernels (pyarrow.compute and numpy
release the GIL), shared by every batch: a streamed file has hundreds of batches, and starting
threads per batch cost more than some of the work (docs/adr/0084). Created on first use.

Tasks given to it must not wait for other tasks of the same pool (no nesting)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest-kernels")
        return _pool
