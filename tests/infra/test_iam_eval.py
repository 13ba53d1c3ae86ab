"""The evaluator the scoping proofs rely on must itself be right."""

from __future__ import annotations

import pytest

from tests.infra.iam_eval import Request, evaluate, resolve

ALLOW_PREFIX = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:Put*", "Resource": "arn:aws:s3:::b/in/42/*"}],
}


def test_wildcards_in_actions_are_case_insensitive_and_in_resources_exact() -> None:
    assert evaluate([ALLOW_PREFIX], Request("S3:PUTOBJECT", "arn:aws:s3:::b/in/42/x")) == "allow"
    assert evaluate([ALLOW_PREFIX], Request("s3:PutObject", "arn:aws:s3:::b/IN/42/x")) == "implicit-deny"
    assert evaluate([ALLOW_PREFIX], Request("s3:GetObject", "arn:aws:s3:::b/in/42/x")) == "implicit-deny"
    assert evaluate([ALLOW_PREFIX], Request("s3:PutObject", "arn:aws:s3:::b/in/4/x")) == "implicit-deny"


def test_question_mark_and_brackets() -> None:
    doc = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/[a]?"}]}
    assert evaluate([doc], Request("s3:GetObject", "arn:aws:s3:::b/[a]x")) == "allow"
    assert evaluate([doc], Request("s3:GetObject", "arn:aws:s3:::b/ax")) == "implicit-deny"


def test_explicit_deny_wins_and_not_resource() -> None:
    deny = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::b/ok/*"},
        ]
    }
    assert evaluate([deny], Request("s3:PutObject", "arn:aws:s3:::b/ok/1")) == "allow"
    assert evaluate([deny], Request("s3:PutObject", "arn:aws:s3:::b/no/1")) == "deny"


def test_conditions() -> None:
    doc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"StringLike": {"s3:prefix": ["results/*"]}},
            }
        ]
    }
    assert evaluate([doc], Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "results/a"})) == "allow"
    assert evaluate([doc], Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "curated/"})) != "allow"
    assert evaluate([doc], Request("s3:ListBucket", "arn:aws:s3:::b")) != "allow"  # missing key
    unknown = {"Statement": [{**doc["Statement"][0], "Condition": {"NumericLessThan": {"x": "1"}}}]}
    with pytest.raises(NotImplementedError):
        evaluate([unknown], Request("s3:ListBucket", "arn:aws:s3:::b", {"x": "0"}))


def test_negated_conditions_match_when_the_key_is_missing() -> None:
    only_role = "arn:aws:iam::1:role/uploader-42"
    deny = {
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "sns:Subscribe",
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": only_role}},
            }
        ]
    }
    allow = {"Statement": [{"Effect": "Allow", "Action": "sns:*", "Resource": "*"}]}
    topic = "arn:aws:sns:r:1:t"
    assert (
        evaluate(
            [allow],
            Request("sns:Subscribe", topic, {"aws:PrincipalArn": only_role}),
            resource_policies=[deny],
        )
        == "allow"
    )
    assert (
        evaluate(
            [allow],
            Request("sns:Subscribe", topic, {"aws:PrincipalArn": only_role + "x"}),
            resource_policies=[deny],
        )
        == "deny"
    )
    assert evaluate([allow], Request("sns:Subscribe", topic), resource_policies=[deny]) == "deny"
    eq = {"Statement": [{**allow["Statement"][0], "Condition": {"ArnEquals": {"aws:SourceArn": "arn:x"}}}]}
    assert evaluate([eq], Request("sns:Publish", topic, {"aws:SourceArn": "arn:x"})) == "allow"
    assert evaluate([eq], Request("sns:Publish", topic, {"aws:SourceArn": "arn:x*"})) == "implicit-deny"
    assert evaluate([eq], Request("sns:Publish", topic)) == "implicit-deny"


def test_null_conditions_test_whether_keys_are_absent() -> None:
    """``Null`` keys in one block are ANDed: the lake's audit prefix denies a write only when it
    carries neither conditional header (ADR 0166)."""
    deny = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::b/audit/*",
                "Condition": {"Null": {"s3:if-none-match": "true", "s3:if-match": "true"}},
            }
        ]
    }
    allow = {"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}]}

    def put(ctx: dict[str, str]) -> str:
        return evaluate(
            [allow], Request("s3:PutObject", "arn:aws:s3:::b/audit/x", ctx), resource_policies=[deny]
        )

    assert put({}) == "deny"
    assert put({"s3:if-none-match": "*"}) == "allow"
    assert put({"s3:if-match": '"etag"'}) == "allow"
    present = {"Statement": [{**deny["Statement"][0], "Condition": {"Null": {"s3:if-match": "false"}}}]}
    req = Request("s3:PutObject", "arn:aws:s3:::b/audit/x", {"s3:if-match": '"etag"'})
    assert evaluate([allow], req, resource_policies=[present]) == "deny"
    assert (
        evaluate([allow], Request("s3:PutObject", "arn:aws:s3:::b/audit/x"), resource_policies=[present])
        == "allow"
    )


def test_resource_policy_deny_applies() -> None:
    tls = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
    req = Request("s3:PutObject", "arn:aws:s3:::b/in/42/x", {"aws:SecureTransport": "false"})
    assert evaluate([ALLOW_PREFIX], req, resource_policies=[tls]) == "deny"


def test_resolve_intrinsics() -> None:
    values = {"AWS::Partition": "aws-cn", "B": "bucket", "K.Arn": "arn:k", "import:x-B": "imported"}
    assert (
        resolve({"Fn::Sub": "arn:${AWS::Partition}:s3:::${B}/${!p}"}, values) == "arn:aws-cn:s3:::bucket/${p}"
    )
    assert resolve({"Fn::GetAtt": ["K", "Arn"]}, values) == "arn:k"
    sub = {"Fn::Sub": ["s3://${X}/", {"X": {"Fn::ImportValue": {"Fn::Sub": "x-${B}"}}}]}
    assert resolve({"Fn::Sub": ["s3://${X}/", {"X": {"Fn::ImportValue": "x-B"}}]}, values) == "s3://imported/"
    with pytest.raises(KeyError):
        resolve(sub, values)
