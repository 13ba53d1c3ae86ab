"""Per-province ingest-outcome notifications (issue 13, docs/adr/0088): CloudFormation resources
for ``infra/platform.yaml``, merged in by ``infra.platform.build_template``.

The ingest function puts one event per outcome on the account's default EventBridge bus
(``functions/uploads/notify.py``: source ``creditrisk.ingest``, the public view as detail). Per
province: a rule matching ``detail.province`` forwards it to that province's SNS topic; the topic
policy lets only that rule publish and only that province's uploader role subscribe; the role
gets ``sns:Subscribe`` on its own topic alone. The topics are encrypted with their own key,
which EventBridge (the publisher) and SNS may use: the data key stays S3-only.
"""

from __future__ import annotations

from typing import Any

from functions.layout import PROVINCES
from infra.cfn import account_administers_key, getatt, province_topic, ref, service_uses_key, sub
from schemas.uploads import EVENT_DETAIL_TYPE, EVENT_SOURCE

APP = "creditrisk"
Json = dict[str, Any]
SUBSCRIBE_PROTOCOLS = ["https", "sqs"]  # machine-to-machine only: no e-mail to any address


def topic_logical(province: str) -> str:
    return f"UploadOutcomes{province}"


def event_pattern(province: str) -> Json:
    """The rule's pattern: this province's ingest outcomes only (tests replay it on EventBridge)."""
    return {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE], "detail": {"province": [province]}}


def notify_key() -> Json:
    return {
        "Type": "AWS::KMS::Key",
        "Properties": {
            "Description": "creditrisk upload-outcome topics (EventBridge publishes, SNS delivers)",
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    account_administers_key(),
                    service_uses_key(
                        "EventBridgePublishesToEncryptedTopics",
                        "events.amazonaws.com",
                        ["kms:GenerateDataKey*", "kms:Decrypt"],
                    ),
                ],
            },
        },
    }


def province_resources(province: str) -> Json:
    topic = topic_logical(province)
    uploader_arn = getatt(f"Uploader{province}", "Arn")
    return {
        **province_topic(
            topic,
            name=f"{APP}-${{Stage}}-uploads-{province}",
            display=f"creditrisk upload outcomes {province}",
            description=f"Ingest outcomes of province {province} to its topic",
            pattern=event_pattern(province),
            subscriber_sid="TheProvinceUploaderSubscribes",
            subscriber_arn=uploader_arn,
        ),
        f"Uploader{province}Notifications": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "subscribe-own-province-outcomes",
                "Roles": [ref(f"Uploader{province}")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "SubscribeOwnProvinceOutcomes",
                            "Effect": "Allow",
                            "Action": "sns:Subscribe",
                            "Resource": ref(topic),
                            "Condition": {"StringEquals": {"sns:Protocol": SUBSCRIBE_PROTOCOLS}},
                        },
                        {
                            # sns:Protocol is only present on Subscribe (parliament checks)
                            "Sid": "ReadOwnProvinceTopic",
                            "Effect": "Allow",
                            "Action": "sns:GetTopicAttributes",
                            "Resource": ref(topic),
                        },
                    ],
                },
            },
        },
    }


def resources() -> Json:
    out: Json = {"UploadOutcomesKey": notify_key()}
    for p in sorted(PROVINCES):
        out.update(province_resources(p))
    return out


def outputs() -> Json:
    """Each province's topic ARN, for the province's engineers to subscribe to."""
    return {
        f"{topic_logical(p)}TopicArn": {
            "Description": f"SNS topic of province {p}'s ingest outcomes (only its uploader role subscribes)",
            "Value": ref(topic_logical(p)),
            "Export": {"Name": sub(f"{APP}-${{Stage}}-UploadOutcomes{p}TopicArn")},
        }
        for p in sorted(PROVINCES)
    }
