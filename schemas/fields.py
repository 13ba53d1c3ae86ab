"""The professional fields classified beside the general class, as data (``schemas/fields.yaml``).

A field name is also an inspector field (``InspectorField``): a sampling request or task that
names one draws from the field's population by its sampling class (docs/results-contract.md,
docs/adr/0117, 0118).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.datasets import Domain, InspectorField, LicenceType

ClassifiedField = Literal["food", "drug", "special_equipment", "industrial_product"]


class FieldInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    system: str = Field(pattern=r"^[a-z][a-z0-9-]{1,62}$", description="indicator system id")
    domains: tuple[Domain, ...] = Field(min_length=1)
    licence_types: tuple[LicenceType, ...] = Field(min_length=1)


class FieldsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    combination: Literal["stricter"]
    fields: dict[ClassifiedField, FieldInfo]


FIELDS_FILE = FieldsFile.model_validate(
    yaml.safe_load(Path(__file__).with_name("fields.yaml").read_text(encoding="utf-8"))
)
FIELDS: dict[str, FieldInfo] = {str(k): v for k, v in FIELDS_FILE.fields.items()}
FIELD_NAMES: tuple[str, ...] = tuple(FIELDS)
assert set(FIELD_NAMES) == set(get_args(ClassifiedField)), "fields.yaml must list every ClassifiedField"
assert set(FIELD_NAMES) <= set(get_args(InspectorField)), "a classified field is an inspector field"


def combine(general: str | None, field: str) -> str:
    """The combination rule (``combination: stricter``): an entity of a field's population is
    sampled in the riskier of its general and its field class; without a general class, its
    field class (docs/adr/0117)."""
    from schemas.results import RISK_CLASSES

    assert FIELDS_FILE.combination == "stricter"
    if general is None:
        return field
    return max(general, field, key=RISK_CLASSES.index)


def field_of_system(system_id: str) -> str | None:
    """The field a system classifies, or None for a general system."""
    return next((name for name, f in FIELDS.items() if f.system == system_id), None)
