"""A credit report as a document: what both renderers (HTML page and PDF) draw, and what is signed.

The assembler (`credit.reports`) fills it from the database; the renderers never query anything, so the
HTML and the PDF of one report always say the same thing, and the signature covers exactly that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

VERSION_LABELS = {"public": "公开版", "authorized": "授权版"}


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str | None = None
    empty_text: str = "无记录"


@dataclass
class Trend:
    """A monthly series or several (e.g. tax paid and declared sales), drawn as a line chart."""

    title: str
    labels: list[str]  # '2026-01' …
    series: dict[str, list[float | None]]  # legend → values aligned with labels
    unit: str = ""


@dataclass
class Section:
    key: str  # summary, registration, public, judicial, operating, ip_rnd, honors, negative, notes
    title: str  # 一、信用概况 …
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    # Footnotes printed at the end of the section (注1 … on a row: that record's 异议 mark, with its text).
    notes: list[str] = field(default_factory=list)


@dataclass
class ReportDocument:
    report_no: str  # XYD-CN230000-20261128-000017
    version: str  # public / authorized
    subject_name: str
    subject_code: str  # USCC
    generated_at: datetime  # aware, UTC; shown in Beijing time
    snapshot_date: date  # data as of this date
    issuer: str  # the platform's name
    grade: str | None  # A+ … D, or None when data is insufficient
    score: float | None
    grade_note: str  # e.g. 评价模型名称与版本, or 数据不足的说明
    reasons: list[str]  # the indicators that moved the score, one line each
    sections: list[Section]
    recipient: str | None = None  # the institution an authorized version was made for
    verification_code: str = ""  # filled after signing
    verify_url: str = ""  # where anyone checks the code

    @property
    def version_label(self) -> str:
        return VERSION_LABELS.get(self.version, self.version)

    def to_dict(self) -> dict[str, Any]:
        """The signed content: everything but the verification fields that the signature produces."""
        d = asdict(self)
        d.pop("verification_code")
        d.pop("verify_url")
        d["generated_at"] = self.generated_at.isoformat()
        d["snapshot_date"] = self.snapshot_date.isoformat()
        return d
