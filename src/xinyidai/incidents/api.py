"""JSON API of the incident register (notice point 十). Security officers record incidents, add the steps
taken, close them (a different officer than the one who recorded) and propose suspending the party of a
serious one; operators, regulators and security officers read. Refusals come back as
`{"error", "message", "detail"}` with the codes of `register` (AUDIT_EVENT_UNKNOWN, ENTITY_NOT_OURS,
SAME_OFFICER, INCIDENT_CLOSED, …)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from xinyidai.incidents import escalation, notices, register, reporting  # noqa: F401 - register at import
from xinyidai.incidents.models import INCIDENT_KINDS, INCIDENT_STATES, SEVERITIES, Incident
from xinyidai.incidents.register import IncidentDraft
from xinyidai.incidents.schemas import (
    ActionIn,
    ActionOut,
    CloseIn,
    IncidentDetailOut,
    IncidentIn,
    IncidentPageOut,
    ProposalOut,
)
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize

router = APIRouter(prefix="/api/v1/incidents", tags=["安全事件"])
READ = require(*STAFF)
WRITE = require("security")
Sort = Literal["found_at", "severity", "kind", "state", "number", "reported_at"]


def incident_out(inc: Incident) -> dict[str, Any]:
    return {"number": inc.number, "kind": inc.kind, "kind_label": INCIDENT_KINDS[inc.kind],
            "severity": inc.severity, "severity_label": SEVERITIES[inc.severity], "title": inc.title,
            "occurred_at": inc.occurred_at, "found_at": inc.found_at, "party_kind": inc.party_kind,
            "party_code": inc.party_code, "responsible_unit": inc.responsible_unit, "state": inc.state,
            "state_label": INCIDENT_STATES[inc.state], "reported_by": inc.reported_by,
            "reported_at": inc.reported_at, "closed_by": inc.closed_by, "closed_at": inc.closed_at,
            "origin_node": inc.origin_node, "reported_up_at": inc.reported_up_at}


def detail_out(s: Session, inc: Incident) -> dict[str, Any]:
    return {**incident_out(inc), "description": inc.description, "data_affected": inc.data_affected,
            "closure": inc.closure, "entities": register.entity_codes(s, inc),
            "audit_events": [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target}
                             for e in register.audit_links(s, inc)],
            "actions": [ActionOut(at=a.at, by=a.by, text=a.text) for a in register.actions(s, inc)],
            "sanction_proposals": [x.number for x in escalation.proposals(s, inc)]}


@router.get("", summary="安全事件登记簿（运营、监管、安全管理员）", response_model=IncidentPageOut)
def list_incidents(state: Literal["open", "closed"] | None = Query(None, description="状态"),
                   severity: Literal["minor", "major", "serious", "critical"] | None = Query(None, description="级别"),
                   kind: Literal["leak", "intrusion", "misuse", "disclosure", "other"] | None = Query(
                       None, description="类型"),
                   page: PageNo = 1, size: PageSize = 20, sort: Sort | None = None, desc: bool = True,
                   p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = register.listing(s, p, PageRequest(page, size, sort, desc), state=state, severity=severity, kind=kind)
    return result.as_dict([incident_out(x) for x in result.items])


@router.post("", status_code=201, summary="登记安全事件（安全管理员）", response_model=IncidentDetailOut)
def create_incident(request: Request, body: IncidentIn, p: Principal = Depends(WRITE),
                    s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    draft = IncidentDraft(**body.model_dump())
    inc = register.record(s, p, draft, node(request).settings.node_code)
    return detail_out(s, inc)


@router.get("/{number}", summary="一个安全事件：处置记录、关联审计记录、涉及企业", response_model=IncidentDetailOut)
def get_incident(number: str, p: Principal = Depends(READ),
                 s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return detail_out(s, register.get(s, p, number))


@router.post("/{number}/actions", status_code=201, summary="记录处置措施（安全管理员；已结案的不能再记录）",
             response_model=IncidentDetailOut)
def add_action(number: str, body: ActionIn, p: Principal = Depends(WRITE),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    register.add_action(s, p, number, body.text)
    return detail_out(s, register.get(s, p, number))


@router.post("/{number}/close", summary="结案（须由登记人以外的另一名安全管理员，填写调查结论与责任追究情况）",
             response_model=IncidentDetailOut)
def close_incident(number: str, body: CloseIn, p: Principal = Depends(WRITE),
                   s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return detail_out(s, register.close(s, p, number, body.closure))


@router.post("/{number}/propose-suspension", status_code=201,
             summary="提议暂停涉事节点或机构的接入（重大、特别重大事件；须另两名安全管理员审核决定）",
             response_model=ProposalOut)
def propose_suspension(number: str, p: Principal = Depends(WRITE),
                       s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    x = escalation.propose_suspension(s, p, number)
    return {"number": x.number, "target_kind": x.target_kind, "target_code": x.target_code, "action": x.action,
            "state": x.state}
