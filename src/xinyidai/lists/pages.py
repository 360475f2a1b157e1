"""Pages of white lists and key-project lists.

Staff (operators and regulators): rule sets (read the rules, save a new version from an edited document),
"立即生成", the history of lists with the difference to the previous version, a list's entries with their
reasons and as CSV, subscriptions, and the import of an annual key-project list. Bank users: the lists
delivered to their institution, new ones highlighted, and their entries.

Thin: each handler calls a function of `whitelists` / `keyprojects` and renders. Lists name enterprises, so
every page is sent no-store.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.people import names_of
from xinyidai.credit.features import BY_CODE
from xinyidai.entities.industries import DIVISIONS, SECTIONS
from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.lists import keyprojects, whitelists
from xinyidai.lists.models import WhiteList, WhiteListEntry, WhiteListRuleSet
from xinyidai.network import relay
from xinyidai.network.models import Peer
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize, SmallRowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
STAFF = whitelists.MANAGERS
DONE = {"saved": "规则已保存为新版本。", "subscribed": "订阅已添加，最近一期名单已推送。", "unsubscribed": "订阅已取消。"}


def _node(request: Request, s: Session) -> relay.NodeContext | str:
    """The network context when a peer subscribes to lists (unsealing the node key costs ~0.5 s, so only
    then); otherwise the node code, and peers added later get what they are owed on the next round."""
    if whitelists.has_peer_subscribers(s):
        from xinyidai.network import runtime

        return runtime.context(request.app)
    return node(request).settings.node_code


def _day(text: str) -> date:
    text = (text or "").strip()
    if not text:
        return clock.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("名单基准日应写作 YYYY-MM-DD", code="BAD_DATE") from None


def _industry_label(item: str) -> str:
    if item in SECTIONS:
        return f"{item} {SECTIONS[item]}"
    if item in DIVISIONS:
        return f"{item} {DIVISIONS[item][0]}"
    a, _, b = item.partition("-")
    return f"{item}（{DIVISIONS[a][0]} … {DIVISIONS[b][0]}）" if a in DIVISIONS and b in DIVISIONS else item


def describe(spec: whitelists.RuleSpec) -> list[tuple[str, str]]:
    """The rules in plain Chinese, for the rule-set page."""
    return [
        ("最低等级", f"公共信用综合评价 {spec.min_grade} 及以上（{'、'.join(spec.grades)}）"),
        ("评价时效", f"评价基准日距名单基准日不超过 {spec.max_age_days} 天"),
        ("负面信息", "、".join(f"{BY_CODE[f].label}为 0" for f in spec.exclude) or "不限"),
        ("支持行业", "；".join(_industry_label(i) for i in spec.industries)),
        ("地区", "、".join(f"{r} {region_name(r.ljust(6, '0')) or ''}".strip() for r in spec.regions)
         or "本节点全部地区"),
        ("融资需求", "须已授权金融机构查询（存在融资需求）" if spec.financing_need else "不要求"),
        ("生成周期", whitelists.SCHEDULES.get(spec.schedule or "", "手动生成")),
    ]


def _rule_rows(s: Session) -> list[dict[str, Any]]:
    rows = []
    for rs in whitelists.rule_sets(s):
        ids = select(WhiteListRuleSet.id).where(WhiteListRuleSet.code == rs.code)
        last = s.execute(select(WhiteList).where(WhiteList.rule_id.in_(ids)).order_by(WhiteList.id.desc())
                         .limit(1)).scalar_one_or_none()
        rows.append({"rs": rs, "spec": whitelists.spec_of(rs), "last": last})
    return rows


def _overview(request: Request, s: Session, status_code: int = 200, error: DomainError | None = None,
              done: str = "") -> Response:
    return no_store(render(request, "lists/whitelists.html", status_code=status_code, tab="rules",
                           rows=_rule_rows(s), error=error, done=DONE.get(done, ""), today=clock.today(),
                           schedules=whitelists.SCHEDULES))


@router.get("/whitelists", response_class=HTMLResponse)
def overview(request: Request, done: str = "", p: Principal = Depends(require(*STAFF)),
             s: Session = Depends(db_session, scope="function")) -> Response:
    return _overview(request, s, done=done)


@router.get("/whitelists/rules/new", response_class=HTMLResponse)
def rule_new(request: Request, p: Principal = Depends(require(*STAFF))) -> Response:
    return no_store(render(request, "lists/whitelists_rule.html", tab="rules", rs=None, versions=[],
                           summary=[], text=whitelists.default_rules_text(), problems=[], done="",
                           schedules=whitelists.SCHEDULES))


@router.post("/whitelists/rules")
def rule_save(request: Request, text: str = Form(..., max_length=20_000),
              p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
              ) -> Response:
    try:
        rs = whitelists.save_rule_set(s, text, p)
    except DomainError as exc:
        s.rollback()
        problems = (exc.detail or {}).get("problems") if isinstance(exc.detail, dict) else None
        code = _code_in(text)
        current = _current_or_none(s, code)
        return no_store(render(request, "lists/whitelists_rule.html", status_code=exc.status, tab="rules",
                               rs=current, versions=whitelists.rule_versions(s, code) if current else [],
                               summary=describe(whitelists.spec_of(current)) if current else [], text=text,
                               problems=problems or [exc.message], error=exc, done="",
                               schedules=whitelists.SCHEDULES))
    return RedirectResponse(f"/whitelists/rules/{rs.code}?done=saved", status_code=303)


def _code_in(text: str) -> str:
    """The rule code a (possibly invalid) document names, to show the right rule set beside the errors."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "code":
            return value.split("#", 1)[0].strip().strip("'\"")
    return ""


def _current_or_none(s: Session, code: str) -> WhiteListRuleSet | None:
    versions = whitelists.rule_versions(s, code) if code else []
    return versions[0] if versions else None


@router.get("/whitelists/rules/{code}", response_class=HTMLResponse)
def rule_page(code: str, request: Request, done: str = "", p: Principal = Depends(require(*STAFF)),
              s: Session = Depends(db_session, scope="function")) -> Response:
    rs = whitelists.current_rule_set(s, code)
    spec = whitelists.spec_of(rs)
    versions = whitelists.rule_versions(s, code)
    return no_store(render(request, "lists/whitelists_rule.html", tab="rules", rs=rs, versions=versions,
                           people=names_of(s, [v.created_by for v in versions]), summary=describe(spec),
                           text=whitelists.dump_rules(spec), problems=[], done=DONE.get(done, ""),
                           schedules=whitelists.SCHEDULES))


@router.post("/whitelists/rules/{code}/generate")
def generate_now(code: str, request: Request, as_of: str = Form(""), p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        wl = whitelists.generate(s, whitelists.current_rule_set(s, code), _day(as_of), p, _node(request, s))
    except DomainError as exc:
        s.rollback()
        return _overview(request, s, exc.status, exc)
    return RedirectResponse(f"/whitelists/lists/{wl.number}?done=generated", status_code=303)


# ── lists ───────────────────────────────────────────────────────────────────────────────────────────────

@router.get("/whitelists/lists", response_class=HTMLResponse)
def history(request: Request, kind: str = "", series: str = "", page: PageNo = 1, size: PageSize = 20,
            sort: str | None = None, desc: bool = True, p: Principal = Depends(require(*STAFF)),
            s: Session = Depends(db_session, scope="function")) -> Response:
    result = whitelists.visible_lists(s, p, PageRequest(page, size, sort or "id", desc), kind=kind or None,
                                      series=series or None)
    prev = {wl.id: whitelists.previous_version(s, wl) for wl in result.items}
    params = urlencode({"kind": kind, "series": series})
    return no_store(render(request, "lists/whitelists_history.html", tab="history", page=result, prev=prev,
                           kind=kind, series=series, params=params, kinds=whitelists.LIST_KINDS,
                           rule_code_of=whitelists.rule_code_of, series_of=whitelists.series_of))


def _list_page(request: Request, s: Session, p: Principal, number: str, q: str, page: int, size: int,
               sort: str | None, desc: bool, done: str = "") -> Response:
    wl = whitelists.get_list(s, p, number)
    bank = p.role == "bank"
    new = bank and whitelists.mark_seen(s, p, [wl]) > 0
    entries = whitelists.entries_page(s, wl, PageRequest(page, size, sort, desc), q)
    prev = whitelists.previous_version(s, wl)
    d = whitelists.diff(s, prev, wl, limit=0) if prev else None
    rule_code = whitelists.rule_code_of(wl)
    messages = {"generated": "名单已生成并推送给订阅方。" if wl.entries else
                "名单已生成：本次没有符合条件的企业（空名单同样是有效的一期名单）。",
                "imported": "重点项目清单已导入并推送给订阅方。"}
    return no_store(render(request, "lists/whitelists_list.html", wl=wl, entries=entries, q=q, prev=prev,
                           diff=d, params=urlencode({"q": q}), bank=bank, new=new,
                           done=messages.get(done, ""),
                           funnel=[] if bank else whitelists.generation_funnel(s, wl),
                           deliveries=[] if bank else whitelists.deliveries_of(s, wl),
                           rule_code=rule_code, rule_name=_rule_name(s, rule_code) or wl.name,
                           kinds=whitelists.LIST_KINDS,
                           base="/bank/whitelists" if bank else "/whitelists/lists"))


def _rule_name(s: Session, code: str | None) -> str | None:
    """The rule's name as its latest version here calls it (a list received from another node has no rule row
    here: the caller falls back to the list's own name)."""
    versions = whitelists.rule_versions(s, code) if code else []
    return versions[0].name if versions else None


@router.get("/whitelists/lists/{number}", response_class=HTMLResponse)
def list_page(number: str, request: Request, q: str = "", page: PageNo = 1, size: PageSize = 50,
              sort: str | None = None, desc: bool = False, done: str = "",
              p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
              ) -> Response:
    return _list_page(request, s, p, number, q, page, size, sort, desc, done)


@router.get("/whitelists/lists/{number}/diff", response_class=HTMLResponse)
def diff_page(number: str, request: Request, p: Principal = Depends(require(*STAFF)),
              s: Session = Depends(db_session, scope="function")) -> Response:
    wl = whitelists.get_list(s, p, number)
    d = whitelists.diff(s, whitelists.previous_version(s, wl), wl)
    return no_store(render(request, "lists/whitelists_diff.html", tab="history", d=d))


def _csv(s: Session, wl: WhiteList) -> Response:
    return Response(whitelists.csv_text(s, wl), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{wl.number}.csv"', "Cache-Control": "no-store"})


@router.get("/whitelists/lists/{number}/csv")
def list_csv(number: str, p: Principal = Depends(require(*STAFF)),
             s: Session = Depends(db_session, scope="function")) -> Response:
    return _csv(s, whitelists.get_list(s, p, number))


# ── subscriptions ───────────────────────────────────────────────────────────────────────────────────────

def _subscriptions(request: Request, s: Session, status_code: int = 200, error: DomainError | None = None,
                   done: str = "", form: dict[str, str] | None = None) -> Response:
    insts = s.execute(select(FinancialInstitution.code, FinancialInstitution.name)
                      .where(FinancialInstitution.status == "active")
                      .order_by(FinancialInstitution.name)).all()
    peers = list(s.execute(select(Peer).where(Peer.relation.in_(("parent", "child")))
                           .order_by(Peer.code)).scalars())
    codes = sorted({rs.code for rs in whitelists.rule_sets(s)})
    return no_store(render(request, "lists/whitelists_subscriptions.html", status_code=status_code,
                           tab="subscriptions", subs=whitelists.subscriptions(s), insts=insts, peers=peers,
                           rule_codes=codes, kinds=whitelists.LIST_KINDS, error=error,
                           done=DONE.get(done, ""), form=form or {}))


@router.get("/whitelists/subscriptions", response_class=HTMLResponse)
def subscriptions_page(request: Request, done: str = "", p: Principal = Depends(require(*STAFF)),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    return _subscriptions(request, s, done=done)


@router.post("/whitelists/subscriptions")
def subscribe(request: Request, subscriber_kind: str = Form(...), institution: str = Form(""),
              peer: str = Form(""), list_kind: str = Form(...), rule_code: str = Form(""),
              p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
              ) -> Response:
    subscriber = institution if subscriber_kind == "institution" else peer
    try:
        # A peer subscriber needs the network context now: its first list is queued at once.
        here = _node(request, s) if subscriber_kind != "peer" else _ctx(request)
        whitelists.subscribe(s, p, subscriber_kind, subscriber, list_kind, rule_code, here)
    except DomainError as exc:
        s.rollback()
        return _subscriptions(request, s, exc.status, exc, form={
            "subscriber_kind": subscriber_kind, "institution": institution, "peer": peer,
            "list_kind": list_kind, "rule_code": rule_code})
    return RedirectResponse("/whitelists/subscriptions?done=subscribed", status_code=303)


def _ctx(request: Request) -> relay.NodeContext:
    from xinyidai.network import runtime

    return runtime.context(request.app)


@router.post("/whitelists/subscriptions/{sub_id}/delete")
def unsubscribe(sub_id: SmallRowId, p: Principal = Depends(require(*STAFF)),
                s: Session = Depends(db_session, scope="function")) -> Response:
    whitelists.unsubscribe(s, p, sub_id)
    return RedirectResponse("/whitelists/subscriptions?done=unsubscribed", status_code=303)


# ── key projects ────────────────────────────────────────────────────────────────────────────────────────

def _keyprojects(request: Request, s: Session, p: Principal, page: int = 1, status_code: int = 200,
                 error: DomainError | None = None, year: int | None = None) -> Response:
    result = whitelists.visible_lists(s, p, PageRequest(page, 20, "id", True), kind="key_projects")
    detail = error.detail if error is not None and isinstance(error.detail, dict) else {}
    errors = detail.get("errors", [])
    total = detail.get("total", len(errors))
    projects = {wl.id: _project_count(s, wl) for wl in result.items}
    return no_store(render(request, "lists/keyprojects.html", status_code=status_code, tab="keyprojects",
                           page=result, params="", error=error, row_errors=errors, error_total=total,
                           year=year or clock.today().year, columns=keyprojects.COLUMNS, projects=projects,
                           people=names_of(s, [wl.created_by for wl in result.items])))


def _project_count(s: Session, wl: WhiteList) -> int:
    details = s.execute(select(WhiteListEntry.detail).where(WhiteListEntry.list_id == wl.id)).scalars()
    return sum(len((d or {}).get("projects") or []) for d in details)


@router.get("/keyprojects", response_class=HTMLResponse)
def keyprojects_page(request: Request, page: PageNo = 1, p: Principal = Depends(require(*STAFF)),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    return _keyprojects(request, s, p, page)


@router.post("/keyprojects/import")
def keyprojects_import(request: Request, file: UploadFile = File(...), year: int = Form(..., ge=1, le=9999),
                       p: Principal = Depends(require(*STAFF)),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    data = file.file.read(keyprojects.MAX_BYTES + 1)
    try:
        wl = keyprojects.import_file(s, data, file.filename or "upload.csv", year, p, _node(request, s))
    except DomainError as exc:
        s.rollback()
        return _keyprojects(request, s, p, 1, exc.status, exc, year)
    return RedirectResponse(f"/whitelists/lists/{wl.number}?done=imported", status_code=303)


# ── bank portal ─────────────────────────────────────────────────────────────────────────────────────────

@router.get("/bank/whitelists", response_class=HTMLResponse)
def bank_lists(request: Request, page: PageNo = 1, size: PageSize = 20, sort: str | None = None,
               desc: bool = True, p: Principal = Depends(require("bank")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    result = whitelists.delivered_to(s, p, PageRequest(page, size, sort or "delivered_at", desc))
    inst = s.get(FinancialInstitution, p.org_code) if p.org_code else None
    unseen = whitelists.unseen_count(s, p)
    return no_store(render(request, "lists/whitelists_bank.html", page=result, params="", inst=inst,
                           unseen=unseen, kinds=whitelists.LIST_KINDS))


@router.get("/bank/whitelists/{number}", response_class=HTMLResponse)
def bank_list(number: str, request: Request, q: str = "", page: PageNo = 1, size: PageSize = 50,
              sort: str | None = None, desc: bool = False, p: Principal = Depends(require("bank")),
              s: Session = Depends(db_session, scope="function")) -> Response:
    return _list_page(request, s, p, number, q, page, size, sort, desc)


@router.get("/bank/whitelists/{number}/csv")
def bank_csv(number: str, p: Principal = Depends(require("bank")),
             s: Session = Depends(db_session, scope="function")) -> Response:
    wl = whitelists.get_list(s, p, number)
    whitelists.mark_seen(s, p, [wl])
    return _csv(s, wl)
