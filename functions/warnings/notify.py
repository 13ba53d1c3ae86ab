"""Telling someone that inspection tasks were raised: SNS in AWS, a JSON-lines file locally.

The message carries counts and where the task partition is, never evidence or personal data;
the partition is the source of truth (a failed notification loses nothing, docs/adr/0064).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import boto3

    from functions.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskBatch:
    month: str
    province: str
    run_id: str
    trigger: str
    tasks_key: str
    count: int
    by_rule: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)

    def message(self) -> str:
        return json.dumps(
            {"type": "creditrisk.inspection_tasks", **asdict(self)}, ensure_ascii=False, sort_keys=True
        )


class Notifier(Protocol):
    def notify(self, batch: TaskBatch) -> None: ...


class NoopNotifier:
    def notify(self, batch: TaskBatch) -> None:
        logger.debug("no notifier configured; %s tasks in %s", batch.count, batch.tasks_key)


class LocalFileNotifier:
    """Appends one JSON line per batch (``make demo``, operators without AWS)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def notify(self, batch: TaskBatch) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(batch.message() + "\n")


class SnsNotifier:
    """Publishes one message per batch; the client is injected (never created at import)."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def notify(self, batch: TaskBatch) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=f"creditrisk: {batch.count} inspection tasks {batch.province} {batch.month}",
            Message=batch.message(),
            MessageAttributes={
                "province": {"DataType": "String", "StringValue": batch.province},
                "month": {"DataType": "String", "StringValue": batch.month},
                "trigger": {"DataType": "String", "StringValue": batch.trigger},
            },
        )


def notifier_from_settings(settings: Settings, *, boto3_session: boto3.Session | None = None) -> Notifier:
    """SNS when a topic is configured, else a local file when one is, else nothing."""
    if settings.warnings_sns_topic_arn:
        return SnsNotifier(settings.aws_client("sns", boto3_session), settings.warnings_sns_topic_arn)
    if settings.warnings_notify_file:
        return LocalFileNotifier(settings.warnings_notify_file)
    return NoopNotifier()
