"""White lists: rules as data, generation from hand-made evaluations, versions and their differences, the
schedule, and the push to institutions and peer nodes (the applier on its own, and one envelope end to end
between two databases)."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PG_URL
from tests.lists.whitelist_data import (
    BANK,
    BANK2,
    CLEAN,
    OPERATOR,
    TODAY,
    add_entity,
    authorize,
    code,
    evaluate,
    good,
    rules,
)
from xinyidai.access.models import Authorization
from xinyidai.credit.models import Evaluation
from xinyidai.institutions import onboarding as institutions
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import Identity, get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.lists import whitelists as wls
from xinyidai.lists.models import WhiteList, WhiteListDelivery, WhiteListEntry
from xinyidai.network import exchange, inbox
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import OutboxEnvelope, Peer
from xinyidai.network.relay import NodeContext

ENTERPRISE = Principal(9, "ent", "测试企业", "enterprise", None)


def entry_of(s: Session, wl: WhiteList, entity: str) -> WhiteListEntry:
    return s.execute(select(WhiteListEntry).where(WhiteListEntry.list_id == wl.id,
                                                  WhiteListEntry.entity_code == entity)).scalar_one()


def numbers(s: Session, wl: WhiteList) -> set[str]:
    return set(s.execute(select(WhiteListEntry.entity_code).where(WhiteListEntry.list_id == wl.id)).scalars())


# ── rules ───────────────────────────────────────────────────────────────────────────────────────────────

def test_default_rules_parse() -> None:
    spec = wls.parse_rules(wls.default_rules_text())
    assert spec.code == "sme-good-credit" and spec.min_grade == "B+" and spec.grades == ("A+", "A", "B+")
    assert {"01", "05", "13", "43", "63", "65", "73", "75"} <= spec.divisions
    assert not {"06", "12", "44", "51", "52", "62", "66", "76"} & spec.divisions
    assert wls.parse_rules(wls.dump_rules(spec)) == spec  # what the page shows parses back to the same rules


@pytest.mark.parametrize(("change", "fragment"), [
    ({"colour": "red"}, "未知的规则项：colour"),
    ({"min_grade": "AA"}, "未知的等级“AA”"),
    ({"exclude": ["dishonest_listed", "no_such_feature"]}, "exclude 中的特征“no_such_feature”不存在"),
    ({"exclude": ["industry"]}, "不是数值"),
    ({"industries": []}, "支持行业目录 industries 不能为空"),
    ({"industries": ["13", "99"]}, "行业“99”不是 GB/T 4754-2017"),
    ({"industries": ["43-13"]}, "行业“43-13”"),
    ({"regions": ["23x"]}, "地区“23x”"),
    ({"schedule": "daily"}, "生成周期 schedule"),
    ({"max_age_days": 0}, "max_age_days"),
    ({"code": "Bad Code"}, "规则代码 code"),
    ({"financing_need": "yes"}, "financing_need"),
])
def test_rule_errors_are_named_in_chinese(change: dict, fragment: str) -> None:
    doc = {**wls.parse_rules(wls.default_rules_text()).document(), **change}
    with pytest.raises(InvalidInput) as exc:
        wls.parse_rules(doc)
    assert exc.value.code == "RULE_INVALID" and fragment in exc.value.message, exc.value.message


def test_rule_text_errors() -> None:
    with pytest.raises(InvalidInput, match="不是有效的 YAML/JSON"):
        wls.parse_rules("code: [unclosed")
    with pytest.raises(InvalidInput, match="规则应为"):
        wls.parse_rules("- a list")
    with pytest.raises(InvalidInput) as exc:
        wls.parse_rules("code: x\nmin_grade: Z\nindustries: []\n")
    assert len(exc.value.detail["problems"]) >= 3  # every problem at once, not the first only


def test_rule_versions(db: Database) -> None:
    with db.session() as s:
        v1 = rules(s)
        with pytest.raises(Conflict) as exc:
            rules(s)
        assert exc.value.code == "RULE_UNCHANGED"
        v2 = rules(s, min_grade="A")
        assert (v1.version, v2.version, v1.active, v2.active) == (1, 2, False, True)
        assert [r.version for r in wls.rule_sets(s)] == [2]
        with pytest.raises(Forbidden):
            wls.save_rule_set(s, wls.default_rules_text().replace("B+", "A+"), ENTERPRISE)


# ── generation ──────────────────────────────────────────────────────────────────────────────────────────

@pytest.fixture
def population(db: Database) -> dict[str, str]:
    """One entity per reason to be left out, two that qualify and one whose industry is known only from its
    registration record."""
    with db.session() as s:
        institutions.onboard(s, OPERATOR, code=BANK, name="哈尔滨测试银行", kind="银行")
        institutions.onboard(s, OPERATOR, code=BANK2, name="第二测试银行", kind="银行")
        out = {"good": good(s, 1, "哈尔滨好粮食品有限公司")}
        sw = good(s, 2, "冰城软件有限公司", industry="6510")
        authorize(s, sw, BANK2)
        out["software"] = sw
        out["low"] = add_entity(s, 3, "等级偏低有限公司")
        evaluate(s, out["low"], "B", 700.0, features=CLEAN)
        authorize(s, out["low"])
        out["dishonest"] = add_entity(s, 4, "失信有限公司")
        evaluate(s, out["dishonest"], "A", 800.0, features={**CLEAN, "dishonest_listed": 1})
        authorize(s, out["dishonest"])
        out["retail"] = add_entity(s, 5, "零售商店有限公司", industry="5211")
        evaluate(s, out["retail"], "A", 800.0, features=CLEAN)
        authorize(s, out["retail"])
        out["no_need"] = add_entity(s, 6, "无融资需求有限公司")
        evaluate(s, out["no_need"], "A", 800.0, features=CLEAN)
        authorize(s, out["no_need"], status="revoked")
        authorize(s, out["no_need"], until=clock.now() - timedelta(days=1))
        out["stale"] = add_entity(s, 7, "评价过期有限公司")
        evaluate(s, out["stale"], "A", 800.0, as_of=TODAY - timedelta(days=60), features=CLEAN)
        authorize(s, out["stale"])
        out["fell"] = add_entity(s, 8, "等级下降有限公司")
        evaluate(s, out["fell"], "A+", 900.0, as_of=TODAY - timedelta(days=20), features=CLEAN)
        evaluate(s, out["fell"], "C", 550.0, features=CLEAN, run=2)
        authorize(s, out["fell"])
        out["open_case"] = add_entity(s, 9, "未结执行有限公司")
        evaluate(s, out["open_case"], "A", 800.0, features={**CLEAN, "enforcement_open": 2})
        authorize(s, out["open_case"])
        out["no_snapshot"] = add_entity(s, 10, "无特征快照有限公司")
        evaluate(s, out["no_snapshot"], "A", 800.0)
        authorize(s, out["no_snapshot"])
        out["from_record"] = add_entity(s, 11, "登记记录行业有限公司", industry=None)
        evaluate(s, out["from_record"], "B+", 760.5, features={**CLEAN, "industry": "14"})
        authorize(s, out["from_record"])
        out["other_region"] = good(s, 12, "齐齐哈尔制造有限公司", region="230202")
    return out


def test_generation_picks_exactly_the_right_entities(db: Database, population: dict[str, str]) -> None:
    with db.session() as s:
        wl = wls.generate(s, rules(s), TODAY, OPERATOR, "CN-230000")
        assert wl.number == "WL-CN-230000-sme-good-credit-20261115-1" and wl.kind == "whitelist"
        picked = numbers(s, wl)
        assert picked == {population[k] for k in ("good", "software", "from_record", "other_region")}
        assert wl.entries == 4 and len(wl.digest) == 64 and wl.origin_node == "CN-230000"
        e = entry_of(s, wl, population["good"])
        assert e.reasons == ["公共信用综合评价 A（812分），不低于 B+",
                             "无严重失信、无未结执行、登记状态正常、近3年无较重行政处罚",
                             "行业 13 农副食品加工业 属于支持目录", "已授权 1 家金融机构查询，存在融资需求"]
        sw = entry_of(s, wl, population["software"])
        assert "行业 65 软件和信息技术服务业 属于支持目录" in sw.reasons
        assert "已授权 2 家金融机构查询，存在融资需求" in sw.reasons
        rec = entry_of(s, wl, population["from_record"])
        assert rec.reasons[0] == "公共信用综合评价 B+（760.5分），不低于 B+" and rec.detail["industry"] == "14"
        funnel = dict(wls.generation_funnel(s, wl))
        assert funnel["有公共信用综合评价结果"] == 12 and funnel["评价在时效内"] == 11
        assert funnel["无负面信息"] == 4
        # regions narrow the list, and say so
        harbin = wls.generate(s, rules(s, regions=["2301"]), TODAY, OPERATOR, "CN-230000")
        assert population["other_region"] not in numbers(s, harbin) and harbin.entries == 3
        assert harbin.number.endswith("-20261115-2")
        entry = entry_of(s, harbin, population["good"])
        assert any(r.startswith("注册地 230103") and r.endswith("属于名单地区") for r in entry.reasons)


def test_no_evaluations_and_empty_lists(db: Database) -> None:
    with db.session() as s:
        rs = rules(s)
        with pytest.raises(Conflict) as exc:
            wls.generate(s, rs, TODAY, OPERATOR, "CN-230000")
        assert (exc.value.code, exc.value.message) == ("NO_EVALUATIONS", "尚无信用评价结果，请先运行批量评价")
        assert s.query(WhiteList).count() == 0
        c = add_entity(s, 1, "仅有低等级有限公司")
        evaluate(s, c, "C", 500.0, features=CLEAN)
        wl = wls.generate(s, rs, TODAY, OPERATOR, "CN-230000")  # an empty list is a valid list
        assert wl.entries == 0 and wl.digest == wls.entries_digest([])
        with pytest.raises(InvalidInput):
            wls.generate(s, rs, TODAY + timedelta(days=1), OPERATOR, "CN-230000")
        with pytest.raises(Forbidden):
            wls.generate(s, rs, TODAY, ENTERPRISE, "CN-230000")


def test_versions_and_diff(db: Database, population: dict[str, str]) -> None:
    with db.session() as s:
        rs = rules(s)
        first = wls.generate(s, rs, TODAY, OPERATOR, "CN-230000")
        for a in s.execute(select(Authorization).where(Authorization.entity_code == population["good"])
                           ).scalars():
            a.status = "revoked"
        newcomer = good(s, 20, "新入选机械有限公司", industry="3411")
        s.flush()
        second = wls.generate(s, rs, TODAY, OPERATOR, "CN-230000")
        assert second.number == "WL-CN-230000-sme-good-credit-20261115-2"
        assert wls.previous_version(s, second).id == first.id and wls.previous_version(s, first) is None
        d = wls.diff(s, first, second)
        assert [c for c, _ in d.added] == [newcomer] and d.added_total == 1
        assert [c for c, _ in d.removed] == [population["good"]] and d.removed_total == 1
        assert wls.diff(s, None, first).added_total == 4
        page = wls.visible_lists(s, OPERATOR, PageRequest(1, 10, "id", True),
                                 series=wls.series_of(second.number))
        assert [x.number for x in page.items] == [second.number, first.number]
        csv = wls.csv_text(s, second)
        assert csv.startswith("\ufeff序号,统一社会信用代码,企业名称") and newcomer in csv and "入选理由" in csv


def test_csv_keeps_formulas_inert_after_a_tab_or_carriage_return(db: Database, population: dict[str, str]) -> None:
    """Issue 23, item 11: spreadsheets skip a leading tab or carriage return before reading a formula, so a
    name that begins with one is written after an apostrophe, like one beginning with = + - @."""
    with db.session() as s:
        tab = good(s, 21, '\t=HYPERLINK("http://x","点击")有限公司')
        cr = good(s, 22, "\r@SUM(1)有限公司")
        s.flush()
        wl = wls.generate(s, rules(s), TODAY, OPERATOR, "CN-230000")
        rows = {r[1]: r for r in csv.reader(io.StringIO(wls.csv_text(s, wl).lstrip("\ufeff")))}
    assert rows[tab][2] == "'\t=HYPERLINK(\"http://x\",\"点击\")有限公司"
    assert rows[cr][2] == "'\r@SUM(1)有限公司"
    assert rows[population["good"]][2] == "哈尔滨好粮食品有限公司"


# ── schedule ────────────────────────────────────────────────────────────────────────────────────────────

def _at(d: date, hour: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=clock.CHINA_TZ).astimezone(UTC)


def test_schedule_due_once_per_period(db: Database, population: dict[str, str]) -> None:
    assert wls.period_start("monthly", date(2026, 11, 15)) == date(2026, 11, 1)
    assert wls.period_start("weekly", date(2026, 11, 15)) == date(2026, 11, 9)  # Sunday → its week's Monday
    with db.session() as s:
        monthly = rules(s)
        weekly = rules(s, code="weekly-list", name="每周白名单", schedule="weekly")
        rules(s, code="on-demand", name="手动名单", schedule=None)
        assert {r.code for r in wls.due_rule_sets(s, clock.now())} == {"sme-good-credit", "weekly-list"}
    done = wls.run_scheduled(db, None, clock.now(), node_code="CN-230000")
    assert done == {"sme-good-credit": "WL-CN-230000-sme-good-credit-20261115-1",
                    "weekly-list": "WL-CN-230000-weekly-list-20261115-1"}
    with db.session() as s:
        assert wls.due_rule_sets(s, clock.now()) == []
        assert wls.due_rule_sets(s, _at(TODAY, 23)) == []  # later the same day: same week, same month
        assert [r.code for r in wls.due_rule_sets(s, _at(date(2026, 11, 16)))] == ["weekly-list"]  # a Monday
        assert [r.code for r in wls.due_rule_sets(s, _at(date(2026, 11, 20)))] == ["weekly-list"]  # made up
        assert {r.code for r in wls.due_rule_sets(s, _at(date(2026, 12, 1)))} == {"sme-good-credit",
                                                                                  "weekly-list"}
        # a new version of the rules does not make the period due again
        rules(s, min_grade="A")
        assert wls.due_rule_sets(s, clock.now()) == []
        assert monthly.id != weekly.id
    with db.session() as s:
        s.execute(Evaluation.__table__.delete())
    clock.set_clock(lambda: _at(date(2026, 12, 1), 1))
    # nothing written: tried again next round
    assert wls.run_scheduled(db, None, clock.now(), node_code="CN-230000") == {
        "sme-good-credit": "NO_EVALUATIONS", "weekly-list": "NO_EVALUATIONS"}
    with pytest.raises(ValueError):
        wls.run_scheduled(db, None, clock.now())


# ── the push ────────────────────────────────────────────────────────────────────────────────────────────

def _identity() -> Identity:
    return get_suite("sm").generate_identity()


def _peer(code: str, relation: str, ident: Identity) -> Peer:
    return Peer(code=code, name=code, role="national" if code == "CN" else "municipal", relation=relation,
                suite="sm", public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active",
                assessment={}, applied_at=clock.now(), mode="push")


@pytest.fixture
def here(db: Database) -> NodeContext:
    """This node is the province CN-230000, with the national node above and one city below."""
    ident = _identity()
    with db.session() as s:
        s.add(_peer("CN", "parent", ident))
        s.add(_peer("CN-230100", "child", ident))
    return NodeContext("CN-230000", "provincial", ident)


def _received(n: int = 2) -> dict:
    entries = [[code(100 + i), f"国家名单企业{i}", "A", 801.5, ["公共信用综合评价 A（801.5分），不低于 B+"],
                {"industry": "13"}] for i in range(n)]
    return {"list": {"number": "WL-CN-sme-good-credit-20261101-1", "kind": "whitelist", "name": "全国守信白名单",
                     "rule_code": "sme-good-credit", "year": None, "as_of": "2026-11-01", "origin_node": "CN",
                     "digest": wls.entries_digest(entries), "created_at": "2026-11-01T01:00:00+00:00",
                     "entries": entries}}


def test_apply_whitelist_is_idempotent_and_only_from_peers(db: Database, here: NodeContext) -> None:
    with db.session() as s:
        institutions.onboard(s, OPERATOR, code=BANK, name="哈尔滨测试银行", kind="银行")
        wls.subscribe(s, OPERATOR, "institution", BANK, "whitelist", None, here)
        wls.subscribe(s, OPERATOR, "peer", "CN-230100", "whitelist", "sme-good-credit", here)
        wls.subscribe(s, OPERATOR, "peer", "CN", "whitelist", None, here)  # never sent back to the sender
        with pytest.raises(Conflict):
            wls.subscribe(s, OPERATOR, "institution", BANK, "whitelist", None, here)
    with db.session() as s:
        assert exchange.apply(s, here, "whitelist", "CN", _received()) == {"stored": 1, "entries": 2,
                                                                           "delivered": 2}
        assert exchange.apply(s, here, "whitelist", "CN", _received()) == {"stored": 0, "duplicates": 1}
        wl = s.execute(select(WhiteList)).scalar_one()
        assert (wl.number, wl.origin_node, wl.entries, wls.rule_code_of(wl)) == (
            "WL-CN-sme-good-credit-20261101-1", "CN", 2, "sme-good-credit")
        delivered = {(d.subscriber_kind, d.subscriber)
                     for d in s.execute(select(WhiteListDelivery)).scalars()}
        assert delivered == {("institution", BANK), ("peer", "CN-230100")}
        ob = s.execute(select(OutboxEnvelope)).scalar_one()
        assert (ob.recipient, ob.kind, ob.source_ref) == ("CN-230100", "whitelist", wl.number)
    tampered = _received()
    tampered["list"]["entries"][0][1] = "改过的名称"
    other = _received(3)
    foreign = _received()
    foreign["list"]["origin_node"] = "CN-230100"  # the number says CN made it
    for sender, payload, code_ in (("CN-999999", _received(), "NOT_A_PEER"), ("", _received(), "NOT_A_PEER"),
                                   ("CN", tampered, "DIGEST_MISMATCH"), ("CN", other, "LIST_CONFLICT"),
                                   ("CN", foreign, "PAYLOAD_INVALID"),
                                   ("CN", {"list": {"number": "x"}}, "PAYLOAD_INVALID"),
                                   ("CN", {"nothing": 1}, "PAYLOAD_INVALID")):
        with db.session() as s, pytest.raises(ExchangeRefused) as exc:
            exchange.apply(s, here, "whitelist", sender, payload)
        assert exc.value.code == code_
    with db.session() as s:
        assert s.query(WhiteList).count() == 1 and s.query(OutboxEnvelope).count() == 1


@pytest.fixture
def second_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if PG_URL:
        pytest.skip("two databases side by side: SQLite only")
    target = tmp_path / "city.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), target)
    database = Database(f"sqlite:///{target}")
    yield database
    database.dispose()


def test_list_travels_to_a_subscribed_child_in_an_envelope(db: Database, second_db: Database,
                                                           population: dict[str, str]) -> None:
    province, city = _identity(), _identity()
    p_ctx = NodeContext("CN-230000", "provincial", province)
    c_ctx = NodeContext("CN-230100", "municipal", city)
    with db.session() as s:
        s.add(_peer("CN-230100", "child", city))
        s.flush()
        wls.subscribe(s, OPERATOR, "peer", "CN-230100", "whitelist", None, p_ctx)
        wl = wls.generate(s, rules(s), TODAY, OPERATOR, p_ctx)
        number, digest = wl.number, wl.digest
        wire = s.execute(select(OutboxEnvelope.wire).where(OutboxEnvelope.source_ref == number)).scalar_one()
    with second_db.session() as s:
        s.add(_peer("CN-230000", "parent", province))
        institutions.onboard(s, OPERATOR, code=BANK, name="哈尔滨测试银行", kind="银行")
        s.flush()
        wls.subscribe(s, OPERATOR, "institution", BANK, "whitelist", "sme-good-credit", c_ctx)
    with second_db.session() as s:
        receipt = inbox.receive(s, c_ctx, wire)
        assert receipt["receipt"]["result"]["stored"] == 1
    with second_db.session() as s:
        got = s.execute(select(WhiteList)).scalar_one()
        assert (got.number, got.digest, got.origin_node, got.entries) == (number, digest, "CN-230000", 4)
        bank = Principal(5, "teller", "客户经理", "bank", BANK)
        assert wls.unseen_count(s, bank) == 1
        page = wls.delivered_to(s, bank, PageRequest(1, 20))
        assert [lst.number for _, lst in page.items] == [number]
        assert wls.mark_seen(s, bank, [got]) == 1 and wls.unseen_count(s, bank) == 0
        assert wls.get_list(s, bank, number).id == got.id
        with pytest.raises(NotFound):
            wls.get_list(s, Principal(6, "other", "他行", "bank", BANK2), number)
    with db.session() as s:  # nothing pending: the child already has it
        assert wls.push_pending(s, p_ctx) == 0
