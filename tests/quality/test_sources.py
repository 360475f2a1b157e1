"""Sources end to end: adding one (and every refusal), pulling from a real second database (a SQLite file; a
schema of the test PostgreSQL) into ordinary deliveries, a crash inside the delivery's transaction and one after
it, every bad input, the backoff and the alert, and no secret in any message, audit entry or log line."""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.conftest import PG_URL
from tests.quality.conftest import (
    Q1_CODES,
    Q1_DEPT,
    Q1_MAPPING,
    Q1_PROVIDER,
    Q1_TOKEN,
    Q1Api,
    q1_front_sqlite,
    q1_rows,
)
from tests.web.conftest import app, login  # noqa: F401 - fixtures used by name
from xinyidai.catalog.schema import Catalog
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import FileNotifier
from xinyidai.quality import sources
from xinyidai.quality.models import Source, SourcePull
from xinyidai.quality.sources import SourceSpec
from xinyidai.records.models import CreditRecord, Delivery

ROOT = Path(__file__).resolve().parents[2]


def spec(url: str, **kw: object) -> SourceSpec:
    base: dict = {"name": "hrb-tax", "kind": "database", "department": Q1_DEPT, "category": "tax", "url": url,
                  "target": "tax_feed", "mapping": dict(Q1_MAPPING), "watermark_column": "updated", "batch_rows": 5}
    base.update(kw)
    return SourceSpec.from_dict(base)


def add(db: Database, catalog: Catalog, s: SourceSpec) -> None:
    with db.session() as ss:
        sources.add_source(ss, catalog, s, "op")


def source(db: Database, name: str = "hrb-tax") -> Source:
    with db.session() as s:
        return sources.get(s, name)


def records(db: Database) -> list[tuple[str, str, int]]:
    with db.session() as s:
        return [tuple(r) for r in s.execute(select(CreditRecord.entity_code, CreditRecord.record_key,
                                                   CreditRecord.version).where(CreditRecord.category == "tax"))]


def audit_text(db: Database) -> str:
    with db.engine.connect() as c:
        return "\n".join(f"{a} {t} {d}" for a, t, d in c.execute(text("SELECT action, target, detail FROM audit_events")))


@pytest.fixture
def front(tmp_path: Path) -> Path:
    return q1_front_sqlite(tmp_path / "front.db", q1_rows(12))  # watermarks 1 1 2 2 … 6 6


def test_add_refusals(db: Database, catalog: Catalog, q1_dept: str, front: Path) -> None:
    url = f"sqlite:///{front}"
    cases = [
        ({"url": "postgresql://reader:hunter2@127.0.0.1/front"}, "URL_HAS_SECRET"),
        ({"category": "no_such"}, "UNKNOWN_CATEGORY"),
        ({"department": "nobody"}, "UNKNOWN_DEPARTMENT"),
        ({"mapping": {**Q1_MAPPING, "x": "no_item"}}, "UNKNOWN_ITEM"),
        ({"mapping": {k: v for k, v in Q1_MAPPING.items() if v != "period"}}, "MAPPING_INCOMPLETE"),
        ({"mapping": {k: v for k, v in Q1_MAPPING.items() if v != "entity_code"}}, "MAPPING_INCOMPLETE"),
        ({"secret_ref": "hunter2"}, "BAD_SECRET_REF"),
        ({"url": "oracle://reader@h/x"}, "UNSUPPORTED_DIALECT"),
        ({"batch_rows": 0}, "BAD_BATCH_ROWS"),
        ({"name": "a b/c"}, "BAD_SOURCE_NAME"),
    ]
    for change, code in cases:
        with pytest.raises(DomainError) as e:
            add(db, catalog, spec(**{"url": url, **change}))
        assert e.value.code == code, change
        assert "hunter2" not in e.value.message
    with db.session() as s:
        assert s.execute(select(Source)).first() is None
    add(db, catalog, spec(url))
    with pytest.raises(DomainError) as e:
        add(db, catalog, spec(url))
    assert e.value.code == "SOURCE_EXISTS"


def test_pull_from_a_sqlite_file(db: Database, catalog: Catalog, q1_dept: str, front: Path, tmp_path: Path) -> None:
    add(db, catalog, spec(f"sqlite:///{front}"))
    var = tmp_path / "var"
    r = sources.pull(db, catalog, var, "hrb-tax", "op")
    # 12 rows, 5 a batch, pairs share a watermark: 4 + 4 + 4 rows, the last batch saying there is no more.
    assert [(p.status, p.rows, p.watermark_to) for p in r.pulls] == [
        ("loaded", 4, "2"), ("loaded", 4, "4"), ("loaded", 4, "6")]
    assert sorted(records(db)) == sorted((c, "2026-09", 1) for c in Q1_CODES)
    src = source(db)
    assert (src.watermark, src.state, src.failures) == ("6", "ok", 0)
    assert src.next_attempt_at == clock.now() + timedelta(minutes=1440)
    with db.session() as s:
        d = s.get(Delivery, r.pulls[0].delivery_id)
        assert d is not None and (d.provider, d.source, d.status) == (Q1_PROVIDER, "connector", "accepted")
        assert d.filename == "hrb-tax-起始-2.jsonl"
    assert not list((var / "quality" / "pulls").iterdir())  # the files are gone once loaded
    # New rows at the source: only they come.
    q1_front_sqlite(front, [(Q1_CODES[0], "测试企业", "2026-10", "B", "1.00", 7)])
    r = sources.pull(db, catalog, var, "hrb-tax", "op")
    assert [p.rows for p in r.pulls] == [1] and len(records(db)) == 13
    assert [p.status for p in sources.pull(db, catalog, var, "hrb-tax", "op").pulls] == ["nothing"]
    assert "quality.source_pulled" in audit_text(db)


def test_same_rows_same_bytes(catalog: Catalog) -> None:
    rows = [dict(zip(Q1_MAPPING, r[:5], strict=True)) | {"updated": r[5]} for r in q1_rows(8)]
    a = sources.render_jsonl(catalog.category("tax"), Q1_MAPPING, rows, "updated")
    random.Random(7).shuffle(rows)
    assert sources.render_jsonl(catalog.category("tax"), Q1_MAPPING, rows, "updated") == a
    first = json.loads(a.splitlines()[0])
    assert list(first) == ["统一社会信用代码", "主体名称", "所属期", "纳税信用等级", "应纳税额"]


CRASH = """
import os, sys
from xinyidai.catalog.schema import load_catalog
from xinyidai.kit.db import Database
from xinyidai.quality import sources
from xinyidai.records import loading
url, var, where, step = sys.argv[1:5]
hook = lambda s: os._exit(9) if s == step else None
(loading if where == "loading" else sources).__dict__["fault_hook"] = hook
sources.pull(Database(url), load_catalog(), var, "hrb-tax", "op")
"""


@pytest.mark.parametrize(("where", "step"), [("loading", "before_commit"), ("sources", "before_watermark")])
def test_crash_and_rerun_store_nothing_twice(db: Database, catalog: Catalog, q1_dept: str, front: Path,
                                             tmp_path: Path, where: str, step: str) -> None:
    add(db, catalog, spec(f"sqlite:///{front}"))
    var = tmp_path / "var"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", CRASH, db.url, str(var), where, step], env=env, cwd=tmp_path,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 9, done.stderr.decode()[-2000:]
    with db.session() as s:
        assert s.execute(select(SourcePull.status)).scalars().all() == ["running"]
        statuses = s.execute(select(Delivery.status)).scalars().all()
    assert statuses == (["processing"] if where == "loading" else ["accepted"])
    assert source(db).watermark is None  # the watermark never moved
    assert len(records(db)) == (0 if where == "loading" else 4)
    r = sources.pull(db, catalog, var, "hrb-tax", "op")
    assert r.pulls[0].status == ("loaded" if where == "loading" else "duplicate")
    got = records(db)
    assert len(got) == len(set(got)) == 12 and {v for _, _, v in got} == {1}
    assert source(db).watermark == "6"
    with db.session() as s:
        first = s.execute(select(SourcePull).order_by(SourcePull.id)).scalars().first()
        assert first is not None and first.error_code == "PULL_INTERRUPTED"


def test_bad_inputs_are_reported_and_store_nothing(db: Database, catalog: Catalog, q1_dept: str, front: Path,
                                                   tmp_path: Path) -> None:
    var = tmp_path / "var"
    add(db, catalog, spec(f"sqlite:///{front}", batch_rows=100))
    assert sources.pull(db, catalog, var, "hrb-tax", "op").last.status == "loaded"  # type: ignore[union-attr]
    # The department renames a column.
    conn = sqlite3.connect(front)
    conn.execute("ALTER TABLE tax_feed RENAME COLUMN grade TO credit_grade")
    conn.commit()
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.status == "failed" and p.error_code == "SOURCE_COLUMNS_CHANGED"
    assert "grade" in (p.message or "")
    conn.execute("ALTER TABLE tax_feed RENAME COLUMN credit_grade TO grade")
    # The department rebuilds its table with older watermarks.
    conn.execute("UPDATE tax_feed SET updated = 1")
    conn.commit()
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.error_code == "WATERMARK_BACKWARDS"
    src = source(db)
    assert (src.state, src.failures, src.last_error_code, src.watermark) == ("failing", 2, "WATERMARK_BACKWARDS", "6")
    with db.session() as s:
        with pytest.raises(DomainError) as e:
            sources.reset_watermark(s, "hrb-tax", "0", "", "op")
        assert e.value.code == "REASON_REQUIRED"
        sources.reset_watermark(s, "hrb-tax", "0", "部门重建前置库，全部重拉", "op")
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.status == "duplicate"  # the very rows loaded before: the loader knows the file
    got = records(db)
    assert len(got) == len(set(got)) == 12 and source(db).state == "ok"
    # Rows with invalid credit codes: a few → partial, the rest loaded; most → rejected, watermark stays.
    conn.execute("DELETE FROM tax_feed")
    conn.executemany("INSERT INTO tax_feed VALUES (?, ?, ?, ?, ?, ?)",
                     [(c, "x", "2026-11", "A", "1", 10) for c in Q1_CODES[:9]] + [("91230100BADCODE000", "x",
                                                                                      "2026-11", "A", "1", 10)])
    conn.commit()
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.status == "loaded" and source(db).watermark == "10"
    with db.session() as s:
        d = s.get(Delivery, p.delivery_id)
        assert d is not None and d.status == "partial" and d.rows_rejected == 1
    conn.executemany("INSERT INTO tax_feed VALUES (?, ?, ?, ?, ?, ?)",
                     [(f"BAD{i}", "x", "2026-12", "A", "1", 11) for i in range(5)])
    conn.commit()
    conn.close()
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.status == "rejected" and p.error_code == "THRESHOLD_EXCEEDED"
    assert source(db).watermark == "10" and source(db).state == "failing"
    assert len(records(db)) == 21


def test_backoff_alert_once_and_recovery(db: Database, catalog: Catalog, q1_dept: str, front: Path,
                                         tmp_path: Path) -> None:
    var = tmp_path / "var"
    add(db, catalog, spec(f"sqlite:///{tmp_path}/moved.db"))
    notes = FileNotifier(tmp_path / "notes.log")
    waits = []
    for _ in range(5):
        p = sources.pull(db, catalog, var, "hrb-tax", "scheduler", notifier=notes).last
        assert p is not None and p.error_code == "SOURCE_UNREACHABLE"
        waits.append(source(db).next_attempt_at - clock.now())
    assert waits == [timedelta(minutes=m) for m in (5, 10, 20, 40, 80)]
    assert sources.backoff(20) == timedelta(hours=6)
    msgs = notes.messages()
    assert len(msgs) == 1 and msgs[0]["to"] == "13800001111" and "连续 3 次" in msgs[0]["message"]
    assert audit_text(db).count("quality.source_alert") == 1
    with db.session() as s:
        (gauge,) = sources.source_gauges(s)
        assert [(x.labels["state"], x.value) for x in gauge.samples] == [("failing", 1)]
    with db.session() as s:
        src = sources.get(s, "hrb-tax")
        src.url = f"sqlite:///{front}"
    assert sources.pull(db, catalog, var, "hrb-tax", "scheduler").ok
    src = source(db)
    assert (src.state, src.failures, src.alerted_at, src.last_error) == ("ok", 0, None, None)


def test_pull_due_and_pause(db: Database, catalog: Catalog, q1_dept: str, front: Path, tmp_path: Path) -> None:
    var = tmp_path / "var"
    add(db, catalog, spec(f"sqlite:///{front}", batch_rows=100))
    add(db, catalog, spec(f"sqlite:///{front}", name="paused-one", batch_rows=100))
    with db.session() as s:
        sources.pause(s, "paused-one", "op")
    assert sources.pull_due(db, catalog, var) == 1
    assert sources.pull_due(db, catalog, var) == 0  # next one in a day
    assert source(db, "paused-one").watermark is None
    with db.session() as s:
        sources.resume(s, "paused-one", "op")
    busy = sources._LOCKS.setdefault("paused-one", __import__("threading").Lock())
    with busy:  # a pull of it under way in this process: a second is refused, the scheduler passes it by
        with pytest.raises(DomainError) as e:
            sources.pull(db, catalog, var, "paused-one", "op")
        assert e.value.code == "SOURCE_BUSY"
        sources.pull_due(db, catalog, var)
        assert source(db, "paused-one").watermark is None
    assert sources.pull_due(db, catalog, var) == 1
    assert source(db, "paused-one").watermark == "6"


def test_rest_source_and_no_secret_anywhere(db: Database, catalog: Catalog, q1_dept: str, q1_api: str,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    var = tmp_path / "var"
    add(db, catalog, spec(q1_api, kind="rest", target="data", secret_ref="env:Q1_REST_TOKEN", batch_rows=100))
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.error_code == "SECRET_MISSING"
    monkeypatch.setenv("Q1_REST_TOKEN", "not-the-token")
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.error_code == "SOURCE_AUTH_FAILED"
    monkeypatch.setenv("Q1_REST_TOKEN", Q1_TOKEN)
    r = sources.pull(db, catalog, var, "hrb-tax", "op")
    assert r.pulls[0].status == "loaded" and r.rows == 8 and source(db).watermark == "4"
    Q1Api.mode = "bad_json"
    p = sources.pull(db, catalog, var, "hrb-tax", "op").last
    assert p is not None and p.error_code == "SOURCE_NOT_JSON"
    with db.engine.connect() as c:
        stored = "\n".join(str(tuple(row)) for t in ("quality_sources", "quality_source_pulls", "deliveries")
                           for row in c.execute(text(f"SELECT * FROM {t}")))  # noqa: S608 - fixed names
    everything = stored + audit_text(db) + caplog.text
    for secret in (Q1_TOKEN, "not-the-token"):
        assert secret not in everything


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL not configured (XINYIDAI_TEST_DATABASE_URL)")
def test_pull_from_postgresql(db: Database, catalog: Catalog, q1_dept: str, tmp_path: Path) -> None:
    front = Database(PG_URL)
    try:
        with front.engine.begin() as c:
            c.execute(text("DROP SCHEMA IF EXISTS q1_front CASCADE"))
            c.execute(text("CREATE SCHEMA q1_front"))
            c.execute(text("CREATE TABLE q1_front.tax_feed (uscc TEXT, corp TEXT, ym TEXT, grade TEXT, "
                           "payable NUMERIC, updated TIMESTAMP)"))
            for u, corp, ym, g, pay, w in q1_rows(6):
                c.execute(text("INSERT INTO q1_front.tax_feed VALUES (:u, :c, :y, :g, :p, "
                               "TIMESTAMP '2026-11-01 08:00' + :w * INTERVAL '1 hour')"),
                          {"u": u, "c": corp, "y": ym, "g": g, "p": pay, "w": w})
        add(db, catalog, spec(PG_URL, target="q1_front.tax_feed", batch_rows=3))
        r = sources.pull(db, catalog, tmp_path / "var", "hrb-tax", "op")
        assert [p.rows for p in r.pulls] == [2, 2, 2]
        assert source(db).watermark == "2026-11-01 11:00:00"
        assert len(records(db)) == 6
        with front.engine.begin() as c:
            c.execute(text("UPDATE q1_front.tax_feed SET updated = updated - INTERVAL '1 day'"))
        p = sources.pull(db, catalog, tmp_path / "var", "hrb-tax", "op").last
        assert p is not None and p.error_code == "WATERMARK_BACKWARDS"
    finally:
        with front.engine.begin() as c:
            c.execute(text("DROP SCHEMA IF EXISTS q1_front CASCADE"))
        front.dispose()


def test_cli(db: Database, q1_dept: str, front: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from xinyidai.cli import app as cli
    for k in list(os.environ):
        if k.startswith("XINYIDAI_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", db.url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        r = runner.invoke(cli, ["quality", "source", *args])
        assert r.exit_code == code, r.output
        return r.output

    desc = tmp_path / "source.yaml"
    desc.write_text(json.dumps({"name": "hrb-tax", "kind": "database", "department": Q1_DEPT, "category": "tax",
                                "url": f"sqlite:///{front}", "target": "tax_feed", "mapping": Q1_MAPPING,
                                "watermark_column": "updated", "batch_rows": 100}, ensure_ascii=False))
    assert "已登记数据来源「hrb-tax」" in run("add", "--file", str(desc))
    bad = run("add", "--name", "x", "--department", Q1_DEPT, "--category", "tax", "--url",
              "postgresql://u:topsecret@h/x", "--target", "t", "--mapping", json.dumps(Q1_MAPPING),
              "--watermark", "updated", code=2)
    assert "URL_HAS_SECRET" in bad and "topsecret" not in bad
    out = run("pull", "hrb-tax")
    assert "已入库" in out and "共拉取 12 行" in out
    assert "hrb-tax" in run("list") and "水位：6" in run("show", "hrb-tax")
    run("pause", "hrb-tax")
    assert "SOURCE_PAUSED" in run("pause", "hrb-tax", code=2)
    run("resume", "hrb-tax")
    assert "REASON_REQUIRED" in run("reset-watermark", "hrb-tax", "--reason", " ", code=2)
    run("reset-watermark", "hrb-tax", "--reason", "重拉", "--to", "3")
    assert source(db).watermark == "3"
    assert "SOURCE_NOT_FOUND" in run("pull", "nope", code=2)
    desc.write_text(desc.read_text(encoding="utf-8").replace('"batch_rows": 100', '"batch_rows": 50'), encoding="utf-8")
    assert "已修改数据来源「hrb-tax」" in run("edit", "--file", str(desc))
    assert source(db).batch_rows == 50 and source(db).watermark == "3"  # the watermark stays where it was
    desc.write_text(desc.read_text(encoding="utf-8").replace('"category": "tax"', '"category": "nope"'),
                    encoding="utf-8")
    assert "UNKNOWN_CATEGORY" in run("edit", "--file", str(desc), code=2)
    assert source(db).category == "tax"
    with sqlite3.connect(front) as c:
        c.execute("DROP TABLE tax_feed")
    assert "SOURCE_TABLE_MISSING" in run("pull", "hrb-tax", code=3)


def test_pages(app, login, db: Database, q1_dept: str, front: Path) -> None:  # noqa: ANN001, F811
    op = login("operator")
    form = {"csrf_token": op.csrf, "name": "hrb-tax", "kind": "database", "department": Q1_DEPT,  # type: ignore[attr-defined]
            "category": "tax", "url": "postgresql://reader:hunter2@10.0.0.1/front", "secret_ref": "",
            "target": "tax_feed", "mapping": "\n".join(f"{k} = {v}" for k, v in Q1_MAPPING.items()),
            "watermark_column": "updated", "every_minutes": "60", "batch_rows": "100"}
    r = op.post("/quality/sources", data=form, follow_redirects=False)
    assert r.status_code == 422 and "连接地址不得包含口令" in r.text and 'value="tax_feed"' in r.text
    assert "hunter2" not in r.text
    r = op.post("/quality/sources", data={**form, "url": f"sqlite:///{front}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/quality/sources/hrb-tax?done=added"
    r = op.post("/quality/sources/hrb-tax/pull", data={"csrf_token": op.csrf}, follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303
    page = op.get("/quality/sources/hrb-tax?done=pulled")
    assert page.status_code == 200 and "已入库" in page.text and 'href="/deliveries/' in page.text
    assert '<strong id="watermark">6</strong>' in page.text
    assert op.post("/quality/sources/hrb-tax/pause", data={"csrf_token": op.csrf},  # type: ignore[attr-defined]
                   follow_redirects=False).status_code == 303
    assert "已暂停" in op.get("/quality/sources").text
    r = op.post("/quality/sources/hrb-tax/reset-watermark", data={"csrf_token": op.csrf, "value": "1",  # type: ignore[attr-defined]
                                                                  "reason": ""})
    assert r.status_code == 422 and "重置水位须说明原因" in r.text
    op.post("/quality/sources/hrb-tax/reset-watermark", data={"csrf_token": op.csrf, "value": "1",  # type: ignore[attr-defined]
                                                              "reason": "核对"})
    assert source(db).watermark == "1"
    assert "quality.source_watermark_reset" in audit_text(db) and "quality.source_paused" in audit_text(db)
    reg = login("regulator")
    listing = reg.get("/quality/sources")
    assert listing.status_code == 200 and "hrb-tax" in listing.text and 'id="source-form"' not in listing.text
    assert reg.get("/quality/sources/hrb-tax").status_code == 200
    assert reg.post("/quality/sources/hrb-tax/pull", data={"csrf_token": reg.csrf},  # type: ignore[attr-defined]
                    follow_redirects=False).status_code == 403
    assert op.get("/quality/sources/nope").status_code == 404
