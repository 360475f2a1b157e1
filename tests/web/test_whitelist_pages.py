"""White-list pages and JSON API over HTTP: operators write rules, generate, compare versions, download CSV,
manage subscriptions and import key projects; a bank user sees what was delivered to it; other roles are
refused.

These tests assume `xinyidai.credit.whitelist_pages` and `xinyidai.credit.whitelist_api` are included in
`web/app.py` (the app factory, not a fixture here, is where routers are wired)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.lists.test_keyprojects import ROWS, UNIT_A, csv_bytes
from tests.lists.whitelist_data import BANK, BANK2, CLEAN, OPERATOR, add_entity, evaluate, good
from tests.web.conftest import PASSWORD
from xinyidai.accounts.users import create_user
from xinyidai.institutions import onboarding as institutions
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.network.models import OutboxEnvelope, Peer


@pytest.fixture
def seeded(app, db: Database) -> dict[str, str]:  # noqa: ANN001 - the app creates the users first
    """Two banks, a bank user of the first, and a small population: two entities qualify, one does not."""
    with db.session() as s:
        institutions.onboard(s, OPERATOR, code=BANK, name="哈尔滨测试银行", kind="银行")
        institutions.onboard(s, OPERATOR, code=BANK2, name="第二测试银行", kind="银行")
        create_user(s, username="teller", display_name="王客户经理", role="bank", password=PASSWORD, org_code=BANK)
        create_user(s, username="teller2", display_name="李客户经理", role="bank", password=PASSWORD,
                    org_code=BANK2)
        out = {"food": good(s, 1, "哈尔滨好粮食品有限公司"), "soft": good(s, 2, "冰城软件有限公司", industry="6510")}
        out["retail"] = add_entity(s, 3, "零售商店有限公司", industry="5211")
        evaluate(s, out["retail"], "A", 800.0, features=CLEAN)
    return out


def _save_default_rules(c: TestClient) -> None:
    text = c.get("/whitelists/rules/new").text
    m = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', text, re.S)
    assert m
    yaml_text = m.group(1)
    r = c.post("/whitelists/rules", data={"csrf_token": c.csrf, "text": html.unescape(yaml_text)},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/whitelists/rules/sme-good-credit?done=saved"


def _generate(c: TestClient, code: str = "sme-good-credit") -> str:
    r = c.post(f"/whitelists/rules/{code}/generate", data={"csrf_token": c.csrf, "as_of": "2026-11-15"},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].split("/whitelists/lists/", 1)[1].split("?", 1)[0]


def test_operator_writes_rules_generates_and_compares(login, seeded: dict[str, str]) -> None:  # noqa: ANN001
    c = login("operator")
    empty = c.get("/whitelists")
    assert empty.status_code == 200 and "尚无白名单规则" in empty.text
    assert empty.headers["cache-control"] == "no-store"

    bad = c.post("/whitelists/rules", data={"csrf_token": c.csrf,
                                            "text": "code: sme-good-credit\nname: 测试名单\nmin_grade: AA\n"
                                                    "industries: []\ncolour: red\n"})
    assert bad.status_code == 422
    for fragment in ("未知的规则项：colour", "未知的等级“AA”", "支持行业目录 industries 不能为空"):
        assert fragment in bad.text
    assert c.post("/whitelists/rules", data={"text": "x"}).status_code == 403  # no CSRF token

    _save_default_rules(c)
    page = c.get("/whitelists/rules/sme-good-credit")
    assert "公共信用综合评价 B+ 及以上" in page.text and "13-43（农副食品加工业 … 金属制品、机械和设备修理业）" in page.text
    assert "<td>测试operator</td>" in page.text  # 保存人 by display name, not the login name

    r = c.post("/whitelists/subscriptions", data={"csrf_token": c.csrf, "subscriber_kind": "institution",
                                                  "institution": BANK, "list_kind": "whitelist",
                                                  "rule_code": ""},
               follow_redirects=True)
    assert r.status_code == 200 and "订阅已添加" in r.text and "哈尔滨测试银行" in r.text
    dup = c.post("/whitelists/subscriptions", data={"csrf_token": c.csrf, "subscriber_kind": "institution",
                                                    "institution": BANK, "list_kind": "whitelist"})
    assert dup.status_code == 409 and "已有相同的订阅" in dup.text

    first = _generate(c)
    assert first == "WL-CN-230000-sme-good-credit-20261115-1"
    listing = c.get(f"/whitelists/lists/{first}?done=generated")
    assert "名单已生成并推送给订阅方" in listing.text and "冰城软件有限公司" in listing.text
    assert "零售商店有限公司" not in listing.text
    assert "行业 65 软件和信息技术服务业 属于支持目录" in listing.text and "遴选过程" in listing.text
    found = c.get(f"/whitelists/lists/{first}?q=冰城")
    assert "冰城软件有限公司" in found.text and "哈尔滨好粮食品有限公司" not in found.text
    assert c.get(f"/whitelists/lists/{first}?sort=score&desc=true").status_code == 200

    csv = c.get(f"/whitelists/lists/{first}/csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel opens it as UTF-8
    assert f'filename="{first}.csv"' in csv.headers["content-disposition"]
    body = csv.content.decode("utf-8-sig")
    assert body.splitlines()[0].startswith("序号,统一社会信用代码,企业名称") and seeded["food"] in body

    second = _generate(c)
    assert second.endswith("-2")
    history = c.get("/whitelists/lists?sort=entries&desc=true")
    assert first in history.text and second in history.text and "首期" in history.text
    diff = c.get(f"/whitelists/lists/{second}/diff")
    assert diff.status_code == 200 and first in diff.text and 'id="added-total">0<' in diff.text

    api = c.get("/api/v1/whitelists").json()
    assert api["total"] == 2 and api["items"][0]["number"] == second
    one = c.get(f"/api/v1/whitelists/{first}?size=1").json()
    assert one["entries"]["total"] == 2 and len(one["entries"]["items"]) == 1
    assert one["entries"]["items"][0]["reasons"]


def test_generate_without_evaluations_explains(login, db: Database) -> None:  # noqa: ANN001
    c = login("operator")
    _save_default_rules(c)
    r = c.post("/whitelists/rules/sme-good-credit/generate", data={"csrf_token": c.csrf, "as_of": ""},
               headers={"accept": "text/html"})
    assert r.status_code == 409 and "尚无信用评价结果，请先运行批量评价" in r.text


def test_bank_sees_what_was_delivered(login, seeded: dict[str, str]) -> None:  # noqa: ANN001
    op = login("operator")
    _save_default_rules(op)
    op.post("/whitelists/subscriptions", data={"csrf_token": op.csrf, "subscriber_kind": "institution",
                                               "institution": BANK, "list_kind": "whitelist"})
    number = _generate(op)

    bank = login("teller")
    home = bank.get("/bank/whitelists")
    assert home.status_code == 200 and number in home.text and ">新<" in home.text and "尚未查看" in home.text
    page = bank.get(f"/bank/whitelists/{number}")
    assert page.status_code == 200 and "新推送" in page.text and "入选理由" in page.text
    assert "哈尔滨好粮食品有限公司" in page.text and "遴选过程" not in page.text  # no staff-only parts
    # the rule by its name (code in the title), the number never broken inside
    assert '<span title="sme-good-credit">守信中小企业融资白名单</span>' in page.text
    assert f'<code class="whole">{number}</code>' in page.text
    again = bank.get("/bank/whitelists")
    assert ">新<" not in again.text and "已查看" in again.text
    csv = bank.get(f"/bank/whitelists/{number}/csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    api = bank.get("/api/v1/whitelists/delivered").json()
    assert api["items"][0]["number"] == number and api["items"][0]["new"] is False

    other = login("teller2")  # nothing delivered to the second bank
    assert number not in other.get("/bank/whitelists").text
    assert other.get(f"/bank/whitelists/{number}", headers={"accept": "text/html"}).status_code == 404
    assert other.get(f"/api/v1/whitelists/{number}").status_code == 404
    assert other.get("/api/v1/whitelists").json()["total"] == 0


def test_key_project_import_pages(login, db: Database) -> None:  # noqa: ANN001
    c = login("operator")
    assert "尚未导入重点项目清单" in c.get("/keyprojects").text
    bad_rows = [ROWS[0], [*ROWS[1][:3], UNIT_A[:-1] + ("0" if UNIT_A[-1] != "0" else "1"), *ROWS[1][4:]]]
    bad = c.post("/keyprojects/import", data={"csrf_token": c.csrf, "year": "2026"},
                 files={"file": ("重点项目.csv", csv_bytes(bad_rows, "gbk"), "text/csv")})
    assert bad.status_code == 422 and "文件中有 1 行不符合要求，整个文件未导入" in bad.text
    assert "第 3 行" in bad.text and "统一社会信用代码校验码错误" in bad.text
    ok = c.post("/keyprojects/import", data={"csrf_token": c.csrf, "year": "2026"},
                files={"file": ("重点项目.csv", csv_bytes(ROWS), "text/csv")}, follow_redirects=False)
    assert ok.status_code == 303
    assert ok.headers["location"] == "/whitelists/lists/KP-CN-230000-2026-1?done=imported"
    page = c.get("/whitelists/lists/KP-CN-230000-2026-1")
    assert "哈尔滨新区智能制造产业园" in page.text and "重点项目清单已导入" not in page.text
    assert "KP-CN-230000-2026-1" in c.get("/keyprojects").text
    dup = c.post("/keyprojects/import", data={"csrf_token": c.csrf, "year": "2026"},
                 files={"file": ("again.csv", csv_bytes(ROWS), "text/csv")})
    assert dup.status_code == 409 and "未重复导入" in dup.text
    csv = c.get("/whitelists/lists/KP-CN-230000-2026-1/csv").content.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("统一社会信用代码,建设单位,项目名称") and len(csv.splitlines()) == 4


@pytest.mark.parametrize("path", ["/whitelists", "/whitelists/rules/new", "/whitelists/lists",
                                  "/whitelists/subscriptions", "/keyprojects", "/api/v1/whitelists"])
def test_management_pages_refuse_other_roles(login, path: str) -> None:  # noqa: ANN001
    for user in ("enterprise", "security", "bank"):
        r = login(user).get(path, headers={"accept": "text/html"})
        expected = 200 if (user == "bank" and path == "/api/v1/whitelists") else 403
        assert r.status_code == expected, (user, path, r.status_code)


def test_bank_pages_refuse_staff_and_writes_refuse_enterprises(login) -> None:  # noqa: ANN001
    assert login("operator").get("/bank/whitelists", headers={"accept": "text/html"}).status_code == 403
    ent = login("enterprise")
    assert ent.get("/bank/whitelists", headers={"accept": "text/html"}).status_code == 403
    r = ent.post("/whitelists/rules/sme-good-credit/generate", data={"csrf_token": ent.csrf})
    assert r.status_code == 403


def test_a_peer_subscription_queues_the_list_for_that_node(login, db: Database,  # noqa: ANN001
                                                           seeded: dict[str, str]) -> None:
    ident = get_suite("sm").generate_identity()
    with db.session() as s:
        s.add(Peer(code="CN-230100", name="哈尔滨市融资信用服务平台", role="municipal", relation="child",
                   suite="sm", public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active",
                   assessment={}, applied_at=clock.now(), mode="push"))
    c = login("operator")
    _save_default_rules(c)
    r = c.post("/whitelists/subscriptions", data={"csrf_token": c.csrf, "subscriber_kind": "peer",
                                                  "peer": "CN-230100", "list_kind": "whitelist"},
               follow_redirects=True)
    assert "哈尔滨市融资信用服务平台" in r.text
    number = _generate(c)
    with db.session() as s:
        ob = s.execute(select(OutboxEnvelope)).scalar_one()
        assert (ob.recipient, ob.kind, ob.source_ref, ob.items) == ("CN-230100", "whitelist", number, 2)
    assert "平台节点" in c.get(f"/whitelists/lists/{number}").text  # shown under 推送情况
