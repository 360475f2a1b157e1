"""Running a rule set: a QualityRun with progress, its findings and, for a full run, the providers' scores.

The run row is committed first and its progress (current rule, rules done) after each kind's computation, so a
page can poll it. Outcomes are kept in memory (they are aggregates: one per rule and provider) and written in
one final transaction with the findings, the scores, the run's status and the AFTER_RUN hooks (tickets), so a
failure leaves a failed run naming the rule and no half-written findings.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.quality import checks, rules, scorecards
from xinyidai.quality.models import Finding, QualityRun, RuleSet

# Called inside each run's final transaction, after its findings are flushed (tickets open and close here).
AFTER_RUN: list[Callable[[Session, QualityRun], None]] = []
NIGHTLY_HOUR = 2  # Beijing time


def _scope(rule_ids: list[str] | None, provider: str | None) -> str:
    scope = "all" if not rule_ids else "rule:" + ",".join(rule_ids)
    if provider:
        scope += f"@{provider}"
    return scope[:120]


def start_run(db: Database, catalog: Catalog, actor: str, *, rule_ids: list[str] | None = None,
              provider: str | None = None, as_of: date | None = None) -> int:
    """Create the run (status running) and return its id; `execute_run` does the work."""
    with db.session() as s:
        active = rules.active(s, catalog)
        chosen = _select(active, rule_ids)
        run = QualityRun(rule_set_version=active.version, scope=_scope(rule_ids, provider),
                         as_of=as_of or clock.today(), status="running", total=len(chosen), done=0,
                         started_by=actor, started_at=clock.now())
        s.add(run)
        s.flush()
        audit.record(s, actor, "quality.run.start", f"quality_run:{run.id}", scope=run.scope,
                     version=active.version, rules=len(chosen))
        return run.id


def _select(active: rules.Rules, rule_ids: list[str] | None) -> list[rules.Rule]:
    if not rule_ids:
        return list(active.rules)
    unknown = [r for r in rule_ids if active.by_id(r) is None]
    if unknown:
        raise InvalidInput(f"当前规则集（第 {active.version} 版）中没有规则：{'、'.join(unknown)}",
                           code="RULE_UNKNOWN", detail={"rules": unknown})
    return [r for r in active.rules if r.id in rule_ids]


def _progress(db: Database, run_id: int, current: str, done: int) -> None:
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        if run is not None:
            run.current_rule, run.done = current[:80], done


def execute_run(db: Database, catalog: Catalog, run_id: int,
                progress: Callable[[int, int, str], None] | None = None) -> QualityRun:
    """Run a started run to its end (done or failed); returns the run as stored."""
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        if run is None:
            raise NotFound(f"没有第 {run_id} 次质量检查", code="QUALITY_RUN_NOT_FOUND")
        text = s.get(RuleSet, run.rule_set_version).text  # type: ignore[union-attr]
        scope, as_of = run.scope, run.as_of
    parsed = rules.parse(text, catalog)
    rule_part, _, provider = scope.partition("@")
    ids = None if rule_part == "all" else rule_part.removeprefix("rule:").split(",")
    chosen = _select(parsed, ids) if ids else list(parsed.rules)
    by_kind: dict[str, list[rules.Rule]] = {}
    for r in chosen:
        by_kind.setdefault(r.kind, []).append(r)
    outcomes: list[checks.Outcome] = []
    done = 0
    current = ""
    try:
        with db.session() as s:
            ctx = checks.Context(s, catalog, as_of)
            checks.prepare(ctx)
            for kind, group in by_kind.items():
                current = group[0].id if len(group) == 1 else f"{group[0].id} 等 {len(group)} 条"
                _progress(db, run_id, current, done)
                if progress:
                    progress(done, len(chosen), current)
                try:
                    got = checks.KIND_FUNCTIONS[kind](ctx, group)
                except Exception as e:
                    raise _RuleFailed(group, e) from e
                outcomes.extend(o for o in got if not provider or o.provider == provider)
                done += len(group)
            s.rollback()  # read only
        if progress:
            progress(done, len(chosen), "")
        with db.session() as s:
            run = s.get(QualityRun, run_id)
            assert run is not None
            found = 0
            for o in outcomes:
                if o.affected <= 0:
                    continue
                s.add(Finding(run_id=run_id, rule_id=o.rule.id, dimension=o.rule.dimension,
                              severity=o.rule.severity, provider=o.provider, category=o.category, item=o.rule.item,
                              affected=o.affected, population=o.population, measure=o.measure,
                              sample=json.dumps(o.sample[:checks.SAMPLE], ensure_ascii=False, default=str),
                              message=f"{o.rule.name}：{o.message}"))
                found += 1
            if scope == "all":
                scorecards.store(s, run_id, outcomes)
            run.status, run.done, run.findings, run.current_rule = "done", done, found, None
            run.finished_at = clock.now()
            s.flush()
            for hook in AFTER_RUN:
                hook(s, run)
            audit.record(s, "system", "quality.run.done", f"quality_run:{run_id}", findings=found, rules=done)
            return run
    except _RuleFailed as f:
        first = (str(f.cause).splitlines() or [""])[0][:200]
        message = f"规则 {', '.join(r.id for r in f.rules)} 运行失败：{type(f.cause).__name__}: {first}"
    except Exception as e:  # the final write or a hook
        message = f"保存检查结果失败：{type(e).__name__}: {str(e)[:200]}"
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        assert run is not None
        run.status, run.message, run.finished_at = "failed", message, clock.now()
        audit.record(s, "system", "quality.run.failed", f"quality_run:{run_id}", message=message)
        return run


class _RuleFailed(Exception):
    def __init__(self, group: list[rules.Rule], cause: Exception) -> None:
        super().__init__(str(cause))
        self.rules, self.cause = group, cause


def run_rules(db: Database, catalog: Catalog, actor: str, *, rule_ids: list[str] | None = None,
              provider: str | None = None, as_of: date | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> int:
    """Start and run in this thread; the run's id (check its status: done or failed)."""
    run_id = start_run(db, catalog, actor, rule_ids=rule_ids, provider=provider, as_of=as_of)
    execute_run(db, catalog, run_id, progress)
    return run_id


def run_in_background(db: Database, catalog: Catalog, actor: str, **kw: object) -> int:
    """For a page: create the run, work in a daemon thread, return at once (the page polls the run)."""
    run_id = start_run(db, catalog, actor, **kw)  # type: ignore[arg-type]
    threading.Thread(target=execute_run, args=(db, catalog, run_id), daemon=True,
                     name=f"quality-run-{run_id}").start()
    return run_id


def nightly(db: Database, catalog: Catalog, actor: str = "scheduler") -> int | None:
    """The full set once per Beijing day, after 02:00; the run's id, or None when not due. As with the credit
    evaluation, the first full run is a person's decision (on a large node it takes a while), and a full run
    anyone started since 02:00 today counts as today's."""
    now = clock.now().astimezone(clock.CHINA_TZ)
    if now.hour < NIGHTLY_HOUR:
        return None
    since = datetime.combine(now.date(), time(NIGHTLY_HOUR), tzinfo=clock.CHINA_TZ)
    with db.session() as s:
        ever = s.scalar(select(QualityRun.id).where(QualityRun.scope == "all").limit(1))
        seen = s.scalar(select(QualityRun.id).where(QualityRun.scope == "all", QualityRun.started_at >= since)
                        .limit(1))
    if ever is None or seen is not None:
        return None
    return run_rules(db, catalog, actor)


def finding_for(s: Session, run_id: int, rule_id: str, provider: str) -> Finding | None:
    return s.scalars(select(Finding).where(Finding.run_id == run_id, Finding.rule_id == rule_id,
                                           Finding.provider == provider).limit(1)).first()


def latest_run(s: Session, *, full: bool = False) -> QualityRun | None:
    q = select(QualityRun)
    if full:
        q = q.where(QualityRun.scope == "all")
    return s.scalars(q.order_by(QualityRun.id.desc()).limit(1)).first()


def latest_findings(s: Session, *, provider: str | None = None, rule_id: str | None = None) -> list[Finding]:
    """Findings of the latest finished full run (optionally of one provider or rule)."""
    run = s.scalars(select(QualityRun).where(QualityRun.status == "done", QualityRun.scope == "all")
                    .order_by(QualityRun.id.desc()).limit(1)).first()
    if run is None:
        return []
    q = select(Finding).where(Finding.run_id == run.id)
    if provider:
        q = q.where(Finding.provider == provider)
    if rule_id:
        q = q.where(Finding.rule_id == rule_id)
    return list(s.scalars(q.order_by(Finding.id)))


def sample_of(f: Finding) -> list[dict[str, object]]:
    return json.loads(f.sample or "[]")
