"""Scorecard models as a managed product: trained from loan outcomes (features taken as of each loan's
application date, so nothing the bank could not have known is used), versioned, one active and any number
of challengers scored beside it in every batch run, and monitored (AUC, KS on fresh outcomes; PSI of the
score and of each variable against the training population)."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyidai.credit import features as F
from xinyidai.credit import metrics
from xinyidai.credit.models import LoanOutcome, ModelMonitor, ScorecardModel
from xinyidai.credit.scorecard import InsufficientData, Scorecard, train
from xinyidai.entities.codes import validate_uscc
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import InvalidInput, NotFound

CATEGORICAL = {f.code for f in F.FEATURES if f.kind == "cat"}
CANDIDATES = [f.code for f in F.FEATURES]
SPLIT_SEED = 2026
log = logging.getLogger(__name__)
BASELINE_CAP = 20_000  # training rows kept for stability checks


@dataclass
class Scorer:
    """A stored model ready to score a feature frame in a batch run."""

    model_id: int
    ref: str
    card: Scorecard

    def score_frame(self, frame: pl.DataFrame) -> tuple[list[float | None], list[None], list[str], list[None]]:
        cols = {v: frame[v].to_list() for v in self.card.variables}
        scores = np.round(self.card.score(cols), 1).tolist()
        records = frame["records"].to_list()
        status = ["ok" if n > 0 else "insufficient" for n in records]
        scores = [s if n > 0 else None for s, n in zip(scores, records, strict=True)]
        return scores, [None] * len(scores), status, [None] * len(scores)


def scorers(s: Session) -> list[Scorer]:
    """The active model and the challengers, in that order. A model whose variables are not features of
    this feature set (trained elsewhere, or on an older set) cannot score a run: it is left out and said."""
    rows = s.execute(select(ScorecardModel).where(ScorecardModel.status.in_(("active", "challenger")))
                     .order_by(ScorecardModel.status, ScorecardModel.id)).scalars()
    out = []
    for m in rows:
        card = Scorecard.from_dict(m.spec)
        unknown = [v for v in card.variables if v not in F.BY_CODE]
        if unknown:
            log.warning("model %s v%s left out of batch scoring: unknown features %s", m.name, m.version, unknown)
            continue
        out.append(Scorer(m.id, f"{m.name}:v{m.version}", card))
    return out


# ── outcomes ────────────────────────────────────────────────────────────────────────────────────────────

OUTCOME_COLUMNS = {"机构代码": "institution_code", "贷款编号": "loan_ref", "统一社会信用代码": "entity_code",
                   "申请日期": "applied_on", "观察日期": "observed_on", "是否违约": "defaulted"}
TRUE = {"1", "是", "违约", "true", "y", "yes"}
FALSE = {"0", "否", "正常", "false", "n", "no"}


def import_outcomes(s: Session, data: bytes, actor: str) -> dict[str, int]:
    """Load loan outcomes from CSV (UTF-8 or GB18030; Chinese or English headers). Every row is checked
    first; one bad row rejects the file with its row number and nothing is stored. A loan already known
    (same institution and loan number) is updated, so a file delivered twice changes nothing — unless the
    market labelled it from the platform's repayment reports (source 'market'), which a file does not
    overrule (counted as unchanged)."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text_ = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput("文件编码无法识别，请使用 UTF-8 或 GB18030", code="BAD_ENCODING")
    reader = csv.DictReader(io.StringIO(text_))
    header = {h: OUTCOME_COLUMNS.get(h.strip(), h.strip()) for h in reader.fieldnames or []}
    missing = set(OUTCOME_COLUMNS.values()) - set(header.values())
    if missing:
        raise InvalidInput(f"缺少列：{'、'.join(sorted(missing))}", code="OUTCOME_COLUMNS_MISSING")
    rows, errors = [], []
    for no, raw in enumerate(reader, start=2):
        r = {header[k]: (v or "").strip() for k, v in raw.items() if k in header}
        try:
            rows.append(_outcome(r))
        except ValueError as exc:
            errors.append(f"第 {no} 行：{exc}")
    if errors:
        raise InvalidInput("贷款结果文件有错误，整个文件未导入", code="OUTCOMES_INVALID", detail=errors[:200])
    if not rows:
        raise InvalidInput("文件中没有数据行", code="OUTCOMES_EMPTY")
    new = updated = 0
    now = clock.now()
    for r in rows:
        old = s.execute(select(LoanOutcome).where(LoanOutcome.institution_code == r["institution_code"],
                                                  LoanOutcome.loan_ref == r["loan_ref"])).scalar_one_or_none()
        if old is not None and old.source != "csv":
            continue  # labelled from the platform's own repayment reports, which a file does not overrule
        if old is None:
            s.add(LoanOutcome(**r, created_at=now))
            new += 1
        elif (old.entity_code, old.applied_on, old.observed_on, old.defaulted) != (
                r["entity_code"], r["applied_on"], r["observed_on"], r["defaulted"]):
            old.entity_code, old.applied_on, old.observed_on, old.defaulted = (
                r["entity_code"], r["applied_on"], r["observed_on"], r["defaulted"])
            updated += 1
    s.flush()
    audit.record(s, actor, "credit.outcomes.import", "outcomes", rows=len(rows), new=new, updated=updated)
    return {"rows": len(rows), "new": new, "updated": updated, "unchanged": len(rows) - new - updated}


def _outcome(r: dict[str, str]) -> dict[str, Any]:
    for code_field in ("institution_code", "entity_code"):
        try:
            validate_uscc(r[code_field])
        except Exception:  # noqa: BLE001 - reported as the row's error
            raise ValueError(f"{code_field} {r[code_field]!r} 不是有效的统一社会信用代码") from None
    try:
        applied, observed = date.fromisoformat(r["applied_on"]), date.fromisoformat(r["observed_on"])
    except ValueError:
        raise ValueError("日期应为 YYYY-MM-DD") from None
    if observed < applied:
        raise ValueError("观察日期早于申请日期")
    flag = r["defaulted"].lower()
    if flag not in TRUE | FALSE:
        raise ValueError(f"是否违约应为 是/否 或 1/0，实际为 {r['defaulted']!r}")
    if not r["loan_ref"]:
        raise ValueError("贷款编号为空")
    return {"institution_code": r["institution_code"], "loan_ref": r["loan_ref"][:64],
            "entity_code": r["entity_code"], "applied_on": applied, "observed_on": observed,
            "defaulted": flag in TRUE}


# ── training ────────────────────────────────────────────────────────────────────────────────────────────

def training_frame(s: Session) -> tuple[dict[str, list[Any]], list[int], list[date]]:
    """Each outcome's features as of its application date (point in time), its label and date."""
    outcomes = list(s.execute(select(LoanOutcome).order_by(LoanOutcome.applied_on, LoanOutcome.id)).scalars())
    frame: dict[str, list[Any]] = {c: [] for c in CANDIDATES}
    target, dates = [], []
    by_date: dict[date, list[LoanOutcome]] = {}
    for o in outcomes:
        by_date.setdefault(o.applied_on, []).append(o)
    for day, group in by_date.items():
        feats = {code: f for code, f, _ in F.iter_entity_features(s, day, sorted({o.entity_code for o in group}))}
        for o in group:
            f = feats.get(o.entity_code, {})
            for c in CANDIDATES:
                frame[c].append(f.get(c))
            target.append(int(o.defaulted))
            dates.append(day)
    return frame, target, dates


def _split(n: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A fixed stratified 70/30 split: the same data always gives the same held-out set."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = []
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        test.extend(idx[: int(round(len(idx) * 0.3))])
    mask = np.zeros(n, bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def train_model(s: Session, name: str, actor: str, *, frame: dict[str, list[Any]] | None = None,
                target: list[int] | None = None, categorical: set[str] | None = None, note: str | None = None,
                **params: Any) -> ScorecardModel:
    """Train a new version of `name` (from the stored outcomes unless a frame is given), with held-out
    metrics. It starts as a draft: a person decides to make it active or a challenger."""
    if frame is None:
        frame, target, _ = training_frame(s)
        categorical = CATEGORICAL
    y = np.asarray(target or [], dtype=int)
    if len(y) == 0:
        raise InsufficientData("尚无贷款结果数据，无法训练评分卡（请先导入贷款结果）", code="INSUFFICIENT_DATA")
    tr, te = _split(len(y), y)
    pick = {c: [v[i] for i in tr] for c, v in frame.items()}
    held = {c: [v[i] for i in te] for c, v in frame.items()}
    card = train(pick, y[tr].tolist(), categorical=categorical, eval_frame=held, eval_target=y[te].tolist(),
                 **params)
    version = (s.execute(select(func.max(ScorecardModel.version)).where(ScorecardModel.name == name))
               .scalar_one() or 0) + 1
    keep = tr[:BASELINE_CAP]
    baseline = {"scores": np.round(card.score({v: [frame[v][i] for i in keep] for v in card.variables}), 2).tolist(),
                "variables": {v: [frame[v][i] for i in keep] for v in card.variables}}
    m = ScorecardModel(name=name, version=version, status="draft", spec=card.to_dict(), metrics=card.metrics,
                       baseline=baseline, training_rows=int(len(y)), trained_at=clock.now(), trained_by=actor,
                       note=note)
    s.add(m)
    s.flush()
    audit.record(s, actor, "credit.model.train", f"model:{m.id}", name=name, version=version,
                 test_auc=(card.metrics.get("test") or {}).get("auc"))
    return m


def set_status(s: Session, model_id: int, status: str, actor: str) -> ScorecardModel:
    """Make a model active (the previous active one retires), a challenger, or retired."""
    if status not in ("active", "challenger", "retired"):
        raise InvalidInput("状态应为 active / challenger / retired", code="BAD_MODEL_STATUS")
    m = s.get(ScorecardModel, model_id)
    if m is None:
        raise NotFound("未找到该评分卡模型", code="MODEL_NOT_FOUND")
    if status == "active":
        s.execute(update(ScorecardModel).where(ScorecardModel.status == "active", ScorecardModel.id != m.id)
                  .values(status="retired"))
    m.status = status
    audit.record(s, actor, "credit.model.status", f"model:{m.id}", status=status)
    return m


# ── monitoring ──────────────────────────────────────────────────────────────────────────────────────────

def monitor(s: Session, model_id: int, as_of: date) -> ModelMonitor:
    """Check a model on the population as of `as_of` (stored features) and on the outcomes observed up to
    then: PSI of the score and of each variable against training; AUC/KS when both classes are present."""
    m = s.get(ScorecardModel, model_id)
    if m is None:
        raise NotFound("未找到该评分卡模型", code="MODEL_NOT_FOUND")
    card = Scorecard.from_dict(m.spec)
    from xinyidai.credit.frames import feature_frame

    pop = feature_frame(s.connection(), as_of)
    pop = pop.filter(pl.col("records") > 0)
    if pop.height == 0:
        raise InsufficientData(f"{as_of} 没有已计算的特征，请先运行该基准日的批量评价", code="INSUFFICIENT_DATA")
    actual = {v: pop[v].to_list() for v in card.variables}
    scores = card.score(actual)
    psi = metrics.psi(np.asarray(m.baseline.get("scores") or []), scores) if m.baseline.get("scores") else None
    psi_vars = metrics.psi_by_variable(card.binnings, m.baseline.get("variables") or {}, actual) \
        if m.baseline.get("variables") else {}
    auc = ks = gini = None
    outcomes = list(s.execute(select(LoanOutcome).where(LoanOutcome.observed_on <= as_of,
                                                        LoanOutcome.applied_on > m.trained_at.date())).scalars())
    labelled = 0
    if outcomes:
        pos = {c: i for i, c in enumerate(pop["entity_code"].to_list())}
        pairs = [(o.defaulted, scores[pos[o.entity_code]]) for o in outcomes if o.entity_code in pos]
        ys = [int(d) for d, _ in pairs]
        labelled = len(pairs)
        if 0 < sum(ys) < len(ys):
            sc = np.asarray([v for _, v in pairs])
            auc, ks = metrics.auc(ys, -sc), metrics.ks(ys, -sc)
            gini = 2 * auc - 1
    row = ModelMonitor(model_id=m.id, as_of=as_of, rows=pop.height, outcomes=labelled, auc=auc, ks=ks, gini=gini,
                       psi=psi, psi_variables={k: round(float(v), 4) for k, v in (psi_vars or {}).items()},
                       at=clock.now())
    s.add(row)
    s.flush()
    return row


def history(s: Session, model_id: int) -> list[ModelMonitor]:
    return list(s.execute(select(ModelMonitor).where(ModelMonitor.model_id == model_id)
                          .order_by(ModelMonitor.as_of, ModelMonitor.id)).scalars())


def list_models(s: Session) -> list[ScorecardModel]:
    return list(s.execute(select(ScorecardModel).order_by(ScorecardModel.name, ScorecardModel.version.desc()))
                .scalars())
