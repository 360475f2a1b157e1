"""A serious incident involving a connected node or an institution may lead to its suspension (point 十: 发生安全
事件的，取消接入). The register only proposes: the proposal then takes two other security officers in
`network.sanctions` before anything is cut."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.incidents import register
from xinyidai.incidents.models import SEVERITIES, Incident
from xinyidai.kit.errors import Conflict
from xinyidai.kit.principal import Principal
from xinyidai.network import sanctions
from xinyidai.network.models import SanctionProposal


def may_propose(inc: Incident) -> bool:
    return register.is_serious(inc) and inc.party_kind in ("peer", "institution") and bool(inc.party_code)


def proposals(s: Session, inc: Incident) -> list[SanctionProposal]:
    """The proposals this incident raised (its number is their source reference)."""
    return list(s.execute(select(SanctionProposal).where(SanctionProposal.source == "incident",
                                                         SanctionProposal.source_ref == inc.number)
                          .order_by(SanctionProposal.id)).scalars())


def propose_suspension(s: Session, actor: Principal, number: str) -> SanctionProposal:
    """提议暂停接入 of the incident's party; an open proposal for the same party is returned, not doubled."""
    register.officer(actor)
    inc = register.get(s, actor, number)
    if not may_propose(inc):
        raise Conflict("只有涉及接入节点或金融机构的重大、特别重大事件可以提议暂停接入", code="NOT_SERIOUS")
    reason = f"安全事件 {inc.number}（{SEVERITIES[inc.severity]}）：{inc.title}"
    return sanctions.propose(s, actor, inc.party_kind, inc.party_code or "", "suspend", reason, "incident",
                             source_ref=inc.number)
