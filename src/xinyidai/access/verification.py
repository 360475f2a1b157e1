"""Verification against the data (核验比对): an institution states claims about an entity, the platform
answers match / no match / not determinable for each, and signs a receipt. The values never leave.

A claim names a category, optionally an item, an operator and a value, an aggregate over the records in a
period, and equality filters, e.g.
  {"category": "tax", "item": "tax_paid", "aggregate": "sum", "op": "ge", "value": "500000",
   "period_from": "2025-01", "period_to": "2025-12"}            2025 tax paid ≥ 500,000
  {"category": "social_insurance", "item": "insured_count", "aggregate": "latest", "op": "eq", "value": "37"}
  {"category": "judicial", "op": "not_exists", "period_from": "2024-01", "where": {"case_type": "执行案件"}}
Verification is served only under a live authorization in 核验比对 mode covering every claimed category
(the same enforced query as sharing.py). Repeating value claims on one item (a binary search on an amount)
is limited per 24 hours and raises an alert. A request id makes the call idempotent: the same id returns the
stored answer and spends nothing.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.access import sharing
from xinyidai.access.anomalies import raise_alert
from xinyidai.access.authorizations import OutOfScope, diagnose
from xinyidai.access.models import VerificationRequest
from xinyidai.access.policy import Policy
from xinyidai.catalog.schema import Catalog
from xinyidai.kit import audit, clock
from xinyidai.kit.audit import Signer
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, DomainError, InvalidInput
from xinyidai.records import marks as record_marks

VALUE_OPS = ("eq", "ne", "ge", "gt", "le", "lt")
MAX_CLAIMS = 20
# A claim's answer as people read it (the bank's page, the audit log); programs get the code.
OUTCOME_LABELS = {"match": "相符", "no_match": "不符", "undeterminable": "无法判断"}
_PERIOD = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class ProbingLimited(DomainError):
    code = "PROBING_LIMITED"
    status = 429
    message = "对同一字段的核验过于频繁，疑似试探数值，已暂停；请 24 小时后再试或联系平台"


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1)
    item: str | None = None
    op: Literal["eq", "ne", "ge", "gt", "le", "lt", "exists", "not_exists"]
    value: str | None = Field(default=None, max_length=200)
    aggregate: Literal["latest", "sum", "max", "min", "count", "any"] = "latest"
    period_from: str | None = None
    period_to: str | None = None
    where: dict[str, str] = Field(default_factory=dict)


def _period_bound(text: str | None, end: bool) -> date | None:
    if not text:
        return None
    if not _PERIOD.match(text):
        raise InvalidInput(f"期间 {text} 应写作 YYYY、YYYY-MM 或 YYYY-MM-DD", code="BAD_PERIOD")
    parts = [int(x) for x in text.split("-")]
    try:
        if len(parts) == 1:
            return date(parts[0], 12, 31) if end else date(parts[0], 1, 1)
        if len(parts) == 2:
            if not end:
                return date(parts[0], parts[1], 1)
            nxt = date(parts[0] + (parts[1] == 12), parts[1] % 12 + 1, 1)
            return nxt - timedelta(days=1)
        return date(*parts)
    except ValueError:
        raise InvalidInput(f"期间 {text} 不是有效日期", code="BAD_PERIOD") from None


def _check_claims(catalog: Catalog, claims: list[Claim]) -> None:
    if not 1 <= len(claims) <= MAX_CLAIMS:
        raise InvalidInput(f"每次核验 1 到 {MAX_CLAIMS} 项声明", code="BAD_CLAIMS")
    for i, c in enumerate(claims, 1):
        try:
            cat = catalog.category(c.category)
        except KeyError:
            raise InvalidInput(f"第 {i} 项：信息类别 {c.category} 不在信息清单中", code="UNKNOWN_CATEGORY") from None
        for code in [c.item, *c.where] if c.item else list(c.where):
            try:
                cat.item(code)
            except KeyError:
                raise InvalidInput(f"第 {i} 项：“{cat.name}”没有字段 {code}", code="UNKNOWN_ITEM") from None
        if c.op in VALUE_OPS:
            if c.item is None or c.value is None:
                raise InvalidInput(f"第 {i} 项：比较声明须给出字段和值", code="BAD_CLAIMS")
            numeric = cat.item(c.item).type in ("integer", "decimal")
            if c.op not in ("eq", "ne") and not numeric and c.aggregate != "count":
                raise InvalidInput(f"第 {i} 项：只有数值字段可比较大小", code="BAD_CLAIMS")
            # Refused here, before a use of the authorization is spent: answered, such a claim could only
            # ever be "无法判断", and it would still cost the enterprise's limited uses and a signed receipt.
            if c.aggregate in ("sum", "max", "min") and not numeric:
                raise InvalidInput(f"第 {i} 项：“{cat.item(c.item).name}”不是数值字段，不能求合计、最大或最小值",
                                   code="INVALID_CLAIM")
            if (numeric or c.aggregate == "count") and _finite(c.value) is None:
                raise InvalidInput(f"第 {i} 项：比较值“{c.value}”不是数字（请填写如 500000 或 12.5 的数值）",
                                   code="INVALID_CLAIM")
        _period_bound(c.period_from, False)
        _period_bound(c.period_to, True)


def _num(v: Any) -> Decimal | None:
    try:
        return Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None


def _finite(text: str) -> Decimal | None:
    """A claim's value as a number, or None: NaN and infinities are not numbers a record can be compared to."""
    n = _num(text.strip())
    return n if n is not None and n.is_finite() else None


def _compare(op: str, left: Any, right: str, numeric: bool) -> bool | None:
    if numeric:
        a, b = _num(left), _num(right)
        if a is None or b is None:
            return None
    else:
        a, b = str(left), right.strip()
    return {"eq": a == b, "ne": a != b, "ge": a >= b, "gt": a > b, "le": a <= b, "lt": a < b}[op]


def chosen_records(claim: Claim, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records a claim rests on: those in its period that meet its equality filters."""
    lo, hi = _period_bound(claim.period_from, False), _period_bound(claim.period_to, True)
    chosen = []
    for r in records:
        start, end = r["period_start"] or r["period_end"], r["period_end"] or r["period_start"]
        if lo and end and end < lo:
            continue
        if hi and start and start > hi:
            continue
        if any(str(r["fields"].get(k, "")) != v for k, v in claim.where.items()):
            continue
        chosen.append(r)
    return chosen


def evaluate(catalog: Catalog, claim: Claim, records: list[dict[str, Any]]) -> tuple[str, str]:
    """(outcome, reason) for one claim over the entity's current records of its category, given as
    {"period_start", "period_end", "fields"}."""
    chosen = chosen_records(claim, records)
    if claim.op == "exists":
        return ("match", "存在符合条件的记录") if chosen else ("no_match", "不存在符合条件的记录")
    if claim.op == "not_exists":
        return ("match", "不存在符合条件的记录") if not chosen else ("no_match", "存在符合条件的记录")
    assert claim.item is not None and claim.value is not None
    item = catalog.category(claim.category).item(claim.item)
    numeric = item.type in ("integer", "decimal")
    if claim.aggregate == "count":
        ok = _compare(claim.op, len(chosen), claim.value, True)
        return ("undeterminable", "比较值不是数字") if ok is None else (("match" if ok else "no_match"), "按记录数比较")
    values = [r["fields"].get(claim.item) for r in chosen if r["fields"].get(claim.item) not in (None, "")]
    if not values:
        return "undeterminable", "该期间没有可供核验的数据"
    if claim.aggregate == "any":
        results = [_compare(claim.op, v, claim.value, numeric) for v in values]
        return ("match", "至少一条记录符合") if any(results) else ("no_match", "没有记录符合")
    if claim.aggregate == "latest":
        latest = max(chosen, key=lambda r: r["period_end"] or r["period_start"] or date.min)
        value = latest["fields"].get(claim.item)
        if value in (None, ""):
            return "undeterminable", "最近一期没有该字段的数据"
    else:
        nums = [_num(v) for v in values]
        if not numeric or any(n is None for n in nums):
            return "undeterminable", "该字段不能做数值汇总"
        value = {"sum": sum(nums, Decimal(0)), "max": max(nums), "min": min(nums)}[claim.aggregate]  # type: ignore[arg-type,type-var]
    ok = _compare(claim.op, value, claim.value, numeric)
    if ok is None:
        return "undeterminable", "比较值不是数字"
    return ("match", "与声明相符") if ok else ("no_match", "与声明不符")


def _probing_count(s: Session, institution: str, entity: str, keys: set[tuple[str, str]]) -> dict:
    since = clock.now() - timedelta(hours=24)
    counts = dict.fromkeys(keys, 0)
    for (claims,) in s.execute(select(VerificationRequest.claims).where(
            VerificationRequest.institution_code == institution, VerificationRequest.entity_code == entity,
            VerificationRequest.created_at >= since)):
        for c in claims:
            k = (c.get("category"), c.get("item"))
            if k in counts and c.get("op") in VALUE_OPS:
                counts[k] += 1
    return counts


# Plain columns on the session's connection: every verification asks this first (see sharing.py).
_PRIOR = select(VerificationRequest.entity_code, VerificationRequest.claims, VerificationRequest.results,
                VerificationRequest.receipt).where(VerificationRequest.institution_code == bindparam("inst"),
                                                   VerificationRequest.request_id == bindparam("rid"))


def _answer_again(s: Session, actor: sharing.Actor, entity: str, claims_json: list[dict[str, Any]]
                  ) -> dict[str, Any] | None:
    """The stored answer to a request id already served (None if it was not), refused if the id now comes
    with another entity or other claims."""
    prior = s.connection().execute(_PRIOR, {"inst": actor.institution_code, "rid": actor.request_id}).first()
    if prior is None:
        return None
    if prior.entity_code != entity or prior.claims != claims_json:
        raise Conflict("该请求编号已用于另一项核验请求", code="REQUEST_ID_REUSED")
    return {"results": prior.results, "receipt": prior.receipt, "replayed": True}


def verify(s: Session, catalog: Catalog, policy: Policy, signer: Signer, node_code: str, actor: sharing.Actor,
           entity_code: str, claims: list[Claim], *, number: str | None = None) -> dict[str, Any]:
    """Answer the claims and sign the receipt. Raises ProbingLimited (after raising an alert, which the
    caller commits) when an item was probed too often."""
    entity = sharing.normalised_code(entity_code)
    if not actor.request_id:
        raise InvalidInput("核验请求须带请求编号 request_id（用于幂等）", code="REQUEST_ID_REQUIRED")
    claims_json = [c.model_dump() for c in claims]
    again = _answer_again(s, actor, entity, claims_json)
    if again is not None:
        return again
    sharing.entity_row(s, entity)
    _check_claims(catalog, claims)
    value_keys = {(c.category, c.item) for c in claims if c.op in VALUE_OPS and c.item}
    if value_keys:
        counts = _probing_count(s, actor.institution_code, entity, value_keys)
        asked = {k: sum(1 for c in claims if (c.category, c.item) == k and c.op in VALUE_OPS) for k in value_keys}
        over = [k for k in value_keys if counts[k] + asked[k] > policy.probing_limit]
        if over:
            raise_alert(s, "probing", actor.institution_code, entity,
                        f"24 小时内对同一字段核验超过 {policy.probing_limit} 次（{'、'.join(f'{a}.{b}' for a, b in over)}），疑似试探数值",
                        window=f"{actor.institution_code}:{entity}:{clock.now():%Y%m%d}",
                        detail={"items": [f"{a}.{b}" for a, b in over]}, severity="high")
            raise ProbingLimited()
    needed = sorted({c.category for c in claims})
    # Only the authorizations covering a claimed category are spent (and named on the receipt).
    basis = sharing.spend_serving(s, actor, entity, "核验", ("核验比对",), number, True,
                                  lambda scopes: {g[0] for c in needed for g in scopes.get(c, [])})
    auths, scopes = basis.auths, basis.scopes
    missing = [c for c in needed if c not in scopes]
    if missing:
        if not auths:
            raise diagnose(s, actor.institution_code, entity, "核验", missing[0], ("核验比对",), number)
        raise OutOfScope(f"以下类别不在核验授权范围内：{'、'.join(catalog.category(c).name for c in missing)}")
    # The records come through the same enforced statement as every other read.
    # A penalty whose publication is over (ended or repaired) is not served at any tier, verification included.
    records = sharing.published_only(catalog, sharing.readable_records(
        s, actor, entity, [], [a[0] for a in auths], needed, facts_only=True), clock.today())
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_cat.setdefault(r.category, []).append(
            {"period_start": r.period_start, "period_end": r.period_end, "fields": orjson.loads(r.content),
             "key": r.record_key})
    live = record_marks.live_for(s, entity, needed) if records else {}
    results = []
    for i, c in enumerate(claims):
        allowed = {it for _, _, items in scopes[c.category] if items for it in items}
        limited = all(items for _, _, items in scopes[c.category])
        if limited and any(k not in allowed for k in [c.item, *c.where] if k):
            outcome, reason = "undeterminable", "所涉字段不在授权范围内"
        else:
            outcome, reason = evaluate(catalog, c, by_cat.get(c.category, []))
        result = {"index": i, "outcome": outcome, "reason": reason}
        # An answer that rests on a marked record (异议处理中 / 存在异议) says so, and so does its receipt.
        notes = [m.footnote for r in chosen_records(c, by_cat.get(c.category, []))
                 for m in live.get((c.category, r["key"]), [])] if live else []
        if notes:
            result["disputed"] = "；".join(dict.fromkeys(notes))
        results.append(result)
    now = clock.now()
    statement = {
        "kind": "xinyidai.verification.receipt", "node": node_code, "request_id": actor.request_id,
        "institution": actor.institution_code, "entity": entity,
        "authorizations": sorted({n for _, n, _ in auths}),
        "claims_digest": sm3_hex(orjson.dumps(claims_json, option=orjson.OPT_SORT_KEYS)),
        "results": [{"index": r["index"], "outcome": r["outcome"],
                     **({"disputed": r["disputed"]} if "disputed" in r else {})} for r in results],
        "at": now.isoformat(),
    }
    body = orjson.dumps(statement, option=orjson.OPT_SORT_KEYS)
    receipt = {"statement": statement, "suite": signer.suite, "key_id": signer.key_id,
               "signature": signer.sign(body).hex()}
    try:
        s.connection().execute(insert(VerificationRequest).values(
            institution_code=actor.institution_code, request_id=actor.request_id, entity_code=entity,
            authorization_id=auths[0][0], requested_by=actor.username, claims=claims_json, results=results,
            receipt=receipt, created_at=now))
    except IntegrityError:
        # The same request id raced in on another connection and committed first (PostgreSQL makes this
        # insert wait for it): undo this attempt, its use of the authorization too, and answer as a replay.
        s.rollback()
        again = _answer_again(s, actor, entity, claims_json)
        if again is None:
            raise
        return again
    audit.record(s, actor.username, "access.verify", f"entity:{entity}", entity_code=entity,
                 institution_code=actor.institution_code, request_id=actor.request_id, purpose="核验",
                 authorizations=statement["authorizations"],
                 categories=needed, outcomes=[r["outcome"] for r in results])
    return {"results": results, "receipt": receipt, "replayed": False}


def receipt_message(receipt: dict[str, Any]) -> bytes:
    """The bytes a receipt's signature covers (for anyone checking it)."""
    return orjson.dumps(receipt["statement"], option=orjson.OPT_SORT_KEYS)
