"""Scorecard model pages over HTTP: the list with held-out metrics, one model with its variables and
monitoring charts, making it active, a loan-outcome file refused by row, training refused without data,
and non-staff users refused."""

from __future__ import annotations

import html
import json
import re
from datetime import date

import numpy as np
import pytest
from sqlalchemy import func, select

from xinyidai.credit import pages as model_pages
from xinyidai.credit import scorecards
from xinyidai.credit.models import LoanOutcome, ModelMonitor, ScorecardModel
from xinyidai.entities.codes import make_uscc
from xinyidai.kit import clock


@pytest.fixture
def web(app, db):  # noqa: ANN001, ANN201
    """The app with the model pages (included here until web/app.py includes them) and one trained model."""
    if not any(getattr(r, "path", None) == "/credit/models" for r in app.routes):
        app.include_router(model_pages.router)
    rng = np.random.default_rng(1)
    n = 600
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    region = rng.choice(["哈尔滨", "齐齐哈尔", "大庆"], size=n)
    logit = -1.2 + 1.3 * x1 - 0.9 * x2 + (region == "大庆") * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).tolist()
    frame = {"x1": x1.tolist(), "x2": x2.tolist(), "region": region.tolist()}
    with db.session() as s:
        m = scorecards.train_model(s, "测试评分卡", "operator", frame=frame, target=y, categorical={"region"})
        for day, auc, psi, pv in ((date(2025, 3, 31), 0.74, 0.04, {"x1": 0.02, "x2": 0.05}),
                                  (date(2025, 6, 30), None, 0.18, {"x1": 0.31, "x2": 0.12, "region": 0.01})):
            s.add(ModelMonitor(model_id=m.id, as_of=day, rows=500, outcomes=40 if auc else 0, auc=auc,
                               ks=0.38 if auc else None, gini=2 * auc - 1 if auc else None, psi=psi,
                               psi_variables=pv, at=clock.now()))
        s.flush()
        app.state.model_id, app.state.test_auc = m.id, m.metrics["test"]["auc"]
    return app


def _options(page: str) -> list[dict]:
    return [json.loads(html.unescape(x)) for x in re.findall(r"data-echarts='([^']*)'", page)]


def test_list_and_detail(web, login) -> None:  # noqa: ANN001
    for role in ("operator", "regulator"):
        page = login(role).get("/credit/models")
        assert page.status_code == 200 and "测试评分卡" in page.text and "待启用" in page.text
        assert f"{web.state.test_auc:.3f}" in page.text
        assert ("/status\"" in page.text) == (role == "operator")  # only operators get the forms

    detail = login("regulator").get(f"/credit/models/{web.state.model_id}")
    assert detail.status_code == 200
    for text in ("x1", "x2", "入选", "评分表", "基础分", "测试集", "各变量 PSI"):
        assert text in detail.text
    disc, psi = _options(detail.text)
    assert disc["xAxis"]["data"] == ["2025-03-31", "2025-06-30"] and disc["series"][0]["data"] == [0.74, None]
    assert [m["yAxis"] for m in psi["series"][0]["markLine"]["data"]] == [0.1, 0.25]
    assert psi["series"][0]["markLine"]["data"][0]["lineStyle"]["type"] == "dashed"
    # The latest check's variables: x1 drifted (red), x2 needs watching (amber), region is stable.
    rows = re.findall(r'<tr class="([\w-]*)"><td>(\w+)', detail.text)
    assert ("psi-bad", "x1") in rows and ("psi-warn", "x2") in rows and ("", "region") in rows
    assert login("security").get("/credit/models/999999").status_code == 404


def test_set_active(web, login, db) -> None:  # noqa: ANN001
    op = login("operator")
    r = op.post(f"/credit/models/{web.state.model_id}/status", data={"csrf_token": op.csrf, "status": "active"},
                follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert s.get(ScorecardModel, web.state.model_id).status == "active"
    listing = op.get("/credit/models").text
    assert "在用" in listing and '<span class="muted">测试operator</span>' in listing  # trained by: a name, not a login
    no_token = op.post(f"/credit/models/{web.state.model_id}/status", data={"status": "retired"})
    assert no_token.status_code == 403


def test_outcomes_bad_row_rejects_file(web, login, db) -> None:  # noqa: ANN001
    op = login("operator")
    bank, ent = make_uscc("230103", 11, "1", "1"), make_uscc("230103", 12)
    csv = ("机构代码,贷款编号,统一社会信用代码,申请日期,观察日期,是否违约\n"
           f"{bank},L1,{ent},2024-01-05,2025-01-05,否\n"
           f"{bank},L2,{ent},2024-02-30,2025-01-05,是\n").encode()
    r = op.post("/credit/outcomes", data={"csrf_token": op.csrf},
                files={"file": ("outcomes.csv", csv, "text/csv")})
    assert r.status_code == 422
    assert "整个文件未导入" in r.text and "第 3 行：日期应为 YYYY-MM-DD" in r.text
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(LoanOutcome)).scalar_one() == 0
    good = op.post("/credit/outcomes", data={"csrf_token": op.csrf},
                   files={"file": ("outcomes.csv", csv.replace(b"2024-02-30", b"2024-02-28"), "text/csv")})
    assert good.status_code == 200 and "共 2 行，新增 2" in good.text


def test_train_without_outcomes_says_why(web, login, db) -> None:  # noqa: ANN001
    op = login("operator")
    r = op.post("/credit/models/train", data={"csrf_token": op.csrf, "name": "测试评分卡"})
    assert r.status_code == 422
    assert "尚无贷款结果数据" in r.text and "INSUFFICIENT_DATA" in r.text
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(ScorecardModel)).scalar_one() == 1


def test_monitor_without_features_says_why(web, login) -> None:  # noqa: ANN001
    op = login("operator")
    r = op.post(f"/credit/models/{web.state.model_id}/monitor", data={"csrf_token": op.csrf, "as_of": "2025-09-30"})
    assert r.status_code == 422 and "没有已计算的特征" in r.text and 'id="monitor-error"' in r.text


@pytest.mark.parametrize("role", ["enterprise", "bank"])
def test_non_staff_refused(web, login, role: str) -> None:  # noqa: ANN001
    c = login(role)
    assert c.get("/credit/models").status_code == 403
    assert c.get(f"/credit/models/{web.state.model_id}").status_code == 403
    r = c.post(f"/credit/models/{web.state.model_id}/status", data={"csrf_token": c.csrf, "status": "active"})
    assert r.status_code == 403
