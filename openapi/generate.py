"""Write ``openapi/openapi.yaml``: paths by hand here, schemas generated from ``schemas/api.py``.

Run ``.venv/bin/python openapi/generate.py`` after changing the API; a test fails when the
document and the code disagree (routes in app.py, models in schemas/api.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.api import (
    MONTH_PATTERN,
    PLAN_ID_PATTERN,
    TARGETS_PAGE,
    TASK_ID_PATTERN,
    USCC_PATTERN,
    ClassificationOut,
    DrawRequest,
    EffectivenessOut,
    ErrorOut,
    Plan,
    PlanRequest,
    TargetsPage,
    TaskOut,
    TaskRequest,
)
from schemas.delivery import MAX_CURSOR as BULK_CURSOR
from schemas.delivery import PAGE_DEFAULT as BULK_DEFAULT
from schemas.delivery import PAGE_MAX as BULK_MAX
from schemas.delivery import ClassificationsPage
from schemas.disclosure import Disclosure
from schemas.objections import (
    ADJUSTMENT_ID_PATTERN,
    OBJECTION_ID_PATTERN,
    AdjustmentDecision,
    AdjustmentIn,
    AdjustmentOut,
    AdjustmentsPage,
    ObjectionIn,
    ObjectionOut,
    ObjectionsPage,
    ObjectionStepIn,
)
from schemas.uploads import (
    INGEST_ID_PATTERN,
    MAX_CURSOR,
    UPLOADS_DEFAULT_PAGE,
    UPLOADS_PAGE,
    UploadOut,
    UploadsPage,
)
from schemas.warnings import RULE_ID_PATTERN, WarningsOut

OUT = Path(__file__).with_name("openapi.yaml")
REF = "#/components/schemas/{model}"
TASK_PARAM = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": TASK_ID_PATTERN},
}


def _err(description: str, gateway: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": "#/components/schemas/ErrorOut"}
    if gateway:
        schema = {"anyOf": [schema, {"$ref": "#/components/schemas/GatewayError"}]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: ("malformed JSON, unknown field or a value out of range; `field` names it", False),
        401: ("no, malformed, unknown or revoked bearer token", True),
        403: ("the token is not allowed for this province (nothing else is said about it)", True),
        404: ("no published classification for the month, or no such entity/plan/upload", False),
        409: (
            "the task's month/field/region already has a task, or the task its official plan "
            "(a redraw needs `reason`); `details` names the task or plan; or the month, or a "
            "professional field of it, was (re-)published since a bulk-read cursor was issued "
            "(start again without it)",
            False,
        ),
        422: (
            "well-formed but impossible: the plan cannot be staffed from the province's inspector "
            "roster (none uploaded, or too few qualified, active, conflict-free inspectors: "
            "`details.regions` gives counts per region), an exclusion without a reason, or "
            "`mode: official` on a test draw",
            False,
        ),
    }
    return {str(c): _err(*text[c]) for c in codes}


def build() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (PlanRequest, "validation"),
            (Plan, "serialization"),
            (TargetsPage, "serialization"),
            (TaskRequest, "validation"),
            (DrawRequest, "validation"),
            (TaskOut, "serialization"),
            (ClassificationOut, "serialization"),
            (ErrorOut, "serialization"),
            (WarningsOut, "serialization"),
            (EffectivenessOut, "serialization"),
            (UploadsPage, "serialization"),
            (UploadOut, "serialization"),
            (ClassificationsPage, "serialization"),
            (ObjectionIn, "validation"),
            (ObjectionOut, "serialization"),
            (ObjectionsPage, "serialization"),
            (ObjectionStepIn, "validation"),
            (AdjustmentIn, "validation"),
            (AdjustmentDecision, "validation"),
            (AdjustmentOut, "serialization"),
            (AdjustmentsPage, "serialization"),
            (Disclosure, "serialization"),
        ],
        ref_template=REF,
    )
    schemas: dict[str, Any] = dict(sorted(defs["$defs"].items()))
    schemas["GatewayError"] = {
        "type": "object",
        "description": "answer of the gateway itself (API Gateway or chalice local) before the handler runs",
        "properties": {"message": {"type": ["string", "null"]}, "Message": {"type": "string"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "creditrisk sampling API",
            "version": "1.0.0",
            "description": (
                "Double-random (双随机) inspection plans drawn from the monthly credit risk classes, and "
                "classification lookups. Every call needs `Authorization: Bearer crk_<id>_<secret>`; "
                "tokens are scoped to provinces (see docs/api.md)."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": {
            "/v1/sampling/plans": {
                "post": {
                    "operationId": "createSamplingPlan",
                    "summary": "Draw and store a test plan (`mode: test`, never official)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/PlanRequest"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "the stored plan",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Plan"}}
                            },
                        },
                        **_errors(400, 401, 403, 404, 422),
                    },
                }
            },
            "/v1/sampling/tasks": {
                "post": {
                    "operationId": "createSamplingTask",
                    "summary": "Register a sampling task: scope, ratios, window, exclusions with reasons; "
                    "the server commits to the randomness of its draws (docs/adr/0093)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/TaskRequest"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "the registered task (its commitment; no plan yet)",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/TaskOut"}}
                            },
                        },
                        **_errors(400, 401, 403, 404, 409, 422),
                    },
                }
            },
            "/v1/sampling/tasks/{task_id}": {
                "get": {
                    "operationId": "getSamplingTask",
                    "summary": "A task, its official plan and the plans it superseded",
                    "parameters": [TASK_PARAM],
                    "responses": {
                        "200": {
                            "description": "the task",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/TaskOut"}}
                            },
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            "/v1/sampling/tasks/{task_id}/plans": {
                "post": {
                    "operationId": "drawSamplingTask",
                    "summary": "The task's official draw; a redraw (with a reason) supersedes it",
                    "parameters": [TASK_PARAM],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/DrawRequest"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "the official plan (first page of targets when large)",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Plan"}}
                            },
                        },
                        **_errors(400, 401, 403, 404, 409, 422),
                    },
                }
            },
            "/v1/sampling/plans/{plan_id}": {
                "get": {
                    "operationId": "getSamplingPlan",
                    "summary": "A stored plan, unchanged",
                    "parameters": [
                        {
                            "name": "plan_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": PLAN_ID_PATTERN},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the stored plan",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Plan"}}
                            },
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            "/v1/sampling/plans/{plan_id}/targets": {
                "get": {
                    "operationId": "getSamplingPlanTargets",
                    "summary": "One page of a stored plan's targets (for plans too large for one answer)",
                    "parameters": [
                        {
                            "name": "plan_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": PLAN_ID_PATTERN},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0, "maximum": 100000000, "default": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": TARGETS_PAGE,
                                "default": TARGETS_PAGE,
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "targets offset..offset+limit in plan order (fewer if too large)",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/TargetsPage"}}
                            },
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            "/v1/classifications/{uscc}": {
                "get": {
                    "operationId": "getClassification",
                    "summary": "One entity's class, score, reasons and rules for a month",
                    "parameters": [
                        {
                            "name": "uscc",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": USCC_PATTERN},
                        },
                        {
                            "name": "month",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": MONTH_PATTERN},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the classification",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ClassificationOut"}
                                }
                            },
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            # early warnings (issue 6, docs/warnings.md)
            "/v1/warnings": {
                "get": {
                    "operationId": "listWarnings",
                    "summary": "Early warnings of a month and province, oldest first, paged",
                    "parameters": [
                        {
                            "name": "month",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": MONTH_PATTERN},
                        },
                        {
                            "name": "province",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": r"^[1-9][0-9]$"},
                        },
                        {
                            "name": "rule",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": RULE_ID_PATTERN},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0, "maximum": 100000000, "default": 0},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "one page of warnings (an empty list when none were raised)",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/WarningsOut"}}
                            },
                        },
                        **_errors(400, 401, 403),
                    },
                }
            },
            # effectiveness figures with n and intervals (issue 16, docs/adr/0134)
            "/v1/effectiveness": {
                "get": {
                    "operationId": "getEffectiveness",
                    "summary": "The stored monthly effectiveness figures of a province, each with n "
                    "and its 95 % interval",
                    "parameters": [
                        {
                            "name": "province",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": r"^[1-9][0-9]$"},
                        },
                        {
                            "name": "from",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": MONTH_PATTERN},
                        },
                        {
                            "name": "to",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": MONTH_PATTERN},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the figures of each month in the range that has them "
                            "(missing months listed); at most 24 months",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/EffectivenessOut"}
                                }
                            },
                        },
                        **_errors(400, 401, 403),
                    },
                }
            },
            # what uploaders learn about their uploads (issue 13, docs/adr/0087)
            "/v1/uploads": {
                "get": {
                    "operationId": "listUploads",
                    "summary": "A province's uploads and what became of each, oldest first, paged",
                    "parameters": [
                        {
                            "name": "province",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "pattern": r"^[1-9][0-9]$"},
                        },
                        {
                            "name": "since",
                            "in": "query",
                            "required": False,
                            "description": "ISO 8601 date or date-time (UTC if no zone); ingested since",
                            "schema": {"type": "string", "maxLength": 40},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "description": "`next_cursor` of a previous page of the same province",
                            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": UPLOADS_PAGE,
                                "default": UPLOADS_DEFAULT_PAGE,
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "one page of uploads (fewer than `limit` when more would not fit)",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/UploadsPage"}}
                            },
                        },
                        **_errors(400, 401, 403),
                    },
                }
            },
            "/v1/uploads/{ingest_id}": {
                "get": {
                    "operationId": "getUpload",
                    "summary": "One upload's outcome (404 alike for unknown and other provinces' uploads)",
                    "parameters": [
                        {
                            "name": "ingest_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": INGEST_ID_PATTERN},
                        },
                        {
                            "name": "province",
                            "in": "query",
                            "required": False,
                            "description": "look only in this province (tokens of several provinces)",
                            "schema": {"type": "string", "pattern": r"^[1-9][0-9]$"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the upload's outcome",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/UploadOut"}}
                            },
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            **_issue14_paths(),
            "/v1/public/disclosures/{plan_id}": {
                "get": {
                    "operationId": "getPublicDisclosure",
                    "summary": "A plan's published inspection results (一公开): public, no credential",
                    "security": [],
                    "parameters": [
                        {
                            "name": "plan_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": PLAN_ID_PATTERN},
                        },
                        {
                            "name": "format",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the disclosure (JSON), or the CSV export with Chinese headers",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Disclosure"}},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(400, 404),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "crk_<id>_<secret>"}
            },
            "schemas": schemas,
        },
    }


def _query(
    name: str, schema: dict[str, Any], required: bool = False, description: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


def _ok(description: str, model: str, status: str = "200") -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
        }
    }


def _issue14_paths() -> dict[str, Any]:
    """Bulk read, change feed and objections (issue 14, docs/adr/0112-0114)."""
    bulk = [
        _query("month", {"type": "string", "pattern": MONTH_PATTERN}, True),
        _query("province", {"type": "string", "pattern": r"^[1-9][0-9]$"}, True),
        _query(
            "cursor",
            {"type": "string", "minLength": 1, "maxLength": BULK_CURSOR},
            False,
            "`next_cursor` of the previous page of the same listing, unchanged (signed)",
        ),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": BULK_MAX, "default": BULK_DEFAULT}),
    ]
    oid = {
        "name": "objection_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": OBJECTION_ID_PATTERN},
    }
    return {
        "/v1/classifications": {
            "get": {
                "operationId": "listClassifications",
                "summary": "A province's month, paged in uscc order (bulk read for inspection platforms)",
                "parameters": bulk,
                "responses": {
                    **_ok(
                        "one page (fewer rows than `limit` when more would not fit)", "ClassificationsPage"
                    ),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
        "/v1/classifications/changes": {
            "get": {
                "operationId": "listClassificationChanges",
                "summary": "Entities whose class changed since the previous month (or new), paged",
                "parameters": bulk,
                "responses": {
                    **_ok("one page; may be short or empty with has_more true", "ClassificationsPage"),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
        "/v1/objections": {
            "post": {
                "operationId": "registerObjection",
                "summary": "Record a received objection; the answer carries its 5-working-day deadline",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": REF.format(model="ObjectionIn")}}},
                },
                "responses": {
                    "201": {
                        "description": "the registered objection",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="ObjectionOut")}}
                        },
                    },
                    **_errors(400, 401, 403, 404),
                },
            },
            "get": {
                "operationId": "listObjections",
                "summary": "A province's objections (overdue=true: past their deadline)",
                "parameters": [
                    _query("province", {"type": "string", "pattern": r"^[1-9][0-9]$"}, True),
                    _query("month", {"type": "string", "pattern": MONTH_PATTERN}),
                    _query("overdue", {"type": "string", "enum": ["true", "false"], "default": "false"}),
                ],
                "responses": {
                    **_ok("the objections, oldest receipt first", "ObjectionsPage"),
                    **_errors(400, 401, 403),
                },
            },
        },
        "/v1/objections/{objection_id}": {
            "get": {
                "operationId": "getObjection",
                "summary": "One objection's state and audit trail",
                "parameters": [oid],
                "responses": {**_ok("the objection", "ObjectionOut"), **_errors(400, 401, 403, 404)},
            }
        },
        "/v1/objections/{objection_id}/steps": {
            "post": {
                "operationId": "advanceObjection",
                "summary": "Append the next review step (accepted, checked, decided) to the audit trail",
                "parameters": [oid],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": REF.format(model="ObjectionStepIn")}}
                    },
                },
                "responses": {
                    **_ok("the objection with the step appended", "ObjectionOut"),
                    **_ok(
                        "an upheld decision: recorded, its correction run queued for the corrections "
                        "worker (correction_status queued, or pending without a queue; ADR 0144)",
                        "ObjectionOut",
                        "202",
                    ),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
        **_adjustment_paths(),
    }


def _adjustment_paths() -> dict[str, Any]:
    """Manual class adjustments with a second principal's approval (docs/adr/0113, 0120)."""
    month = _query("month", {"type": "string", "pattern": MONTH_PATTERN}, True)
    aid = {
        "name": "adjustment_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": ADJUSTMENT_ID_PATTERN},
    }

    def body(model: str) -> dict[str, Any]:
        return {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
        }

    return {
        "/v1/adjustments": {
            "post": {
                "operationId": "proposeAdjustment",
                "summary": "Propose a class for an entity's published month (applies once another approves)",
                "requestBody": body("AdjustmentIn"),
                "responses": {
                    "201": {
                        "description": "the proposed adjustment",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="AdjustmentOut")}}
                        },
                    },
                    **_errors(400, 401, 403, 404),
                },
            },
            "get": {
                "operationId": "listAdjustments",
                "summary": "A province's adjustments of a month, with their status and trails",
                "parameters": [
                    _query("province", {"type": "string", "pattern": r"^[1-9][0-9]$"}, True),
                    month,
                ],
                "responses": {**_ok("the adjustments", "AdjustmentsPage"), **_errors(400, 401, 403)},
            },
        },
        "/v1/adjustments/{adjustment_id}": {
            "get": {
                "operationId": "getAdjustment",
                "summary": "One adjustment's state and audit trail",
                "parameters": [aid, month],
                "responses": {**_ok("the adjustment", "AdjustmentOut"), **_errors(400, 401, 403, 404)},
            }
        },
        "/v1/adjustments/{adjustment_id}/decision": {
            "post": {
                "operationId": "decideAdjustment",
                "summary": "Approve or refuse a proposed adjustment (never the proposer)",
                "parameters": [aid],
                "requestBody": body("AdjustmentDecision"),
                "responses": {
                    **_ok("the decided adjustment", "AdjustmentOut"),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
    }


def render() -> str:
    header = "# GENERATED by openapi/generate.py from schemas/api.py — edit those, then re-run.\n"
    return header + yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
