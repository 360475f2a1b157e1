"""Idempotent writes of the market API. A write names itself with a request id (`X-Request-Id`; an
institution's writes must) and the answer it got is kept with that id, in the write's own transaction:

* the same id with the same body is answered again from the store, and nothing is done a second time;
* the same id with another body is refused (`REQUEST_ID_REUSED`), since the caller evidently lost track;
* a refused write keeps nothing, so the caller may send it again under the same id once the cause is fixed.

The id belongs to its owner — an institution (all its users and credentials share one space, as they share
one ledger), an enterprise, or a staff user — and is claimed before the work runs: of two requests racing
with one id, the second waits on the unique index and is then answered with the first one's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.db import write_lock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, InvalidInput
from xinyidai.kit.principal import Principal
from xinyidai.market.models import ApiRequest

REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class RequestIdRequired(InvalidInput):
    code = "REQUEST_ID_REQUIRED"
    message = "金融机构的写操作须带请求编号 X-Request-Id（1–64 个字母、数字或 . _ : -，用于幂等：重发同一请求不会重复办理）"


@dataclass(frozen=True)
class Answer:
    """What a write answers: an HTTP status and a JSON body; `replayed` when it comes from the store."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def owner_of(p: Principal) -> str:
    if p.role in ("bank", "enterprise") and p.org_code:
        return p.org_code
    return f"user:{p.username}"[:64]


def request_id_of(p: Principal, raw: str | None) -> str | None:
    """The request id to key the write on; REQUEST_ID_REQUIRED for an institution that sent none."""
    rid = (raw or "").strip()
    if not rid:
        if p.role == "bank":
            raise RequestIdRequired()
        return None
    if not REQUEST_ID.fullmatch(rid):
        raise InvalidInput("请求编号 X-Request-Id 须为 1–64 个字母、数字或 . _ : -（以字母或数字开头）",
                           code="REQUEST_ID_INVALID", detail={"request_id": rid[:80]})
    return rid


def digest_of(operation: str, body: Any) -> str:
    return sm3_hex(orjson.dumps({"operation": operation, "body": body}, option=orjson.OPT_SORT_KEYS, default=str))


def _stored(s: Session, owner: str, rid: str, digest: str) -> Answer | None:
    row = s.execute(select(ApiRequest).where(ApiRequest.owner == owner, ApiRequest.request_id == rid)
                    ).scalar_one_or_none()
    if row is None:
        return None
    if row.digest != digest:
        raise Conflict(f"请求编号 {rid} 已于 {row.at.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M} 用于内容不同的另一请求"
                       "；新的请求请使用新的请求编号", code="REQUEST_ID_REUSED",
                       detail={"request_id": rid, "operation": row.operation})
    body = dict(row.answer)
    if "replayed" in body:
        body["replayed"] = True
    return Answer(row.status_code, body, replayed=True)


def once(s: Session, p: Principal, request_id: str | None, operation: str, body: Any,
         work: Callable[[], Answer]) -> Answer:
    """Run `work` once per request id and commit it with its answer (see the module docstring). Without an
    id (allowed for enterprises and staff) the work simply runs and commits."""
    rid = request_id_of(p, request_id)
    # Committed here, in the handler's thread, under the database's writer lock (see access.runtime.served).
    with write_lock(s):
        try:
            if rid is None:
                answer = work()
                s.commit()
                return answer
            owner, digest = owner_of(p), digest_of(operation, body)
            stored = _stored(s, owner, rid, digest)
            if stored is not None:
                s.rollback()
                return stored
            claim = ApiRequest(owner=owner, request_id=rid, digest=digest, operation=operation[:255],
                               actor=p.username[:64], status_code=0, answer={}, at=clock.now())
            s.add(claim)
            try:
                s.flush()
            except IntegrityError:  # a twin claimed the id and committed meanwhile: answer as it was answered
                s.rollback()
                stored = _stored(s, owner, rid, digest)
                if stored is None:
                    raise
                return stored
            answer = work()
            claim.status_code, claim.answer = answer.status, answer.body
            s.commit()
            return answer
        except BaseException:
            s.rollback()
            raise
