"""Masking of resident ID numbers in free text, without the ingest package.

The uploads API must import fast and never the ingest pipeline (pandas, readers: cold start,
ADR 0044), and importing ``functions.ingest.personal_data`` runs ``functions/ingest/__init__``.
The pattern and the mask are those of ``personal_data`` (a test keeps them equal); when that
module can import them from here, this becomes the one copy.
"""

from __future__ import annotations

import re

ID_PATTERN = r"[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
MASK = "<resident-id masked>"
_LOOSE = re.compile(ID_PATTERN)


def mask_text(text: str) -> str:
    """Every ID-shaped substring (checksummed or not) replaced by ``MASK``, as the quarantine does."""
    return _LOOSE.sub(MASK, text)
