"""The third parties that process data for an institution (数据处理受托方, notice point 九).

The institution's administrator declares each one (name, credit code, purpose, the catalogue categories it
handles, the contract's end) and withdraws it; every declaration and withdrawal is audited. The live ones (not
withdrawn, contract not ended) are named in the authorization text the enterprise confirms and on every
export. The catalogue sits above this domain, so callers pass the category codes and names it knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.colleagues import administrator
from xinyidai.entities.codes import validate_uscc
from xinyidai.institutions.models import FinancialInstitution, Processor
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.principal import STAFF, Principal

MAX_LIVE = 50  # processors one institution may have at once: a list the enterprise can still read


def today() -> date:
    return clock.now().astimezone(clock.CHINA_TZ).date()


def _admin_institution(s: Session, p: Principal) -> str:
    """The acting bank administrator's institution (only its administrator declares or withdraws)."""
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构的管理员可以申报数据处理受托方", code="ROLE_FORBIDDEN")
    try:
        administrator(s, p)
    except Forbidden:
        raise Forbidden("只有本机构的管理员可以申报或撤回数据处理受托方", code="ORG_ADMIN_ONLY") from None
    return p.org_code


def parse_day(raw: str | date) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        raise InvalidInput("合同到期日应为 YYYY-MM-DD 格式的日期", code="BAD_CONTRACT_END") from None


def declare(s: Session, p: Principal, *, name: str, credit_code: str, purpose: str, categories: Sequence[str],
            contract_end: str | date, known: Mapping[str, str]) -> Processor:
    """Declare a processor for the actor's institution. `known`: the catalogue's category codes → names."""
    inst = _admin_institution(s, p)
    name, purpose = (name or "").strip(), (purpose or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("请填写受托方名称（不超过 200 字）", code="PROCESSOR_NAME_REQUIRED")
    code = validate_uscc(credit_code)  # InvalidUSCC (INVALID_USCC) says what is wrong
    if not purpose or len(purpose) > 1000:
        raise InvalidInput("请填写委托处理的目的（不超过 1000 字）", code="PROCESSOR_PURPOSE_REQUIRED")
    cats = list(dict.fromkeys(c.strip() for c in categories if c and c.strip()))
    if not cats:
        raise InvalidInput("请至少选择一类受托处理的信息", code="NO_CATEGORY")
    unknown = [c for c in cats if c not in known]
    if unknown:
        raise InvalidInput(f"信息类别 {'、'.join(unknown)} 不在信息清单中", code="UNKNOWN_CATEGORY",
                           detail={"categories": unknown})
    end = parse_day(contract_end)
    if end <= today():
        raise InvalidInput("委托合同已到期或当天到期，不能申报；请填写晚于今天的合同到期日", code="CONTRACT_ENDED")
    if any(x.credit_code == code for x in live(s, inst)):
        raise Conflict("该受托方已申报且仍在合同期内，如需变更请先撤回", code="PROCESSOR_EXISTS")
    if len(live(s, inst)) >= MAX_LIVE:
        raise Conflict(f"同时有效的受托方不能超过 {MAX_LIVE} 家", code="TOO_MANY_PROCESSORS")
    x = Processor(institution_code=inst, name=name, credit_code=code, purpose=purpose,
                  categories=",".join(sorted(cats, key=list(known).index)), contract_end=end,
                  declared_by=p.username, declared_at=clock.now())
    s.add(x)
    s.flush()
    audit.record(s, p.username, "institution.processor_declared", f"processor:{x.id}", institution_code=inst,
                 name=name, credit_code=code, purpose=purpose, categories=x.categories.split(","),
                 contract_end=end.isoformat())
    return x


def withdraw(s: Session, p: Principal, processor_id: int, reason: str = "") -> Processor:
    inst = _admin_institution(s, p)
    x = s.execute(select(Processor).where(Processor.id == processor_id, Processor.institution_code == inst)
                  ).scalar_one_or_none()
    if x is None:
        raise NotFound("未找到该受托方", code="PROCESSOR_NOT_FOUND")
    if x.withdrawn_at is not None:
        raise Conflict("该受托方已撤回", code="PROCESSOR_WITHDRAWN")
    x.withdrawn_at = clock.now()
    audit.record(s, p.username, "institution.processor_withdrawn", f"processor:{x.id}", institution_code=inst,
                 name=x.name, credit_code=x.credit_code, reason=(reason or "").strip()[:500] or None)
    return x


def live(s: Session, institution_code: str, on: date | None = None) -> list[Processor]:
    """The processors named from now on: not withdrawn, contract not ended on `on` (today)."""
    on = on or today()
    return list(s.execute(select(Processor).where(
        Processor.institution_code == institution_code, Processor.withdrawn_at.is_(None),
        Processor.contract_end >= on).order_by(Processor.declared_at, Processor.id)).scalars())


def listing(s: Session, p: Principal, institution_code: str | None = None) -> list[Processor]:
    """Every declaration (withdrawn ones too) the actor may read: a bank its own; staff any institution's."""
    if p.role == "bank" and p.org_code:
        code = p.org_code
    elif p.role in STAFF and institution_code:
        code = institution_code.strip().upper()
        if s.get(FinancialInstitution, code) is None:
            raise NotFound("未找到该机构", code="INSTITUTION_NOT_FOUND")
    elif p.role in STAFF:
        return list(s.execute(select(Processor).order_by(Processor.institution_code, Processor.declared_at.desc(),
                                                         Processor.id.desc()).limit(500)).scalars())
    else:
        raise Forbidden("无权查看数据处理受托方", code="ROLE_FORBIDDEN")
    return list(s.execute(select(Processor).where(Processor.institution_code == code)
                          .order_by(Processor.declared_at.desc(), Processor.id.desc())).scalars())


def state(x: Processor, on: date | None = None) -> str:
    if x.withdrawn_at is not None:
        return "已撤回"
    return "合同已到期" if x.contract_end < (on or today()) else "有效"


def describe(x: Processor, names: Mapping[str, str] | None = None) -> str:
    """One line as the authorization text and exports name a processor."""
    cats = "、".join((names or {}).get(c, c) for c in x.categories.split(",") if c)
    return (f"{x.name}（统一社会信用代码 {x.credit_code}；处理目的：{x.purpose}；涉及信息：{cats}；"
            f"合同期至 {x.contract_end.isoformat()}）")
