"""The `xinyidai` command as a user runs it: a real process, the test database, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from tests.records.helpers import REG_HEADER, TAX_HEADER, codes, count, registration_rows, tax_rows, write_csv
from xinyidai.kit.db import Database


def run(db: Database, tmp_path: Path, *args: str | bytes) -> subprocess.CompletedProcess:
    env = {**os.environ, "XINYIDAI_DATABASE_URL": db.url, "XINYIDAI_VAR_DIR": str(tmp_path / "var"),
           "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "xinyidai", *args], env=env, capture_output=True, timeout=120)


def out(p: subprocess.CompletedProcess) -> str:
    return p.stdout.decode("utf-8") + p.stderr.decode("utf-8")


def test_catalog_prints_a_category(db, tmp_path) -> None:  # noqa: ANN001
    p = run(db, tmp_path, "catalog", "--category", "纳税")
    assert p.returncode == 0, out(p)
    text_out = out(p)
    assert "纳税信用等级" in text_out and "税务" in text_out and "明示授权后原始明细" in text_out
    bad = run(db, tmp_path, "catalog", "--category", "彩票")
    assert bad.returncode == 2 and "彩票" in out(bad)


def test_ingest_with_a_gbk_file_name_and_report(db, tmp_path) -> None:  # noqa: ANN001
    ents = codes(3)
    reg = write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(ents))
    p = run(db, tmp_path, "ingest", str(reg), "--provider", "黑龙江省市场监督管理局", "--category", "登记注册")
    assert p.returncode == 0, out(p)
    assert "已接收" in out(p)
    # A file name in GBK bytes, as Windows machines in departments produce them: not valid UTF-8 here.
    name = os.fsencode(tmp_path) + b"/" + "纳税".encode("gbk") + b".csv"
    rows = tax_rows(ents, ["2026-10"]) + [[ents[0], "x", "2026-09", "Q", "1", "1", "0", "否", "正常申报"]]
    write_csv(Path(os.fsdecode(name)), TAX_HEADER, rows, "gbk")
    report = tmp_path / "report.csv"
    p = subprocess.run([sys.executable, "-m", "xinyidai", "ingest", name, "-p", "哈尔滨市税务局", "-c", "tax",
                        "--threshold", "0.5", "--report", str(report)],
                       env={**os.environ, "XINYIDAI_DATABASE_URL": db.url, "PYTHONIOENCODING": "utf-8",
                            "XINYIDAI_VAR_DIR": str(tmp_path / "var")}, capture_output=True, timeout=120)
    assert p.returncode == 0, out(p)
    assert "部分接收" in out(p) and "第 5 行「纳税信用等级」" in out(p)
    assert "NOT_ALLOWED" in report.read_text(encoding="utf-8-sig")
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT filename FROM deliveries ORDER BY id DESC")).scalars().first()
    assert stored.endswith(".csv") and "\ufffd" in stored  # undecodable bytes shown, not crashed on
    assert count(db, "SELECT count(*) FROM credit_records WHERE category = 'tax'") == 3


def test_ingest_refusals_have_exit_codes(db, tmp_path) -> None:  # noqa: ANN001
    f = write_csv(tmp_path / "x.csv", TAX_HEADER, [])
    p = run(db, tmp_path, "ingest", str(f), "-p", "某局", "-c", "lottery")
    assert p.returncode == 2 and "信息清单中没有类别" in out(p)
    p = run(db, tmp_path, "ingest", str(f), "-p", "某局", "-c", "tax")
    assert p.returncode == 3 and "整批拒收" in out(p)


def test_audit_verify_names_the_first_tampered_entry(db, tmp_path) -> None:  # noqa: ANN001
    ents = codes(2)
    run(db, tmp_path, "ingest", str(write_csv(tmp_path / "r.csv", REG_HEADER, registration_rows(ents))),
        "-p", "市场监管局", "-c", "registration")
    p = run(db, tmp_path, "audit", "verify")
    assert p.returncode == 0 and "审计链完整" in out(p)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 2"))
    p = run(db, tmp_path, "audit", "verify")
    assert p.returncode == 1 and "第 2 条" in out(p)


def test_audit_verify_lists_each_break_with_advice(db, tmp_path) -> None:  # noqa: ANN001
    from tests.unit.audit_tampering import mallory_at_2, rewrite_chain
    from xinyidai.kit.audit import AuditCheckpoint

    run(db, tmp_path, "ingest", str(write_csv(tmp_path / "r.csv", REG_HEADER, registration_rows(codes(2)))),
        "-p", "市场监管局", "-c", "registration")
    p = run(db, tmp_path, "audit", "checkpoint")
    assert p.returncode == 0 and "已签名第 1 个检查点" in out(p)
    p = run(db, tmp_path, "audit", "verify")
    assert p.returncode == 0 and "1 个签名检查点" in out(p) and "没有上级节点" in out(p)
    with db.session() as s:  # rewritten by someone who can write the database, the checkpoint deleted
        rewrite_chain(s, mallory_at_2)
        s.query(AuditCheckpoint).delete()
    p = run(db, tmp_path, "audit", "verify")
    assert p.returncode == 1 and "审计链不完整" in out(p)
    assert "[AUDIT_CHECKPOINT_MISSING]" in out(p) and "[AUDIT_WITNESS_MISMATCH]" in out(p) and "处理建议" in out(p)
