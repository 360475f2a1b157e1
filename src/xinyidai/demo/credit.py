"""The demo province's credit products, so that every role walks its own path at once: a first evaluation
run; loan applications (enterprises authorize the demo banks, the `bank` account's own institution among
them — see `applications`); loan outcomes and a scorecard trained on them, made active and scored beside the
public evaluation in a second run; the default white-list rules and a first white list; a key-project list;
the demo bank subscribed to both. The files the demo loads, and a second batch of each for a person to
upload, are written to the samples folder (see `samples`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select

from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.credit import evaluation, scorecards
from xinyidai.credit.scorecard import InsufficientData
from xinyidai.demo import applications, samples
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.lists import keyprojects, whitelists

MODEL_NAME = "小微企业评分卡"
SAMPLE_INDICATORS = "2026.2-演示"


@dataclass
class CreditDemo:
    run_id: int
    grades: dict[str, int]
    applications: applications.Applications
    whitelist: str
    whitelist_entries: int
    model: str | None  # "小微企业评分卡 v1（在用，留出集 AUC 0.8123）", None when there were too few loans
    key_projects: str | None
    samples: list[samples.Sample] = field(default_factory=list)


def seed(db: Database, catalog: Catalog, as_of: date, node_code: str, samples_dir: Path,
         random_seed: int = 20220516) -> CreditDemo:
    run = evaluation.evaluate_all(db, as_of, "demo")
    banks = _banks(db)
    apps = applications.seed(db, catalog, run.id, as_of, banks) if banks else applications.Applications(0, 0, None, 0)
    made: list[samples.Sample] = []
    model = _scorecard(db, run.id, banks, as_of, random_seed, samples_dir, made) if banks else None
    if model is not None:  # scored beside the public evaluation: a second run on the same features
        run = evaluation.execute_run(db, evaluation.start_run(db, as_of, "all", "demo"), rebuild_features=False)
    with db.session() as s:
        rule_set = whitelists.save_rule_set(s, whitelists.default_rules_text(), "demo")
        for kind in ("whitelist", "key_projects") if banks else ():
            whitelists.subscribe(s, "demo", "institution", banks[0], kind, None, node_code)
        wl = whitelists.generate(s, rule_set, as_of, "demo", node_code)
        number, entries = wl.number, wl.entries
    projects = _key_projects(db, as_of, random_seed, node_code, samples_dir, made)
    path = samples.write(samples_dir / "指标体系（演示调整版）.yaml",
                         samples.indicator_system(SAMPLE_INDICATORS).encode("utf-8"))
    made.append(samples.Sample(path, "信用评价 → 载入新版本指标体系（粘贴文件内容），或 xinyidai credit indicators", False))
    return CreditDemo(run.id, dict(run.grades), apps, number, entries, model, projects, made)


def _banks(db: Database) -> list[str]:
    """The demo lenders (not the guarantor) in the order they were onboarded, the `bank` account's first."""
    with db.session() as s:
        codes = list(s.execute(select(FinancialInstitution.code).where(FinancialInstitution.status == "active",
                                                                      FinancialInstitution.kind != "担保机构")
                               .order_by(FinancialInstitution.created_at, FinancialInstitution.code)).scalars())
        own = s.execute(select(User.org_code).where(User.username == "bank")).scalar_one_or_none()
    return sorted(codes, key=lambda c: c != own)


def _scorecard(db: Database, run_id: int, banks: list[str], as_of: date, random_seed: int, folder: Path,
               made: list[samples.Sample]) -> str | None:
    with db.session() as s:
        first, second = samples.loan_outcomes(s, run_id, banks, as_of, random_seed)
    loaded = samples.write(folder / "贷款结果（已导入）.csv", first)
    left = samples.write(folder / "贷款结果（第二批）.csv", second)
    model = None
    try:
        with db.session() as s:
            scorecards.import_outcomes(s, first, "demo")
            m = scorecards.train_model(s, MODEL_NAME, "demo")
            scorecards.set_status(s, m.id, "active", "demo")
            auc = (m.metrics.get("test") or {}).get("auc")
            model = f"{m.name} v{m.version}（在用" + (f"，留出集 AUC {auc:.4f}）" if auc is not None else "）")
    except InsufficientData:  # a province too small to train on (nothing stored): the pages say there is no model
        pass
    except DomainError as exc:
        if exc.code != "OUTCOMES_EMPTY":  # a province of a few entities leaves no loan for the first file
            raise
    made += [samples.Sample(loaded, "信用评价 → 评分卡模型 → 导入贷款结果", model is not None),
             samples.Sample(left, "信用评价 → 评分卡模型 → 导入贷款结果，再训练新版本", False)]
    return model


def _key_projects(db: Database, as_of: date, random_seed: int, node_code: str, folder: Path,
                  made: list[samples.Sample]) -> str | None:
    with db.session() as s:
        first, second = samples.key_projects(s, as_of.year, random_seed)
    loaded = samples.write(folder / f"{as_of.year}年度重点项目清单（已导入）.csv", first)
    left = samples.write(folder / f"{as_of.year}年度重点项目清单（补充）.csv", second)
    number = None
    with db.session() as s:
        try:
            number = keyprojects.import_file(s, first, loaded.name, as_of.year, "demo", node_code).number
        except DomainError as exc:
            if exc.code != "FILE_EMPTY":  # FILE_EMPTY: no company in business in a tiny province
                raise
    made += [samples.Sample(loaded, "白名单 → 重点项目清单 → 导入", number is not None),
             samples.Sample(left, f"白名单 → 重点项目清单 → 导入（年度 {as_of.year}）", False)]
    return number
