"""Per-province delivery of the monthly export (名录库对接, issue 14, docs/adr/0122): CloudFormation
resources for ``infra/platform.yaml``, merged in by ``infra.platform.build_template``.

Per province: a platform role that may read ``delivery/<PP>/`` of the lake bucket and nothing
else (listing only under that prefix, the data key only through S3); a rule matching the
export's event (source ``creditrisk.delivery``, ``detail.province``) that forwards it to the
province's delivery topic; the topic policy lets only that rule publish and only that role
subscribe. The topics use the upload-outcome topics' key (EventBridge may use it; ADR 0088).
"""

from __future__ import annotations

from typing import Any

from functions.layout import DELIVERY_PREFIX, PROVINCES
from infra.cfn import getatt, province_topic, ref, sub
from schemas.delivery import EXPORT_EVENT_DETAIL_TYPE, EXPORT_EVENT_SOURCE

APP = "creditrisk"
Json = dict[str, Any]
SUBSCRIBE_PROTOCOLS = ["https", "sqs"]


def role_logical(province: str) -> str:
    return f"Platform{province}"


def topic_logical(province: str) -> str:
    return f"Delivery{province}"


def event_pattern(province: str) -> Json:
    """This province's export announcements only (tests replay it)."""
    return {
        "source": [EXPORT_EVENT_SOURCE],
        "detail-type": [EXPORT_EVENT_DETAIL_TYPE],
        "detail": {"province": [province]},
    }


def platform_role(province: str, trust: Json, kms_via_s3: Json) -> Json:
    """Read-only on the province's delivery prefix; subscribe to its own announcements."""
    prefix = f"{DELIVERY_PREFIX}/{province}/"
    topic = ref(topic_logical(province))
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub(f"{APP}-${{Stage}}-platform-{province}"),
            "Description": f"Province {province}'s inspection platform reads {prefix} of the lake bucket",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": trust,
            "Policies": [
                {
                    "PolicyName": "read-own-province-delivery-only",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ReadOwnProvinceDelivery",
                                "Effect": "Allow",
                                "Action": "s3:GetObject",
                                "Resource": sub(f"${{LakeBucket.Arn}}/{prefix}*"),
                            },
                            {
                                "Sid": "ListOwnProvinceDelivery",
                                "Effect": "Allow",
                                "Action": "s3:ListBucket",
                                "Resource": getatt("LakeBucket", "Arn"),
                                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
                            },
                            kms_via_s3,
                            {
                                "Sid": "SubscribeOwnProvinceDeliveries",
                                "Effect": "Allow",
                                "Action": "sns:Subscribe",
                                "Resource": topic,
                                "Condition": {"StringEquals": {"sns:Protocol": SUBSCRIBE_PROTOCOLS}},
                            },
                            {
                                "Sid": "ReadOwnProvinceTopic",
                                "Effect": "Allow",
                                "Action": "sns:GetTopicAttributes",
                                "Resource": topic,
                            },
                            {
                                "Sid": "NeverWriteOrDelete",
                                "Effect": "Deny",
                                "Action": ["s3:PutObject*", "s3:DeleteObject*", "s3:PutBucket*"],
                                "Resource": "*",
                            },
                        ],
                    },
                }
            ],
        },
    }


def province_resources(province: str, trust: Json, kms_via_s3: Json) -> Json:
    role, topic = role_logical(province), topic_logical(province)
    role_arn = getatt(role, "Arn")
    return {
        role: platform_role(province, trust, kms_via_s3),
        **province_topic(
            topic,
            name=f"{APP}-${{Stage}}-delivery-{province}",
            display=f"creditrisk monthly export {province}",
            description=f"Monthly export announcements of province {province} to its topic",
            pattern=event_pattern(province),
            subscriber_sid="TheProvincePlatformSubscribes",
            subscriber_arn=role_arn,
        ),
    }


def resources(trust: Json, kms_via_s3: Json) -> Json:
    out: Json = {}
    for p in sorted(PROVINCES):
        out.update(province_resources(p, trust, kms_via_s3))
    return out


def outputs() -> Json:
    """Each province's platform role and topic, for the province's engineers."""
    out: Json = {}
    for p in sorted(PROVINCES):
        out[f"{role_logical(p)}RoleArn"] = {
            "Description": f"Role province {p}'s inspection platform assumes to read delivery/{p}/",
            "Value": getatt(role_logical(p), "Arn"),
            "Export": {"Name": sub(f"{APP}-${{Stage}}-{role_logical(p)}RoleArn")},
        }
        out[f"{topic_logical(p)}TopicArn"] = {
            "Description": f"SNS topic of province {p}'s monthly export (only its platform role subscribes)",
            "Value": ref(topic_logical(p)),
            "Export": {"Name": sub(f"{APP}-${{Stage}}-{topic_logical(p)}TopicArn")},
        }
    return out
