"""Provider scorecards: per provider and run, a score 0–100 in each dimension and overall, with a grade.

For a provider, the dimension score is 100 × (1 − Σ wᵢ·sᵢ / Σ wᵢ) over the rules of that dimension that
applied to it in the run (an outcome exists: it had records, deliveries or sources the rule looks at), where
sᵢ = affected / population of rule i (capped at 1; a rule without a population counts 1 when it found
something) and wᵢ the severity weight (严重 3, 一般 2, 提示 1). A rule that passes adds its weight with s = 0.
The overall score is the mean of the provider's dimension scores. Grades: A ≥ 90, B ≥ 75, C ≥ 60, else D.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.quality.checks import Outcome
from xinyidai.quality.models import ProviderScore, QualityRun

WEIGHTS = {"high": 3.0, "medium": 2.0, "low": 1.0}


def grade(score: float) -> str:
    return "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D"


def compute(outcomes: Iterable[Outcome]) -> dict[str, dict[str, float]]:
    """provider → {dimension: score, "overall": score}."""
    acc: dict[str, dict[str, list[float]]] = {}
    for o in outcomes:
        w = WEIGHTS.get(o.rule.severity, 1.0)
        share = (min(1.0, o.affected / o.population) if o.population else (1.0 if o.affected else 0.0))
        cell = acc.setdefault(o.provider, {}).setdefault(o.rule.dimension, [0.0, 0.0])
        cell[0] += w * share
        cell[1] += w
    out: dict[str, dict[str, float]] = {}
    for provider, dims in acc.items():
        scores = {d: round(100 * (1 - bad / weight), 1) for d, (bad, weight) in dims.items() if weight}
        scores["overall"] = round(sum(scores.values()) / len(scores), 1) if scores else 100.0
        out[provider] = scores
    return out


def store(s: Session, run_id: int, outcomes: Iterable[Outcome]) -> int:
    n = 0
    for provider, scores in compute(outcomes).items():
        for dim, score in scores.items():
            s.add(ProviderScore(run_id=run_id, provider=provider, dimension=dim, score=score, grade=grade(score)))
            n += 1
    return n


def latest(s: Session) -> tuple[QualityRun | None, list[ProviderScore]]:
    """The latest full run that has scores, and its scores."""
    run = s.scalars(select(QualityRun).where(QualityRun.status == "done", QualityRun.scope == "all")
                    .order_by(QualityRun.id.desc()).limit(1)).first()
    if run is None:
        return None, []
    rows = s.scalars(select(ProviderScore).where(ProviderScore.run_id == run.id)
                     .order_by(ProviderScore.provider, ProviderScore.dimension)).all()
    return run, list(rows)


def history(s: Session, provider: str, limit: int = 30) -> list[tuple[QualityRun, dict[str, float]]]:
    """The provider's scores in its last `limit` full runs, oldest first: the trend."""
    runs = s.scalars(select(QualityRun).where(QualityRun.status == "done", QualityRun.scope == "all",
                                              QualityRun.id.in_(select(ProviderScore.run_id)
                                                                .where(ProviderScore.provider == provider)))
                     .order_by(QualityRun.id.desc()).limit(limit)).all()
    out = []
    for run in reversed(runs):
        rows = s.scalars(select(ProviderScore).where(ProviderScore.run_id == run.id,
                                                     ProviderScore.provider == provider)).all()
        out.append((run, {r.dimension: r.score for r in rows}))
    return out
