"""Feature snapshots and evaluation runs: build features as of a date, evaluate every entity (or those whose
records changed) by the active indicator system and scorecards, and read results back for pages and reports.

A run writes in chunks and commits each, so progress shows while it works and a SQLite node keeps serving;
results of a run count only once it is `done`, so a run that fails halfway leaves the previous results in
force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import orjson
import polars as pl
from sqlalchemy import Connection, delete, func, or_, select, update
from sqlalchemy.orm import Session

from xinyidai.credit import features as F
from xinyidai.credit import indicators as ind
from xinyidai.credit.frames import SCHEMA, feature_frame
from xinyidai.credit.models import Evaluation, EvaluationRun, FeatureSnapshot, IndicatorSystem
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import audit, bulk, clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import NotFound
from xinyidai.records import marks as record_marks
from xinyidai.records.models import CreditRecord

CHUNK = 100_000
# A "changed" run names its entities in the statements that read their records; past this many it runs over
# every entity instead: PostgreSQL takes at most 65,535 parameters in a statement, and when this many have
# changed, reading everything costs about as much as picking them out.
MAX_CHANGED = 20_000
Progress = Callable[[str, int, int], None]



# ── the indicator system in force ───────────────────────────────────────────────────────────────────────

def active_system(s: Session) -> ind.IndicatorSystem:
    """The active indicator system; the shipped default is stored and activated on first use."""
    row = s.execute(select(IndicatorSystem).where(IndicatorSystem.active)).scalar_one_or_none()
    if row is None:
        spec = ind.default_spec()
        row = s.execute(select(IndicatorSystem).where(IndicatorSystem.version == str(spec["version"]))
                        ).scalar_one_or_none()
        if row is None:
            row = IndicatorSystem(version=str(spec["version"]), name=str(spec["name"]), spec=spec, active=True,
                                  created_at=clock.now(), created_by="system")
            s.add(row)
        row.active = True
        s.flush()
    return ind.parse(row.spec)


def system_version(s: Session, version: str) -> ind.IndicatorSystem:
    row = s.execute(select(IndicatorSystem).where(IndicatorSystem.version == version)).scalar_one_or_none()
    if row is None:
        return active_system(s)
    return ind.parse(row.spec)


def load_system(s: Session, text_: str, actor: str, *, activate: bool = True) -> IndicatorSystem:
    """Store a new indicator-system version (checked first; a clash with an existing version is refused)."""
    system = ind.load_text(text_)
    if s.execute(select(IndicatorSystem.id).where(IndicatorSystem.version == system.version)).first():
        raise ind.IndicatorSystemInvalid(f"指标体系版本 {system.version} 已存在，请使用新的版本号",
                                         code="INDICATORS_VERSION_EXISTS")
    if activate:
        s.execute(update(IndicatorSystem).values(active=False))
    row = IndicatorSystem(version=system.version, name=system.name, spec=system.spec, active=activate,
                          created_at=clock.now(), created_by=actor)
    s.add(row)
    s.flush()
    audit.record(s, actor, "credit.indicators.load", f"indicators:{system.version}", active=activate,
                 indicators=len(system.indicators))
    return row


def list_systems(s: Session) -> list[IndicatorSystem]:
    active_system(s)
    return list(s.execute(select(IndicatorSystem).order_by(IndicatorSystem.id.desc())).scalars())


# ── feature snapshots ───────────────────────────────────────────────────────────────────────────────────

def _snapshot_rows(s: Session, as_of: date, codes: list[str] | None, now: Any, as_of_v: Any
                   ) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    for code, feats, n in F.iter_entity_features(s, as_of, codes):
        seen.add(code)
        missing = sorted(F.unavailable_for_features(feats))
        yield (code, as_of_v, F.FEATURE_SET, orjson.dumps(feats).decode(), n, ",".join(missing) or None, now)
    # Entities on the register without a single record as of the date: an explicit "no data" snapshot, so
    # their evaluation says "insufficient data" instead of being silently absent.
    stmt = select(MarketEntity.code)
    if codes is not None:
        stmt = stmt.where(MarketEntity.code.in_(codes))
    for (code,) in s.execute(stmt):
        if code not in seen:
            yield (code, as_of_v, F.FEATURE_SET, "{}", 0, None, now)


FEATURE_BATCH = 10_000  # snapshots written (and progress reported) at a time


def build_features(db: Database, as_of: date, codes: list[str] | None = None,
                   progress: Progress | None = None) -> int:
    """Compute and store the features of every entity (or of `codes`) as of `as_of`; returns how many.

    Each batch is written and committed on its own, while one read goes over the records: a progress report
    between batches (a run's, from another connection) would otherwise wait on SQLite for the write lock
    this build held until its end, and fail after the busy timeout. A build that fails part-way leaves
    some snapshots of `as_of`; the next build of that date wipes them first, as this one does."""
    cols = ("entity_code", "as_of", "feature_set", "data", "records", "unavailable", "computed_at")
    with db.write_lock, db.session() as w:
        wipe = delete(FeatureSnapshot).where(FeatureSnapshot.as_of == as_of)
        if codes is None:
            w.execute(wipe)
        else:
            for i in range(0, len(codes), 5000):
                w.execute(wipe.where(FeatureSnapshot.entity_code.in_(codes[i:i + 5000])))

    def write(batch: list[tuple[Any, ...]]) -> None:
        with db.write_lock, db.session() as w:
            bulk.insert_rows(w.connection(), "credit_features", cols, batch)

    n = 0
    with db.session() as s:
        conn = s.connection()
        now, as_of_v = bulk.constant(conn, clock.now()), bulk.constant(conn, as_of)
        batch: list[tuple[Any, ...]] = []
        for row in _snapshot_rows(s, as_of, codes, now, as_of_v):
            batch.append(row)
            if len(batch) >= FEATURE_BATCH:
                write(batch)
                n += len(batch)
                batch = []
                if progress:
                    progress("features", n, 0)
    if batch:
        write(batch)
        n += len(batch)
    return n


# ── runs ────────────────────────────────────────────────────────────────────────────────────────────────

def changed_since(s: Session, since: datetime) -> list[str]:
    """Entities with a record received, corrected or withdrawn since `since`."""
    stmt = select(CreditRecord.entity_code).distinct().where(
        or_(CreditRecord.received_at > since, CreditRecord.superseded_at > since))
    return [c for (c,) in s.execute(stmt)]


def last_done_run(s: Session) -> EvaluationRun | None:
    return s.execute(select(EvaluationRun).where(EvaluationRun.status == "done", EvaluationRun.scope == "all")
                     .order_by(EvaluationRun.id.desc()).limit(1)).scalar_one_or_none()


def start_run(db: Database, as_of: date, scope: str, actor: str, codes: list[str] | None = None) -> int:
    with db.session() as s:
        system = active_system(s)
        run = EvaluationRun(as_of=as_of, scope=scope, indicator_version=system.version, model_ids=[],
                            status="running", phase="features", total=len(codes) if codes is not None else 0,
                            done=0, insufficient=0, grades={}, started_by=actor, started_at=clock.now())
        s.add(run)
        s.flush()
        audit.record(s, actor, "credit.evaluation.start", f"evaluation:{run.id}", as_of=as_of.isoformat(),
                     scope=scope)
        return run.id


def _set(db: Database, run_id: int, **values: Any) -> None:
    with db.write_lock, db.session() as s:
        s.execute(update(EvaluationRun).where(EvaluationRun.id == run_id).values(**values))


def execute_run(db: Database, run_id: int, codes: list[str] | None = None, *, rebuild_features: bool = True,
                scorers: list[Any] | None = None) -> EvaluationRun:
    """Carry out a started run: (re)build the features, then evaluate in chunks, committing each."""
    with db.session() as s:
        run = s.get(EvaluationRun, run_id)
        if run is None:
            raise NotFound("未找到该评价批次", code="RUN_NOT_FOUND")
        as_of, version = run.as_of, run.indicator_version
        system = system_version(s, version)
        if scorers is None:
            from xinyidai.credit import scorecards

            scorers = scorecards.scorers(s)
    try:
        if rebuild_features:
            build_features(db, as_of, codes, progress=lambda _p, n, _t: _set(db, run_id, phase="features", done=n))
        with db.session() as s:
            frame = feature_frame(s.connection(), as_of, codes)
        _set(db, run_id, phase="evaluating", total=frame.height, done=0,
             model_ids=[sc.model_id for sc in scorers])
        grades: dict[str, int] = {}
        insufficient = done = 0
        for start in range(0, frame.height, CHUNK):
            chunk = frame.slice(start, CHUNK)
            out = ind.apply(system, chunk)
            with db.write_lock, db.session() as s:
                write_results(s.connection(), run_id, as_of, system.version, out, chunk, scorers)
            done += chunk.height
            insufficient += int((out["status"] == "insufficient").sum())
            for g, c in out.group_by("grade").len().iter_rows():
                if g is not None:
                    grades[g] = grades.get(g, 0) + int(c)
            _set(db, run_id, done=done, insufficient=insufficient, grades=dict(grades))
        _set(db, run_id, status="done", phase="done", finished_at=clock.now())
    except Exception as exc:
        _set(db, run_id, status="failed", phase="failed", message=f"{type(exc).__name__}: {exc}"[:2000],
             finished_at=clock.now())
        raise
    with db.session() as s:
        return s.get(EvaluationRun, run_id)  # type: ignore[return-value]


EVAL_COLS = ("run_id", "entity_code", "as_of", "method", "model_ref", "status", "score", "grade", "moves",
             "computed_at")


def write_results(conn: Connection, run_id: int, as_of: date, version: str, out: pl.DataFrame,
                  frame: pl.DataFrame, scorers: list[Any]) -> None:
    """Store a chunk's public evaluation and, beside it, each scorecard's score."""
    as_of_v, now = bulk.constant(conn, as_of), bulk.constant(conn, clock.now())
    head = (run_id,)
    rows = ((*head, code, as_of_v, "public", version, status, score, grade, moves or None, now)
            for code, status, score, grade, moves in out.select("entity_code", "status", "score", "grade", "moves")
            .iter_rows())
    bulk.insert_rows(conn, "credit_evaluations", EVAL_COLS, rows)
    for sc in scorers:
        scores, grades, status, moves = sc.score_frame(frame)
        rows = ((*head, code, as_of_v, "scorecard", sc.ref, st, sv, g, m, now)
                for code, st, sv, g, m in zip(frame["entity_code"].to_list(), status, scores, grades, moves,
                                              strict=True))
        bulk.insert_rows(conn, "credit_evaluations", EVAL_COLS, rows)


def evaluate_all(db: Database, as_of: date, actor: str) -> EvaluationRun:
    run_id = start_run(db, as_of, "all", actor)
    return execute_run(db, run_id)


def evaluate_changed(db: Database, as_of: date, actor: str) -> EvaluationRun | None:
    """Re-evaluate the entities whose records changed since the last complete run (None: nothing changed)."""
    with db.session() as s:
        last = s.execute(select(EvaluationRun).where(EvaluationRun.status == "done")
                         .order_by(EvaluationRun.id.desc()).limit(1)).scalar_one_or_none()
        codes = changed_since(s, last.started_at) if last else None
    if codes is not None and not codes:
        return None
    if codes is not None and len(codes) > MAX_CHANGED:
        codes = None  # see MAX_CHANGED
    run_id = start_run(db, as_of, "changed" if codes is not None else "all", actor, codes)
    return execute_run(db, run_id, codes)


# ── reading results ─────────────────────────────────────────────────────────────────────────────────────

def _done_runs() -> Any:
    return select(EvaluationRun.id).where(EvaluationRun.status == "done")


def latest(s: Session, code: str, method: str = "public", as_of: date | None = None) -> Evaluation | None:
    """The entity's most recent result by `method` from a completed run (as of a date, if given)."""
    stmt = select(Evaluation).where(Evaluation.entity_code == code, Evaluation.method == method,
                                    Evaluation.run_id.in_(_done_runs()))
    if as_of is not None:
        stmt = stmt.where(Evaluation.as_of <= as_of)
    return s.execute(stmt.order_by(Evaluation.as_of.desc(), Evaluation.run_id.desc()).limit(1)).scalar_one_or_none()


def trend(s: Session, code: str, limit: int = 24) -> list[dict[str, Any]]:
    """The entity's public results over time, one per as-of date (the latest run for each), oldest first."""
    rows = s.execute(select(Evaluation.as_of, Evaluation.score, Evaluation.grade, Evaluation.status,
                            Evaluation.run_id)
                     .where(Evaluation.entity_code == code, Evaluation.method == "public",
                            Evaluation.run_id.in_(_done_runs()))
                     .order_by(Evaluation.as_of.desc(), Evaluation.run_id.desc())).all()
    by_date: dict[date, Any] = {}
    for r in rows:
        by_date.setdefault(r.as_of, r)
    picked = sorted(by_date.values(), key=lambda r: r.as_of)[-limit:]
    return [{"as_of": r.as_of.isoformat(), "score": r.score, "grade": r.grade, "status": r.status}
            for r in picked]


def snapshot(s: Session, code: str, as_of: date) -> tuple[dict[str, Any], int, list[str]]:
    """Stored features of the entity as of the date, or computed now if none are stored."""
    row = s.get(FeatureSnapshot, (code, as_of))
    if row is not None:
        return orjson.loads(row.data), row.records, (row.unavailable or "").split(",") if row.unavailable else []
    feats, n = F.entity_features(s, code, as_of)
    return feats, n, sorted(F.unavailable_for_features(feats)) if n else []


def evaluate_one(s: Session, code: str, as_of: date) -> dict[str, Any]:
    """The public evaluation of one entity as of a date, computed now (same code path as a batch run)."""
    if s.get(MarketEntity, code) is None and not s.execute(
            select(CreditRecord.id).where(CreditRecord.entity_code == code).limit(1)).first():
        raise NotFound("未找到该市场主体", code="ENTITY_NOT_FOUND")
    system = active_system(s)
    feats, n, missing = snapshot(s, code, as_of)
    frame = pl.DataFrame([{"entity_code": code, "records": n, **{k: feats.get(k) for k in SCHEMA}}],
                         schema={"entity_code": pl.Utf8, "records": pl.Int64, **SCHEMA})
    out = ind.apply(system, frame).row(0, named=True)
    return with_marks(s, system, describe(system, code, as_of, out["status"], out["score"], out["grade"],
                                          out["moves"], feats, missing))


def describe(system: ind.IndicatorSystem, code: str, as_of: date, status: str, score: float | None,
             grade: str | None, moves: str | None, feats: dict[str, Any], missing: list[str]) -> dict[str, Any]:
    explained = ind.explain(system, feats, moves) if status == "ok" else []
    band = system.band(grade) if grade else None
    return {"entity_code": code, "as_of": as_of.isoformat(), "status": status, "score": score, "grade": grade,
            "grade_label": band.label if band else "数据不足",
            "indicator_version": system.version, "indicator_name": system.name,
            "reasons": ind.reason_lines(explained), "explained": explained,
            "missing_categories": missing, "features": feats,
            "message": None if status == "ok" else "该主体在评价日前没有任何信用记录，数据不足，不予评价"}


def result_for(s: Session, code: str) -> dict[str, Any] | None:
    """The latest stored public result of an entity, explained."""
    ev = latest(s, code)
    if ev is None:
        return None
    system = system_version(s, ev.model_ref)
    feats, _, missing = snapshot(s, code, ev.as_of)
    out = with_marks(s, system, describe(system, code, ev.as_of, ev.status, ev.score, ev.grade, ev.moves, feats,
                                         missing))
    out["run_id"], out["computed_at"] = ev.run_id, ev.computed_at
    return out


MARKED_DEDUCTION = {
    "objection": "所依据的记录正在异议处理中，暂按现有记录计算，异议办结后重新评价",
    "disputed": "所依据的记录存在异议（双方陈述并存），暂按现有记录计算",
}


def with_marks(s: Session, system: ind.IndicatorSystem, out: dict[str, Any]) -> dict[str, Any]:
    """Say, beside each deduction that rests on a category with a live mark (异议处理中 / 存在异议), what the
    evaluation did with it: it counted the record as it stands. The numbers are not changed."""
    deductions = [x for x in out["explained"] if x["points"] < 0]
    if not deductions:
        return out
    live = record_marks.live_for(s, out["entity_code"])
    kinds: dict[str, set[str]] = {}
    for (category, _), ms in live.items():
        kinds.setdefault(category, set()).update(m.kind for m in ms)
    if not kinds:
        return out
    for x in deductions:
        try:
            feat = F.BY_CODE[system.indicator(x["indicator"]).feature]
        except KeyError:
            continue
        found = set().union(*(kinds.get(c, set()) for c in F.source_category(feat)))
        if found:
            x["marked"] = MARKED_DEDUCTION["objection" if "objection" in found else "disputed"]
    out["reasons"] = [f"{line}（{x['marked']}）" if x.get("marked") else line
                      for line, x in zip(out["reasons"], out["explained"], strict=True)]
    return out


def runs(s: Session, limit: int = 50) -> list[EvaluationRun]:
    return list(s.execute(select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(limit)).scalars())


def grade_distribution(s: Session, run_id: int) -> dict[str, int]:
    rows = s.execute(select(Evaluation.grade, func.count()).where(Evaluation.run_id == run_id,
                                                                   Evaluation.method == "public")
                     .group_by(Evaluation.grade)).all()
    return {g or "数据不足": int(c) for g, c in rows}
