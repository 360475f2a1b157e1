"""进展报告 (issue 17): this node's progress reports with their state and the next step (prepare a period's
report; a second person approves and signs it; send it to the parent), one report with its figures, ranking
and 督办 items, its signed PDF — and the children's latest reports side by side (the national node's view of
the provinces, a province's of its cities), or any reports chosen for comparison.

Regulators and operators prepare and approve (two different people: the service refuses approving one's own
report); both read the children's reports. Writes are POST → redirect → GET with a `done` key; the CSRF
token is checked by `require` as on every form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.node_key import published_keys
from xinyidai.kit.principal import Principal
from xinyidai.market.figures import Period
from xinyidai.network import relay, runtime
from xinyidai.network.models import Peer
from xinyidai.oversight import progress
from xinyidai.oversight.models import REPORT_KINDS, REPORT_STATES
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require("regulator", "operator")
WRITE = require("regulator", "operator")
DONE = {"prepared": "进展报告已编制，请由另一名监管或运营人员审核。",
        "approved": "进展报告已审核并由本节点签名，可以上报上级节点。",
        "sent": "进展报告已排入报送队列，将随下一轮报送发往上级节点。"}
MAX_COMPARE = 20


def _labels() -> dict[str, Any]:
    return {"kinds": REPORT_KINDS, "states": REPORT_STATES, "wan": progress.wan_text, "pct": progress.pct_text}


def _list(request: Request, s: Session, p: Principal, *, compare: list[str] | None = None, done: str | None = None,
          error: DomainError | None = None, form: dict[str, str] | None = None) -> Response:
    chosen: list[dict[str, Any]] = []
    if compare:
        try:
            chosen = progress.compare(s, compare[:MAX_COMPARE])
        except DomainError as exc:
            error = error or exc
    return no_store(render(
        request, "oversight/reports.html", status_code=error.status if error else 200,
        own=progress.listing(s), latest=[progress.summary(r) for r in progress.latest_by_node(s)],
        received=progress.listing(s, received=True), chosen=chosen, compare=compare or [],
        has_parent=relay.parent(s) is not None, me=p.username, done=done, error=error,
        form=form or {"from": "", "to": "", "kind": "monthly"}, **_labels()))


@router.get("/oversight/reports", response_class=HTMLResponse)
def reports_page(request: Request, done: str = "", compare: list[str] = Query(default_factory=list),
                 p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    return _list(request, s, p, compare=[c for c in compare if c], done=DONE.get(done))


@router.post("/oversight/reports", response_class=HTMLResponse)
def prepare_report(request: Request, start: str = Form("", alias="from"), end: str = Form("", alias="to"),
                   kind: str = Form("monthly"), p: Principal = Depends(WRITE),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    form = {"from": start, "to": end or start, "kind": kind}
    try:
        period = Period.parse(start, end or start)
        if period.start is None or period.end is None:
            raise InvalidInput("请选择报告期间（起止月份，格式 YYYY-MM）", code="OVERSIGHT_PERIOD_REQUIRED")
        rep = progress.prepare(s, runtime.context(request.app), node(request).settings.node_name, p.username,
                               period, kind)
    except DomainError as exc:
        s.rollback()
        return _list(request, s, p, error=exc, form=form)
    return RedirectResponse(f"/oversight/reports/{rep.number}?done=prepared", status_code=303)


@router.get("/oversight/reports/{number}.pdf")
def report_pdf(number: str, p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")
               ) -> Response:
    rep = progress.get(s, number)
    return no_store(Response(rep.pdf or b"", media_type="application/pdf",
                             headers={"Content-Disposition": f'inline; filename="{rep.number}.pdf"'}))


def _detail(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
            error: DomainError | None = None) -> Response:
    rep = progress.get(s, number)
    signer = None
    key_id = (rep.signature or {}).get("key_id", "")
    if rep.origin_node:
        peer = s.get(Peer, rep.origin_node)
        key = progress.peer_signing_key(peer, key_id) if peer is not None else None
        signer = dict(key) if key is not None else None
    elif rep.signature:  # this node's own: by whichever of its published keys signed it, rotated or not
        signer = published_keys(node(request).settings.var_dir).get(key_id)
    # a signature by no key this node knows is not verified, however whole the content
    verified = (progress.verify(rep, signer) if signer is not None else False) if rep.signature else None
    return no_store(render(
        request, "oversight/report.html", status_code=error.status if error else 200, rep=rep, d=rep.data,
        verified=verified, done=done, error=error, has_parent=relay.parent(s) is not None,
        may_approve=not rep.origin_node and rep.state == "draft" and p.username != rep.prepared_by,
        may_send=not rep.origin_node and rep.state == "approved", **_labels()))


@router.get("/oversight/reports/{number}", response_class=HTMLResponse)
def report_page(request: Request, number: str, done: str = "", p: Principal = Depends(READ),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.post("/oversight/reports/{number}/approve", response_class=HTMLResponse)
def approve_report(request: Request, number: str, p: Principal = Depends(WRITE),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        progress.approve(s, runtime.context(request.app), p.username, number)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc)
    return RedirectResponse(f"/oversight/reports/{number}?done=approved", status_code=303)


@router.post("/oversight/reports/{number}/send", response_class=HTMLResponse)
def send_report(request: Request, number: str, p: Principal = Depends(WRITE),
                s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        progress.send(s, runtime.context(request.app), p.username, number)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc)
    return RedirectResponse(f"/oversight/reports/{number}?done=sent", status_code=303)
