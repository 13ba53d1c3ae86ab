"""The follow-up queue's thin I/O (docs/adr/0144): send a message to SQS, read the messages of an
SQS event. The domain (``followup``) sees only ``FollowUpMessage`` and a delivery count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from functions.errors import InvalidInput
from schemas.objections import FollowUpMessage

if TYPE_CHECKING:
    from functions.settings import Settings


class SqsSender:
    """Sends to the follow-up queue; the client is made on first send, not at import time."""

    def __init__(self, settings: Settings, queue_url: str, boto3_session: Any = None) -> None:
        self._settings, self._url, self._session = settings, queue_url, boto3_session
        self._client: Any = None

    def send(self, body: str) -> str:
        if self._client is None:
            self._client = self._settings.aws_client("sqs", self._session)
        answer = self._client.send_message(QueueUrl=self._url, MessageBody=body)
        return str(answer["MessageId"])


def sender_from_settings(settings: Settings, *, boto3_session: Any = None) -> SqsSender | None:
    """The queue's sender, or None when no queue is configured (folder lake, ``chalice local``)."""
    if not settings.correction_queue_url:
        return None
    return SqsSender(settings, settings.correction_queue_url, boto3_session)


@dataclass(frozen=True)
class Delivery:
    message_id: str
    attempt: int  # SQS ApproximateReceiveCount: 1 on the first delivery
    message: FollowUpMessage


def deliveries(event: dict[str, Any]) -> list[Delivery]:
    """The messages of an SQS event. A body that is not a follow-up message is an error, so that
    the message is retried and then kept in the dead-letter queue rather than dropped."""
    out = []
    for record in event.get("Records", []):
        try:
            message = FollowUpMessage.model_validate_json(record["body"])
        except ValidationError as exc:
            raise InvalidInput(
                f"SQS message {record.get('messageId')} is not an objection follow-up", field="body"
            ) from exc
        count = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        out.append(Delivery(str(record.get("messageId", "")), max(count, 1), message))
    return out
