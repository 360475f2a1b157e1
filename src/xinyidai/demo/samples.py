"""Sample files for every upload the pages offer — loan outcomes, key-project lists, an indicator system —
written to `var/demo-samples/`. The demo loads the first batch of each itself (so the scorecard and the
key-project list exist) and leaves the second for a person to upload and watch: importing it changes
something, where the demo's own files would only be "unchanged" or a duplicate.

Everything is drawn from `random.Random(seed)` over rows read in a fixed order, so the same demo writes the
same files."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from random import Random

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.credit.models import Evaluation
from xinyidai.credit.scorecards import OUTCOME_COLUMNS
from xinyidai.demo.distributions import nice_amount, region_label
from xinyidai.entities.models import MarketEntity
from xinyidai.lists.keyprojects import COLUMNS as PROJECT_COLUMNS

MAX_LOANS = 3000  # enough to train on; more only slows a large demo down
SECOND_BATCH = 5  # one loan in five is left for the person to import
# Default odds by public score: about 1 in 3 at 520, 1 in 10 at 650, 1 in 50 at 800.
DEFAULT_MIDPOINT, DEFAULT_SPREAD = 560.0, 55.0
PROJECTS_LOADED, PROJECTS_LEFT = 8, 4
PROJECT_KINDS = ("智能制造产业园建设项目", "冷链物流中心建设项目", "绿色食品精深加工项目", "新能源装备生产线项目",
                 "寒地黑土保护性耕作示范项目", "数字经济产业园项目", "中药材种植加工一体化项目", "冰雪装备制造项目")
PROJECT_TYPES = ("产业项目", "基础设施", "农业项目", "服务业项目")


@dataclass(frozen=True)
class Sample:
    """A file in the samples folder: where a person uploads it, and whether the demo has loaded it."""

    path: Path
    where: str
    loaded: bool


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")  # with a BOM, so that Excel opens it as UTF-8


# ── loan outcomes ───────────────────────────────────────────────────────────────────────────────────────

def loan_outcomes(s: Session, run_id: int, banks: list[str], as_of: date, seed: int) -> tuple[bytes, bytes]:
    """Two CSV files of loan outcomes (the demo's, then the person's), one loan per evaluated entity up to
    MAX_LOANS, defaulting more often the lower the entity's public score. The demo's records are all
    received today, so a loan is applied for and observed on `as_of`: the scorecard's features are taken
    as of the application date, and before today there is nothing to take."""
    rows = s.execute(select(Evaluation.entity_code, Evaluation.score)
                     .where(Evaluation.run_id == run_id, Evaluation.method == "public", Evaluation.status == "ok")
                     .order_by(Evaluation.entity_code)).all()
    step = max(1, math.ceil(len(rows) / MAX_LOANS))
    rng = Random(seed * 31 + 7)
    loans: list[list[str]] = []
    for code, score in rows[::step]:
        odds = 1 / (1 + math.exp((float(score) - DEFAULT_MIDPOINT) / DEFAULT_SPREAD))
        bank = banks[rng.randrange(len(banks))]
        loans.append([bank, f"DK{as_of:%Y%m}{len(loans) + 1:06d}", code, as_of.isoformat(), as_of.isoformat(),
                      "是" if rng.random() < odds else "否"])
    header = list(OUTCOME_COLUMNS)
    first = [r for i, r in enumerate(loans) if i % SECOND_BATCH]
    second = [r for i, r in enumerate(loans) if not i % SECOND_BATCH]
    return _csv(header, first), _csv(header, second)


# ── key projects ────────────────────────────────────────────────────────────────────────────────────────

def key_projects(s: Session, year: int, seed: int) -> tuple[bytes, bytes]:
    """Two key-project lists of the year (the demo's, then a supplement), built by companies of the
    register that are in business, the largest by registered capital first."""
    units = s.execute(select(MarketEntity.code, MarketEntity.name, MarketEntity.region_code)
                      .where(MarketEntity.kind == "企业", MarketEntity.status.in_(("存续", "在业")))
                      .order_by(MarketEntity.registered_capital.desc().nulls_last(), MarketEntity.code)
                      .limit(PROJECTS_LOADED + PROJECTS_LEFT)).all()
    rng = Random(seed * 17 + year)
    rows = []
    for i, (code, name, region) in enumerate(units, 1):
        total = nice_amount(rng.uniform(3000, 90000))
        annual = nice_amount(total * rng.uniform(0.2, 0.5))
        need = nice_amount(total * rng.uniform(0.1, 0.4))
        place = region_label(region)
        rows.append([f"{place}{PROJECT_KINDS[(i - 1) % len(PROJECT_KINDS)]}",
                     f"{year}-{region}-{10 + i % 80:02d}-01-{rng.randrange(10**6):06d}", name, code, place,
                     f"{total:,.0f}", f"{min(annual, total):,.0f}", f"{need:,.0f}",
                     PROJECT_TYPES[i % len(PROJECT_TYPES)], f"{year}-{year + 1 + i % 3}"])
    header = [c.label for c in PROJECT_COLUMNS]
    return _csv(header, rows[:PROJECTS_LOADED]), _csv(header, rows[PROJECTS_LOADED:])


# ── an indicator system ─────────────────────────────────────────────────────────────────────────────────

def indicator_system(version: str) -> str:
    """The shipped indicator system as a new version a person can load: its words, a new version and name,
    and one change worth seeing (a long-established business earns more), said at the top."""
    text = (resources.files("xinyidai.credit") / "indicators.yaml").read_text(encoding="utf-8")
    changes = ((r'(?m)^version: .*$', f'version: "{version}"'),
               (r"(?m)^name: .*$", "name: 公共信用综合评价指标体系（演示调整版）"),
               (r"\{min: 10, points: 30, note: 成立10年以上\}", "{min: 10, points: 40, note: 成立10年以上}"))
    for pattern, new in changes:
        text, n = re.subn(pattern, new, text, count=1)
        if n != 1:  # the shipped file changed shape: fail the demo rather than write a sample that lies
            raise ValueError(f"indicators.yaml no longer matches {pattern!r}")
    return ("# 演示样例：在默认指标体系基础上，“成立10年以上”加分由 30 调整为 40。\n"
            "# 在「信用评价」页「载入新版本指标体系」中粘贴本文件内容，或运行 xinyidai credit indicators 本文件。\n"
            + text)
