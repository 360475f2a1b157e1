"""The canonical form of a record's content and its fingerprint.

Every path that stores a record (the loading pipeline, the demo, the relay between nodes) must use these,
so that the same facts always give the same fingerprint and a re-delivery is recognised as unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from xinyidai.kit.digest import sm3_stream

SM3_PREPARED = sm3_stream()  # copying a prepared hash object skips OpenSSL's per-call algorithm lookup

KEY_SEPARATOR = "|"


def canonical_json(content: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is; empty values dropped (absent and empty are the same)."""
    clean = {k: v for k, v in content.items() if v is not None and v != ""}
    return orjson.dumps(clean, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def fingerprint(content_json: str) -> str:
    """SM3 of the canonical JSON (orjson: shortest round-trip floats, keys sorted, UTF-8 unescaped)."""
    h = SM3_PREPARED.copy()
    h.update(content_json.encode("utf-8"))
    return h.hexdigest()


def record_key(key_items: Sequence[str], content: Mapping[str, Any]) -> str:
    """The record's identity within its entity and category, e.g. '2025-03' or 'HLJ-罚-2024-017'."""
    if len(key_items) == 1:
        return str(content.get(key_items[0], ""))
    return KEY_SEPARATOR.join(str(content.get(k, "")) for k in key_items)
