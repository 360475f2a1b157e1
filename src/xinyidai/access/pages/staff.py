"""Staff pages: search the access log (who looked at which entity, under what) and work the anomaly alerts.

Operators and security officers may run the rules and close alerts; the regulator reads both pages.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.access import anomalies, log, runtime
from xinyidai.access.models import ALERT_STATUSES
from xinyidai.access.pages.common import HANDLERS
from xinyidai.kit.errors import InvalidInput
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import PageNo, PageSize, RowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)


def _day(text: str, label: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label}应写作 YYYY-MM-DD", code="BAD_DATE") from None


@router.get("/access/audit", response_class=HTMLResponse)
def access_audit(request: Request, entity: str = "", institution: str = "", action: str = "access.",
                 day_from: str = Query("", alias="from"), day_to: str = Query("", alias="to"), page: PageNo = 1,
                 size: PageSize = 50, p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    result = log.search(s, PageRequest(page, size, "id", True), entity=entity or None,
                        institution=institution or None, action=action or None,
                        day_from=_day(day_from, "起始日期"), day_to=_day(day_to, "截止日期"))
    entities = log.entity_names(s, {e.entity_code for e in result.items if e.entity_code})
    rows = [{**row, "at": e.at, "target": e.target, "digest": e.digest, "entity_code": e.entity_code,
             "entity_name": entities.get(e.entity_code or "", "")}
            for row, e in zip(log.access_dicts(s, result.items), result.items, strict=True)]
    params = urlencode({"entity": entity, "institution": institution, "action": action, "from": day_from,
                        "to": day_to})
    return no_store(render(request, "access/audit.html", page=result, rows=rows, entity=entity,
                           institution=institution, action=action, day_from=day_from, day_to=day_to,
                           params=params, actions=log.ACTION_LABELS))


@router.get("/access/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, status: str = "open", rule: str = "", page: PageNo = 1,
                size: PageSize = 20, sort: str | None = None, desc: bool = True, done: str = "",
                p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
                ) -> Response:
    result = anomalies.list_alerts(s, PageRequest(page, size, sort, desc), status or None, rule or None)
    names = log.institution_names(s, {a.institution_code for a in result.items if a.institution_code})
    message = None
    if done.startswith("scan:") and done[5:].isdigit():
        n = int(done[5:])
        message = f"检测完成：新增 {n} 条告警。" if n else "检测完成：没有新的异常。"
    elif done == "closed":
        message = "告警已处理并关闭。"
    return no_store(render(request, "access/alerts.html", page=result, names=names, status=status, rule=rule,
                           statuses=ALERT_STATUSES, rules=anomalies.RULE_NAMES, done=message,
                           may_handle=p.role in HANDLERS))


@router.post("/access/alerts/scan")
def alerts_scan(request: Request, p: Principal = Depends(require(*HANDLERS)),
                s: Session = Depends(db_session, scope="function")) -> Response:
    n = anomalies.scan(s, runtime.policy(request))
    return RedirectResponse(f"/access/alerts?done=scan:{n}", status_code=303)


@router.post("/access/alerts/{alert_id}/close")
def alerts_close(alert_id: RowId, note: str = Form(""), p: Principal = Depends(require(*HANDLERS)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    anomalies.close_alert(s, alert_id, p.username, note)
    return RedirectResponse("/access/alerts?done=closed", status_code=303)
