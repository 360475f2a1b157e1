"""Pages of the incident register: the list (paged, sortable, filtered by state, severity and kind), the form
a security officer records an incident with, and one incident with its steps, the audit entries and
enterprises it concerns, the proposal to suspend the party of a serious one, and the closing form.

Writes are POST → redirect → GET with a `done` key for the message; a refused form comes back as typed, with
the refusal's message. Times on the form are Beijing times (datetime-local has no zone)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.access.log import entity_names, institution_names
from xinyidai.accounts.people import names_of
from xinyidai.incidents import escalation, notices, register, reporting  # noqa: F401 - register at import
from xinyidai.incidents.models import INCIDENT_KINDS, INCIDENT_STATES, PARTY_KINDS, SEVERITIES, Incident
from xinyidai.incidents.register import IncidentDraft
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.network import relay
from xinyidai.network.models import SANCTION_STATES, Peer
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require(*STAFF)
WRITE = require("security")
DONE = {"recorded": "安全事件已登记。涉及的企业可在“谁查看了我的数据”中看到本事件；事件将随下一轮报送上报上级节点。",
        "action": "处置措施已记录。", "closed": "事件已结案，此后不能再修改。",
        "proposed": "已提议暂停涉事方接入，待另两名安全管理员在“节点网络”的处置提议中审核和决定。"}
SEVERITY_TONES = {"minor": "", "major": "sens", "serious": "sens", "critical": "sens"}
_SPLIT = re.compile(r"[\s,，、;；]+")


@dataclass
class IncidentForm:
    """The form as typed, so a refused one is shown again unchanged."""

    kind: str = "leak"
    severity: str = "minor"
    title: str = ""
    description: str = ""
    occurred_at: str = ""
    found_at: str = ""
    party_kind: str = "platform"
    party_code: str = ""
    responsible_unit: str = ""
    data_affected: str = ""
    audit_event_ids: str = ""
    entity_codes: str = ""

    def audit_ids(self) -> list[int]:
        parts = [x for x in _SPLIT.split(self.audit_event_ids.strip()) if x]
        if not all(x.isdigit() and len(x) <= 18 for x in parts):
            raise InvalidInput("审计记录编号应为正整数，多个以逗号或空格分隔", code="AUDIT_EVENT_UNKNOWN",
                               detail={"unknown": [x for x in parts if not x.isdigit()]})
        return [int(x) for x in parts]

    def codes(self) -> list[str]:
        return [x.upper() for x in _SPLIT.split(self.entity_codes.strip()) if x]

    def draft(self) -> IncidentDraft:
        return IncidentDraft(kind=self.kind, severity=self.severity, title=self.title, description=self.description,
                             found_at=_beijing(self.found_at, "发现时间", required=True),  # type: ignore[arg-type]
                             occurred_at=_beijing(self.occurred_at, "发生时间"), party_kind=self.party_kind,
                             party_code=self.party_code or None, responsible_unit=self.responsible_unit,
                             data_affected=self.data_affected, audit_event_ids=self.audit_ids(),
                             entity_codes=self.codes())


def _beijing(raw: str, what: str, *, required: bool = False) -> datetime | None:
    raw = raw.strip()
    if not raw:
        if required:
            raise InvalidInput(f"请填写{what}", code="BAD_TIME")
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{what}格式不正确（YYYY-MM-DD HH:MM）", code="BAD_TIME") from None
    return at.replace(tzinfo=clock.CHINA_TZ) if at.tzinfo is None else at


def incident_form(kind: str = Form("leak"), severity: str = Form("minor"), title: str = Form(""),
                  description: str = Form(""), occurred_at: str = Form(""), found_at: str = Form(""),
                  party_kind: str = Form("platform"), party_code: str = Form(""), responsible_unit: str = Form(""),
                  data_affected: str = Form(""), audit_event_ids: str = Form(""),
                  entity_codes: str = Form("")) -> IncidentForm:
    return IncidentForm(kind, severity, title, description, occurred_at, found_at, party_kind,
                        party_code.strip().upper(), responsible_unit, data_affected, audit_event_ids, entity_codes)


def _labels() -> dict[str, Any]:
    return {"kinds": INCIDENT_KINDS, "severities": SEVERITIES, "parties": PARTY_KINDS, "states": INCIDENT_STATES,
            "severity_tones": SEVERITY_TONES}


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, state: str = "", severity: str = "", kind: str = "", page: PageNo = 1,
                   size: PageSize = 20, sort: str | None = None, desc: bool = True,
                   p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    result = register.listing(s, p, PageRequest(page, size, sort, desc), state=state or None,
                              severity=severity or None, kind=kind or None)
    params = urlencode({k: v for k, v in (("state", state), ("severity", severity), ("kind", kind)) if v})
    return no_store(render(request, "incidents/list.html", page=result, state=state, severity=severity, kind=kind,
                           params=params, may_write=p.role == "security",
                           people=names_of(s, {x.reported_by for x in result.items}), **_labels()))


def _form_page(request: Request, s: Session, form: IncidentForm, error: DomainError | None = None,
               proposed: list[str] | None = None) -> Response:
    peers = list(s.execute(select(Peer.code, Peer.name).where(Peer.relation == "child").order_by(Peer.code)).all())
    insts = list(s.execute(select(FinancialInstitution.code, FinancialInstitution.name)
                           .order_by(FinancialInstitution.name)).all())
    now = clock.now().astimezone(clock.CHINA_TZ).strftime("%Y-%m-%dT%H:%M")
    return no_store(render(request, "incidents/new.html", status_code=error.status if error else 200, form=form,
                           error=error, peers=peers, institutions=insts, now=now, proposed=proposed,
                           **_labels()))


@router.get("/incidents/new", response_class=HTMLResponse)
def new_incident(request: Request, audit: str = "", p: Principal = Depends(WRITE),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    now = clock.now().astimezone(clock.CHINA_TZ).strftime("%Y-%m-%dT%H:%M")
    return _form_page(request, s, IncidentForm(found_at=now, audit_event_ids=audit[:400]))


@router.post("/incidents/new", response_class=HTMLResponse)
def record_incident(request: Request, form: IncidentForm = Depends(incident_form), step: str = Form(""),
                    p: Principal = Depends(WRITE), s: Session = Depends(db_session, scope="function")) -> Response:
    """`step=propose` fills in the enterprises the linked audit entries concern and shows the form again."""
    node_code = node(request).settings.node_code
    if step == "propose":
        try:
            found = register.proposed_entities(s, form.audit_ids(), node_code)
        except DomainError as exc:
            return _form_page(request, s, form, exc)
        merged = list(dict.fromkeys([*form.codes(), *found]))
        return _form_page(request, s, IncidentForm(**{**asdict(form), "entity_codes": "\n".join(merged)}),
                          proposed=found)
    try:
        inc = register.record(s, p, form.draft(), node_code)
    except DomainError as exc:
        s.rollback()
        return _form_page(request, s, form, exc)
    return RedirectResponse(f"/incidents/{inc.number}?done=recorded", status_code=303)


def _party_name(s: Session, inc: Incident) -> str:
    if inc.party_kind == "platform" or not inc.party_code:
        return PARTY_KINDS["platform"]
    if inc.party_kind == "peer":
        peer = s.get(Peer, inc.party_code)
        return peer.name if peer else inc.party_code
    return institution_names(s, {inc.party_code}).get(inc.party_code, inc.party_code)


def _detail(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
            error: DomainError | None = None, text: str = "", closure: str = "") -> Response:
    inc = register.get(s, p, number)
    steps = register.actions(s, inc)
    codes = register.entity_codes(s, inc)
    people = names_of(s, {inc.reported_by, inc.closed_by, *(a.by for a in steps)})
    names = entity_names(s, set(codes))
    return no_store(render(
        request, "incidents/detail.html", status_code=error.status if error else 200, inc=inc, steps=steps,
        entities=[(c, names.get(c)) for c in codes], links=register.audit_links(s, inc),
        party=_party_name(s, inc), people=people, done=done, error=error, text=text, closure=closure,
        may_write=p.role == "security" and inc.state == "open" and not inc.origin_node,
        may_close=p.role == "security" and p.username != inc.reported_by,
        may_propose=p.role == "security" and escalation.may_propose(inc), proposals=escalation.proposals(s, inc),
        sanction_states=SANCTION_STATES, has_parent=relay.parent(s) is not None, **_labels()))


@router.get("/incidents/{number}", response_class=HTMLResponse)
def incident_page(request: Request, number: str, done: str = "", p: Principal = Depends(READ),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.post("/incidents/{number}/actions", response_class=HTMLResponse)
def add_action(request: Request, number: str, text: str = Form(""), p: Principal = Depends(WRITE),
               s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        register.add_action(s, p, number, text)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, text=text)
    return RedirectResponse(f"/incidents/{number}?done=action#actions", status_code=303)


@router.post("/incidents/{number}/close", response_class=HTMLResponse)
def close_incident(request: Request, number: str, closure: str = Form(""), p: Principal = Depends(WRITE),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        register.close(s, p, number, closure)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, closure=closure)
    return RedirectResponse(f"/incidents/{number}?done=closed", status_code=303)


@router.post("/incidents/{number}/propose", response_class=HTMLResponse)
def propose_suspension(request: Request, number: str, p: Principal = Depends(WRITE),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        escalation.propose_suspension(s, p, number)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc)
    return RedirectResponse(f"/incidents/{number}?done=proposed", status_code=303)
