"""boto3 sessions that share one parsed copy of the AWS service models.

A new ``boto3.Session()`` brings a new botocore loader, so its first client parses the service's
JSON model again: ~0.13 CPU-s a client, where a client of a session whose loader has the model
takes ~0.01. Each session stays its own (credentials, region, events: a role's environment is
read when its session makes a client); only the loader, which holds the read-only models and
endpoint data, is shared (docs/adr/0159)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

_LOCK = threading.Lock()
_LOADER: Any = None


def _loader() -> Any:
    global _LOADER
    with _LOCK:
        if _LOADER is None:
            import botocore.session

            # as botocore makes it for a new session (AWS_DATA_PATH included), once per process
            _LOADER = botocore.session.get_session().get_component("data_loader")
        return _LOADER


def new_session(**kwargs: Any) -> boto3.Session:
    """``boto3.Session(**kwargs)`` on the process's shared loader."""
    import boto3
    import botocore.session

    loader = _loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", loader)
    session = boto3.Session(botocore_session=core, **kwargs)
    with _LOCK:  # boto3 appends its own data folder to the loader's paths at every session
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session
