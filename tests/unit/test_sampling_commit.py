"""The commitment chain behind official draws (docs/adr/0093)."""

from __future__ import annotations

import hashlib

import pytest

from functions.sampling import commit

SECRET = "5a" * 32


def test_each_revealed_key_opens_the_commitment_at_its_draw_only() -> None:
    c = commit.commitment(SECRET)
    assert c == commit.key_for(SECRET, 0) and len(c) == 64
    for n in range(1, commit.MAX_DRAWS + 1):
        k = commit.key_for(SECRET, n)
        assert commit.opens(k, n, c)
        assert not commit.opens(k, n + 1, c) and not commit.opens(k, n - 1, c)
    assert commit.key_for(SECRET, commit.MAX_DRAWS) == SECRET


def test_a_revealed_key_is_the_hash_of_the_next_one() -> None:
    """Revealing draw n discloses the earlier keys (hash forward) but never draw n+1's."""
    k1, k2 = commit.key_for(SECRET, 1), commit.key_for(SECRET, 2)
    assert hashlib.sha256(bytes.fromhex(k2)).hexdigest() == k1


@pytest.mark.parametrize("bad", ["", "zz", "00" * 31, "00" * 33])
def test_malformed_reveals_do_not_open(bad: str) -> None:
    assert not commit.opens(bad, 1, commit.commitment(SECRET))


def test_the_seed_binds_task_frame_and_draw() -> None:
    k = commit.key_for(SECRET, 1)
    seed = commit.seed_of(k, "42-t" + "0" * 20, "f" * 64, 1)
    assert seed == commit.seed_of(k, "42-t" + "0" * 20, "f" * 64, 1) and len(seed) == 64
    others = {
        commit.seed_of(k, "42-t" + "1" * 20, "f" * 64, 1),
        commit.seed_of(k, "42-t" + "0" * 20, "e" * 64, 1),
        commit.seed_of(k, "42-t" + "0" * 20, "f" * 64, 2),
        commit.seed_of(commit.key_for(SECRET, 2), "42-t" + "0" * 20, "f" * 64, 1),
    }
    assert seed not in others and len(others) == 4


def test_secrets_are_fresh() -> None:
    assert len({commit.new_secret() for _ in range(50)}) == 50
    with pytest.raises(ValueError):
        commit.key_for(SECRET, commit.MAX_DRAWS + 1)
