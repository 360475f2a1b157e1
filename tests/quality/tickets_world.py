"""A node with two departments, their deliveries and a rule set, shared by the ticket tests: findings are written
as rows of a run, as the rule runner writes them, and the run's AFTER_RUN hook (tickets.after_run) is called."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.principal import Principal
from xinyidai.quality import departments, rules, tickets
from xinyidai.quality.models import Finding, QualityRun
from xinyidai.records.models import Delivery

OPERATOR = Principal(31, "op", "运营人员", "operator", None)
TAX = Principal(32, "tax1", "税务局经办", "department", "tax-bureau")
HOUSING = Principal(33, "hf1", "公积金中心经办", "department", "housing-fund")
TAX_NAME, HOUSING_NAME = "黑龙江省税务局", "哈尔滨住房公积金管理中心"


def seed(s: Session) -> None:
    departments.create(s, code="tax-bureau", name=TAX_NAME, region="230000", contact="13800000001", actor="op")
    departments.create(s, code="housing-fund", name=HOUSING_NAME, region="230100", contact="13800000002",
                       actor="op")


def high_rule(s: Session) -> str:
    """A rule of the active (default) set at high severity, so its finding opens a ticket."""
    return next(r.id for r in rules.active(s).rules if r.severity == "high" and r.ticket)


def run_with(s: Session, findings: list[tuple[str, str, int]], *, scope: str = "all",
             severity: str = "high") -> QualityRun:
    """A finished run holding `(rule_id, provider, affected)` findings, with the tickets hook applied."""
    version = rules.active(s).version
    run = QualityRun(rule_set_version=version, scope=scope, as_of=clock.today(), status="done", total=1, done=1,
                     findings=len(findings), started_by="op", started_at=clock.now(), finished_at=clock.now())
    s.add(run)
    s.flush()
    for rule_id, provider, affected in findings:
        s.add(Finding(run_id=run.id, rule_id=rule_id, dimension="timeliness", severity=severity, provider=provider,
                      category="tax", affected=affected, population=100, sample="[]", message="测试发现"))
    s.flush()
    tickets.after_run(s, run)
    return run


def delivery(s: Session, provider: str, at: datetime | None = None) -> int:
    d = Delivery(provider=provider, category="tax", filename="fix.csv", file_digest="0" * 64, format="csv",
                 submitted_by="tax1", status="loaded", threshold=0.2, received_at=at or clock.now())
    s.add(d)
    s.flush()
    return d.id


def days(n: int) -> date:
    return clock.today() + timedelta(days=n)
