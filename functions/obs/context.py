"""Correlation ids on every log record of a request (issue 12, docs/adr/0076).

A handler opens ``log_context(ingest_id=…)``/``run_id``/``plan_id`` (or a function ``bind``-s
an id once it knows it); ``install`` puts ``ContextFilter`` on the root handlers once, so every
record emitted while the context is open carries the ids as attributes. Lambda's JSON log
format emits such attributes as JSON keys, so operators can filter one upload or one run in
CloudWatch Logs Insights.

Ids are opaque digests or codes (never personal data). Context variables do not follow work
handed to a ``ThreadPoolExecutor``; the few lines logged from worker threads lack the ids.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# the only keys a context may carry: ids and codes, never personal data
KEYS = (
    "ingest_id",
    "source_key",
    "run_id",
    "month",
    "province",
    "plan_id",
    "redrive_id",
    "task_id",
    "objection_id",
    "message_id",
)
_EMPTY: Mapping[str, str] = MappingProxyType({})
_IDS: ContextVar[Mapping[str, str]] = ContextVar("creditrisk_log_ids", default=_EMPTY)


def current() -> Mapping[str, str]:
    """The ids of the current context (read-only)."""
    return _IDS.get()


def _checked(ids: Mapping[str, object]) -> dict[str, str]:
    unknown = sorted(set(ids) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown log context keys {unknown}; allowed: {KEYS}")
    return {k: str(v) for k, v in ids.items() if v is not None}


@contextmanager
def log_context(**ids: object) -> Iterator[Mapping[str, str]]:
    """Add ``ids`` to every record logged inside the block (nested blocks add to the outer)."""
    token = _IDS.set(MappingProxyType({**_IDS.get(), **_checked(ids)}))
    try:
        yield _IDS.get()
    finally:
        _IDS.reset(token)


def bind(**ids: object) -> None:
    """Add ``ids`` to the current context until the enclosing ``log_context`` ends (for an id
    known only half-way through a function, such as the ingest_id after hashing)."""
    _IDS.set(MappingProxyType({**_IDS.get(), **_checked(ids)}))


def scoped(fn: Callable[P, R]) -> Callable[P, R]:
    """Ids ``bind``-ed inside ``fn`` end when it returns (one ingest or run of a loop never
    lends its id to the next)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with log_context():
            return fn(*args, **kwargs)

    return wrapper


class ContextFilter(logging.Filter):
    """Adds the current ids to each record a handler emits (an explicit ``extra`` wins).

    A handler filter, not a logger filter (those do not see records of ``functions.x.y``
    propagating to the root handler) nor a record factory (that would make ``extra`` with the
    same key raise ``KeyError``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _IDS.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_FILTER = ContextFilter()


def install(handlers: list[logging.Handler] | None = None) -> None:
    """Put the filter on ``handlers`` (default: the root logger's, where Lambda's runtime has
    put its log handler before it imports the app); idempotent."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def uninstall(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        handler.removeFilter(_FILTER)


def in_lambda(environ: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get("AWS_LAMBDA_FUNCTION_NAME"))


def configure_logging(environ: Mapping[str, str] | None = None) -> None:
    """The app's logging wiring: ids on every record; in Lambda, ``functions.*`` log at INFO
    (``CREDITRISK_LOG_LEVEL`` overrides) instead of inheriting Lambda's WARNING. Locally the
    levels stay as they are (the CLI and tests choose their own)."""
    env = os.environ if environ is None else environ
    install()
    if in_lambda(env):
        logging.getLogger("functions").setLevel(env.get("CREDITRISK_LOG_LEVEL", "INFO").upper())
