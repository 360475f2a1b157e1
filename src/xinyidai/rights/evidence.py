"""Evidence attached to an objection or a repair application: checked by its bytes (`kit.attachments`),
kept in the database with its SM3 digest, at most `MAX_FILES` per case, read back only by those who may see
the case (the caller checks the case first; `for_case` takes the case, not an id from a URL)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.kit import attachments, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.records.loading import sanitize_filename
from xinyidai.rights.models import Evidence

MAX_FILES = 5


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def add(s: Session, *, entity_code: str, case_kind: str, case_id: int, files: list[Upload], actor: str
        ) -> list[Evidence]:
    """Check every file first, then store them all: one bad file refuses the lot, nothing half-kept."""
    files = [f for f in files if f.data or f.filename]
    have = s.execute(select(func.count()).select_from(Evidence).where(
        Evidence.case_kind == case_kind, Evidence.case_id == case_id)).scalar_one()
    if have + len(files) > MAX_FILES:
        raise InvalidInput(f"每件最多附 {MAX_FILES} 个证明材料文件", code="EVIDENCE_TOO_MANY")
    kinds = [attachments.check(f.data, f.filename) for f in files]
    now = clock.now()
    out = []
    for f, kind in zip(files, kinds, strict=True):
        name = sanitize_filename(f.filename or "")[:200] or f"证明材料.{kind.ext}"
        ev = Evidence(entity_code=entity_code, case_kind=case_kind, case_id=case_id, filename=name,
                      content_type=kind.media_type, size_bytes=len(f.data), digest=sm3_hex(f.data), data=f.data,
                      uploaded_by=actor, uploaded_at=now)
        s.add(ev)
        out.append(ev)
    s.flush()
    return out


def listing(s: Session, case_kind: str, case_id: int) -> list[Evidence]:
    """The case's files without their bytes (the page lists them)."""
    stmt = (select(Evidence).where(Evidence.case_kind == case_kind, Evidence.case_id == case_id)
            .order_by(Evidence.id))
    return list(s.execute(stmt).scalars())


def for_case(s: Session, case_kind: str, case_id: int, evidence_id: int) -> Evidence:
    """One file of a case the caller may already see; another case's file is not found."""
    ev = s.execute(select(Evidence).where(Evidence.id == evidence_id, Evidence.case_kind == case_kind,
                                          Evidence.case_id == case_id)).scalar_one_or_none()
    if ev is None:
        raise NotFound("该证明材料不存在", code="EVIDENCE_NOT_FOUND")
    return ev


__all__ = ["MAX_FILES", "Upload", "add", "for_case", "listing"]
