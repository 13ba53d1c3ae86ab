from __future__ import annotations

import pyarrow as pa
import pytest

from functions import uscc

PUBLIC_VALID = ["91110108795101314G", "914403001922038216", "9135020026015919XW", "91350100M000100Y43",
                "91310110666007217T"]  # fmt: skip


@pytest.mark.parametrize("code", PUBLIC_VALID)
def test_public_examples_are_valid(code: str) -> None:
    assert uscc.is_valid(code)
    assert uscc.check_char(code[:17]) == code[17]


def test_legacy_pilot_code_fails_check() -> None:
    assert uscc.is_well_formed("91350211M0000XUF46")
    assert not uscc.is_valid("91350211M0000XUF46")


@pytest.mark.parametrize(
    "bad", ["", "9111010879510131", "91110108795101314I", "9111010879510131OG", "x" * 18]
)
def test_malformed(bad: str) -> None:
    assert not uscc.is_valid(bad)


def test_org_check_char_matches_public_code() -> None:
    assert uscc.org_check_char("79510131") == "4"  # 91110108[79510131 4]G


def test_make_builds_valid_codes() -> None:
    code = uscc.make("420106", "MA4K1234", category="2")
    assert uscc.is_valid(code) and code[1] == "2" and uscc.province_of(code) == "42"


def test_check_array_agrees_with_scalar() -> None:
    codes = [*PUBLIC_VALID, "91350211M0000XUF46", "91110108795101314H", "short", None]
    well_formed, check_ok = uscc.check_array(pa.array(codes))
    assert well_formed.to_pylist() == [True] * 7 + [False, False]
    assert check_ok.to_pylist() == [True] * 5 + [False, False, False, False]
    chunked = pa.chunked_array([codes[:3], codes[3:]])
    assert uscc.check_array(chunked)[1].to_pylist() == check_ok.to_pylist()
