"""What every generated CloudFormation template shares: intrinsic functions, a YAML dump without
anchors, and the ``python -m infra.<template> [--check]`` entry point that keeps the committed
file equal to what the generator makes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def ref(name: str) -> Json:
    return {"Ref": name}


def getatt(name: str, attr: str) -> Json:
    return {"Fn::GetAtt": [name, attr]}


def account_administers_key() -> Json:
    """The key-policy statement that lets the account's IAM policies govern the key (AWS default)."""
    return {
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
        "Action": "kms:*",
        "Resource": "*",
    }


def service_uses_key(sid: str, service: str, actions: list[str]) -> Json:
    """A key-policy statement for an AWS service acting for this account only (confused deputy)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": actions,
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
    }


class _NoAliasDumper(yaml.SafeDumper):
    """CloudFormation rejects YAML anchors/aliases; repeat shared fragments instead."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def province_topic(
    topic: str,
    *,
    name: str,
    display: str,
    description: str,
    pattern: Json,
    subscriber_sid: str,
    subscriber_arn: Json,
) -> Json:
    """A province's own encrypted topic, the EventBridge rule that alone publishes to it and the
    topic policy that lets only the province's role subscribe (upload outcomes, monthly exports)."""
    rule = f"{topic}Rule"
    return {
        topic: {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub(name),
                "DisplayName": display,
                "KmsMasterKeyId": getatt("UploadOutcomesKey", "Arn"),
            },
        },
        rule: {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": description,
                "EventBusName": "default",
                "EventPattern": pattern,
                "State": "ENABLED",
                "Targets": [{"Id": "province-topic", "Arn": ref(topic)}],
            },
        },
        f"{topic}Policy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [ref(topic)],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "OnlyTheProvinceRulePublishes",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": ref(topic),
                            "Condition": {"ArnEquals": {"aws:SourceArn": getatt(rule, "Arn")}},
                        },
                        {
                            "Sid": subscriber_sid,
                            "Effect": "Allow",
                            "Principal": {"AWS": subscriber_arn},
                            "Action": ["sns:Subscribe", "sns:GetTopicAttributes"],
                            "Resource": ref(topic),
                        },
                        {
                            "Sid": "NoOneElseSubscribes",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sns:Subscribe",
                            "Resource": ref(topic),
                            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": subscriber_arn}},
                        },
                        {
                            "Sid": "NoOneElsePublishes",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sns:Publish",
                            "Resource": ref(topic),
                            "Condition": {"ArnNotEquals": {"aws:SourceArn": getatt(rule, "Arn")}},
                        },
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": ["sns:Publish", "sns:Subscribe"],
                            "Resource": ref(topic),
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
    }


def dump(template: Json) -> str:
    return yaml.dump(template, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=100)


def main(path: Path, render: Callable[[], str], module: str, doc: str | None, argv: list[str] | None) -> int:
    """Write ``path`` from ``render()``; with ``--check``, exit 1 when the committed file differs."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--check", action="store_true", help=f"fail if {path.name} is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is stale: run `python -m {module}`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0
