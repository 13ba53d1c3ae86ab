"""A small IAM policy evaluator: enough of AWS's evaluation logic to prove our scoping rules.

Implements what our policies use: Allow/Deny, Action/NotAction and Resource/NotResource with
``*``/``?`` wildcards (actions case-insensitive, resources case-sensitive), and the condition
operators StringEquals, StringLike, ArnEquals, ArnLike and Bool (any-of values; a missing key
fails the condition), the negated StringNotEquals and ArnNotEquals (none-of; a missing key
matches, as in AWS) and Null (whether the key is absent). An explicit Deny anywhere wins;
otherwise an Allow is needed; otherwise the request is implicitly denied. Operators it does not
know raise, so a policy change cannot make a test pass by accident. No well-kept offline
library does this for CloudFormation-templated policies (docs/adr/0055), hence this module; its
own behaviour is tested in test_iam_eval.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["allow", "deny", "implicit-deny"]
Json = dict[str, Any]


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _wild(pattern: str, value: str, *, case: bool) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    # Not fnmatch: it treats [] as character classes; IAM does not.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


_NEGATED = ("StringNotEquals", "ArnNotEquals")  # exact comparisons, negated


def _condition_ok(cond: Mapping[str, Mapping[str, Any]], ctx: Mapping[str, Any]) -> bool:
    lowered = {k.lower(): v for k, v in ctx.items()}
    for op, tests in cond.items():
        for key, expected in tests.items():
            if op == "Null":  # "true": the key is absent; "false": it is present (any value)
                absent = key.lower() not in lowered
                if not any(absent == (str(e).lower() == "true") for e in _as_list(expected)):
                    return False
                continue
            if key.lower() not in lowered:
                if op in _NEGATED or op == "ForAllValues:StringEquals":
                    continue  # AWS: a negated operator, or "for all values" of nothing, matches
                return False
            actual = [str(a) for a in _as_list(lowered[key.lower()])]
            wanted = [str(e) for e in _as_list(expected)]
            if op == "ForAllValues:StringEquals":  # every value of a multivalued key is listed
                ok = all(a in wanted for a in actual)
            elif op in _NEGATED:
                ok = not any(a == w for a in actual for w in wanted)
            elif op in ("StringEquals", "ArnEquals"):
                ok = any(a == w for a in actual for w in wanted)
            elif op in ("StringLike", "ArnLike"):
                ok = any(_wild(w, a, case=True) for a in actual for w in wanted)
            elif op == "Bool":
                ok = any(a.lower() == w.lower() for a in actual for w in wanted)
            else:
                raise NotImplementedError(f"condition operator {op} is not modelled")
            if not ok:
                return False
    return True


def _matches(stmt: Json, action: str, resource: str, ctx: Mapping[str, Any]) -> bool:
    if "Action" in stmt:
        if not any(_wild(a, action, case=False) for a in _as_list(stmt["Action"])):
            return False
    elif "NotAction" in stmt and any(_wild(a, action, case=False) for a in _as_list(stmt["NotAction"])):
        return False
    if "Resource" in stmt:
        if not any(_wild(r, resource, case=True) for r in _as_list(stmt["Resource"])):
            return False
    elif "NotResource" in stmt and any(_wild(r, resource, case=True) for r in _as_list(stmt["NotResource"])):
        return False
    return _condition_ok(stmt.get("Condition", {}), ctx)


@dataclass
class Request:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


def evaluate(
    identity: Iterable[Json], request: Request, *, resource_policies: Iterable[Json] = ()
) -> Decision:
    """Same-account evaluation: an Allow in either the identity or the resource policy suffices."""
    ctx = {"aws:SecureTransport": "true", **request.context}
    statements = [s for doc in (*identity, *resource_policies) for s in _as_list(doc["Statement"])]
    if any(s["Effect"] == "Deny" and _matches(s, request.action, request.resource, ctx) for s in statements):
        return "deny"
    identity_statements = [s for doc in identity for s in _as_list(doc["Statement"])]
    if any(
        s["Effect"] == "Allow" and _matches(s, request.action, request.resource, ctx)
        for s in identity_statements
    ):
        return "allow"
    return "implicit-deny"


# -- CloudFormation intrinsic functions, resolved against a fixed test account ---------------------
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def resolve(node: Any, values: Mapping[str, str]) -> Any:
    """Resolve Ref, Fn::GetAtt, Fn::Sub and Fn::ImportValue with ``values`` (strict: unknown → KeyError)."""
    if isinstance(node, list):
        return [resolve(n, values) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return values[node["Ref"]]
    if set(node) == {"Fn::GetAtt"}:
        name, attr = node["Fn::GetAtt"]
        return values[f"{name}.{attr}"]
    if set(node) == {"Fn::ImportValue"}:
        return values[f"import:{resolve(node['Fn::ImportValue'], values)}"]
    if set(node) == {"Fn::Sub"}:
        arg = node["Fn::Sub"]
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1], values))
        scope = {**values, **local}
        out = _SUB.sub(lambda m: str(scope[m.group(1)]), text)
        return out.replace("${!", "${")
    return {k: resolve(v, values) for k, v in node.items()}
