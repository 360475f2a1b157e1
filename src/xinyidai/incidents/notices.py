"""Enterprises are told: an incident that names an enterprise is shown on its 谁查看了我的数据 page — what
happened to its data, when, what was done, and where the matter stands. The access pages sit below this
domain, so the provider is handed to them at import."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xinyidai.access.pages import enterprise as enterprise_pages
from xinyidai.incidents import register
from xinyidai.incidents.models import INCIDENT_KINDS, INCIDENT_STATES, Incident
from xinyidai.kit.principal import Principal

SHOWN = 20  # the newest; an enterprise with more asks the platform


def for_enterprise(s: Session, p: Principal) -> list[dict[str, Any]]:
    """The incidents naming `p`'s enterprise (the query admits no other), newest first."""
    if p.role != "enterprise" or not p.org_code:
        return []
    rows = s.execute(register.visible(p).order_by(Incident.found_at.desc(), Incident.id.desc())
                     .limit(SHOWN)).scalars()
    return [{"number": inc.number, "title": f"{INCIDENT_KINDS[inc.kind]}：{inc.title}", "what": inc.description,
             "occurred_at": inc.occurred_at, "found_at": inc.found_at, "data_affected": inc.data_affected,
             "done": [{"at": a.at, "text": a.text} for a in register.actions(s, inc)],
             "state": INCIDENT_STATES[inc.state], "closed": inc.state == "closed", "closure": inc.closure,
             "closed_at": inc.closed_at}
            for inc in rows]


if for_enterprise not in enterprise_pages.NOTICES:
    enterprise_pages.NOTICES.append(for_enterprise)
