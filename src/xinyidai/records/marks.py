"""Marks on records (异议处理中, 存在异议): placed and lifted by the rights domain, read wherever a record shows.

A mark names a record by (entity, category, record key), so it stays on the record through corrections
(new versions) until it is lifted. Readers ask in one query per page: `live_for(s, entity)`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.records.models import MARK_KINDS, RecordMark

Key = tuple[str, str]  # (category, record_key) within one entity


@dataclass(frozen=True)
class Mark:
    kind: str
    label: str
    ref: str
    statement: str | None
    provider_statement: str | None

    @property
    def footnote(self) -> str:
        """One line for a report's footnote or a verification answer."""
        if self.kind == "objection":
            return f"该记录正在异议处理中（异议编号 {self.ref}），处理结果以平台更新为准。"
        both = f"企业陈述：{self.statement or '未填写'}；提供单位陈述：{self.provider_statement or '未填写'}"
        return f"该记录存在异议，经核查无法确定（异议编号 {self.ref}），双方陈述并存。{both}"


def _mark(m: RecordMark) -> Mark:
    return Mark(kind=m.kind, label=MARK_KINDS.get(m.kind, m.kind), ref=m.ref, statement=m.statement,
                provider_statement=m.provider_statement)


def live_for(s: Session, entity_code: str, categories: Iterable[str] | None = None) -> dict[Key, list[Mark]]:
    """The live marks on one entity's records, by (category, record key)."""
    stmt = select(RecordMark).where(RecordMark.entity_code == entity_code, RecordMark.lifted_at.is_(None))
    if categories is not None:
        stmt = stmt.where(RecordMark.category.in_(list(categories)))
    out: dict[Key, list[Mark]] = defaultdict(list)
    for m in s.execute(stmt.order_by(RecordMark.id)).scalars():
        out[(m.category, m.record_key)].append(_mark(m))
    return dict(out)


def live_for_keys(s: Session, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], list[Mark]]:
    """Live marks for (entity, category, record key) triples from several entities at once."""
    wanted = list(set(keys))
    out: dict[tuple[str, str, str], list[Mark]] = defaultdict(list)
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        stmt = select(RecordMark).where(
            RecordMark.lifted_at.is_(None),
            tuple_(RecordMark.entity_code, RecordMark.category, RecordMark.record_key).in_(chunk))
        for m in s.execute(stmt.order_by(RecordMark.id)).scalars():
            out[(m.entity_code, m.category, m.record_key)].append(_mark(m))
    return dict(out)


def place(s: Session, *, entity_code: str, category: str, record_key: str, kind: str, ref: str,
          statement: str | None = None, provider_statement: str | None = None) -> RecordMark:
    """Put a mark on a record (the caller audits the step that caused it, in the same transaction)."""
    if kind not in MARK_KINDS:
        raise ValueError(f"unknown mark kind {kind!r}")
    m = RecordMark(entity_code=entity_code, category=category, record_key=record_key, kind=kind, ref=ref,
                   statement=statement, provider_statement=provider_statement, placed_at=clock.now())
    s.add(m)
    s.flush()
    return m


def lift(s: Session, ref: str, kind: str | None = None) -> int:
    """Lift the live marks an objection placed (all kinds, or one); returns how many."""
    stmt = update(RecordMark).where(RecordMark.ref == ref, RecordMark.lifted_at.is_(None))
    if kind is not None:
        stmt = stmt.where(RecordMark.kind == kind)
    return s.execute(stmt.values(lifted_at=clock.now())).rowcount or 0


__all__ = ["Mark", "lift", "live_for", "live_for_keys", "place"]
