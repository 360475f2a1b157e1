"""Shared bits of the authorized-sharing pages (enterprise, bank and staff portals live in pages_*.py).

The pages call the same services as the JSON API (api.py); these helpers only turn rows into what a
template shows, so the three portals describe an authorization the same way.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.responses import Response

from xinyidai.access.authorizations import effective_status, status_label
from xinyidai.access.models import Authorization
from xinyidai.catalog.schema import Catalog, Item
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError

HANDLERS = ("operator", "security")  # staff who may act on alerts (the regulator reads)


# A message that names what the caller sent is right for the API (a program wants the offending value), but a
# page would echo a raw word back at a person; on pages these codes read as a plain sentence.
PAGE_MESSAGES = {"UNKNOWN_CATEGORY": "所请求的信息类别不在信息清单中"}


def for_page(exc: DomainError) -> DomainError:
    """The refusal as a page shows it (the code, and what the audit chain recorded, stay as they were)."""
    if exc.code in PAGE_MESSAGES:
        exc.message = PAGE_MESSAGES[exc.code]
    return exc


def no_store(resp: Response) -> Response:
    """Pages with an entity's data or the access log must not linger in a browser or proxy cache."""
    resp.headers["Cache-Control"] = "no-store"
    return resp


def valid_to(a: Authorization) -> date:
    """The last day the authorization is valid: it is stored as the end of that day (midnight after it)."""
    return (a.valid_until.astimezone(clock.CHINA_TZ) - timedelta(seconds=1)).date()


def category_names(catalog: Catalog, codes: list[str]) -> list[str]:
    """Names in the catalogue's order (the order the enterprise saw them in the form)."""
    out = []
    for code in sorted(codes, key=catalog.position):
        try:
            out.append(catalog.category(code).name)
        except KeyError:
            out.append(code)
    return out


def authorization_row(a: Authorization, catalog: Catalog, names: dict[str, str]) -> dict[str, Any]:
    """One authorization as the tables and detail pages show it (status derived now, not as stored)."""
    return {
        "number": a.number, "entity_code": a.entity_code, "institution_code": a.institution_code,
        "institution_name": names.get(a.institution_code, ""), "purpose": a.purpose, "mode": a.mode,
        "status": effective_status(a), "status_label": status_label(a),
        "categories": category_names(catalog, [sc.category for sc in a.scopes]),
        "uses": a.uses, "max_uses": a.max_uses, "valid_from": a.valid_from, "valid_to": valid_to(a),
        "confirmed_at": a.confirmed_at, "confirmed_by": a.confirmed_by, "revoked_at": a.revoked_at,
        "revoked_by": a.revoked_by, "revoke_reason": a.revoke_reason, "last_used_at": a.last_used_at,
        "text": a.text, "text_digest": a.text_digest,
    }


def total_label(item: Item) -> str:
    """"近 12 个月…合计" without doubling a name that already ends in 合计 (缴存基数合计)."""
    return f"近 12 个月{item.name}" + ("" if item.name.endswith("合计") else "合计")
