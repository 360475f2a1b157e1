"""`xinyidai institutions …`: onboarding and credentials from the command line, through the same functions
as the pages — every change audited with the operator's login name; bad input refused with a Chinese
message, its code and a nonzero exit, and nothing stored."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.entities.helpers import BANK_CODE
from xinyidai.cli import app
from xinyidai.client import Ed25519Key, SM2Key
from xinyidai.institutions.models import ApiCredential, FinancialInstitution
from xinyidai.institutions.onboarding import secret_hash, split_token
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database

ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def run(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    for k in list(os.environ):
        if k.startswith("XINYIDAI_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", db.url)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):  # noqa: ANN202
        r = runner.invoke(app, ["institutions", *args])
        assert (r.exit_code == 0) == ok, r.output
        return r
    yield invoke


def _state(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(FinancialInstitution)),
                s.scalar(select(func.count()).select_from(ApiCredential)),
                s.scalar(select(func.count()).select_from(AuditEvent)))


def _key_id(output: str) -> str:
    return re.search(r"\b[0-9a-f]{16}\b", output).group(0)


def test_the_credential_lifecycle_from_the_command_line(run, db: Database, tmp_path: Path) -> None:  # noqa: ANN001
    assert "已接入 限流测试银行" in run("add", BANK_CODE, "--name", "限流测试银行", "--rate", "30").output
    sm2 = SM2Key.generate()
    (tmp_path / "bank.pub.pem").write_text(sm2.public_pem)
    sm2_id = _key_id(run("credentials", "add-key", BANK_CODE, "--kind", "sm2",
                         "--public-key", str(tmp_path / "bank.pub.pem"), "--label", "生产").output)
    ed = Ed25519Key.generate()
    ed_id = _key_id(run("credentials", "add-key", BANK_CODE, "--kind", "ED25519", "--public-key", ed.public_hex,
                        "--expires-days", "30").output)
    issued = run("credentials", "issue-api-key", BANK_CODE, "--label", "批量").output
    token = next(line for line in issued.splitlines() if line.startswith("xyd_"))
    api_id, secret = split_token(token)
    with db.session() as s:
        assert s.get(ApiCredential, sm2_id).public_key == sm2.public_hex
        assert s.get(ApiCredential, ed_id).expires_at == clock.now() + timedelta(days=30)
        assert s.get(ApiCredential, api_id).secret_hash == secret_hash(secret)  # only the hash is kept

    rotated = run("credentials", "rotate", BANK_CODE, api_id, "--grace-hours", "2").output
    new_token = next(line for line in rotated.splitlines() if line.startswith("xyd_"))
    assert new_token != token and "在 2 小时后失效" in rotated
    run("credentials", "suspend", BANK_CODE, sm2_id, "--reason", "部署检修")
    run("credentials", "resume", BANK_CODE, sm2_id, "--reason", "检修完毕")
    successor = Ed25519Key.generate()
    out = run("credentials", "rotate", BANK_CODE, ed_id, "--grace-hours", "0", "--public-key", successor.public_hex)
    new_ed = _key_id(out.output.replace(ed_id, ""))
    run("credentials", "revoke", BANK_CODE, new_ed, "--reason", "疑似泄露")

    listed = run("credentials", "list", BANK_CODE).output
    assert f"{sm2_id}  SM2 公钥签名  有效  生产" in listed
    assert f"{ed_id}  Ed25519 公钥签名  已吊销" in listed and f"{new_ed}  Ed25519 公钥签名  已吊销" in listed
    assert f"{api_id}  API 密钥  有效  批量" in listed and secret not in listed
    with db.session() as s:
        assert s.get(ApiCredential, api_id).expires_at == clock.now() + timedelta(hours=2)
        trail = [(e.actor, e.action, e.target) for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert trail == [
        (ACTOR, "institution.onboarded", f"institution:{BANK_CODE}"),
        (ACTOR, "credential.registered", f"credential:{sm2_id}"),
        (ACTOR, "credential.registered", f"credential:{ed_id}"),
        (ACTOR, "credential.issued", f"credential:{api_id}"),
        (ACTOR, "credential.issued", trail[4][2]),
        (ACTOR, "credential.rotated", f"credential:{api_id}"),
        (ACTOR, "credential.suspend", f"credential:{sm2_id}"),
        (ACTOR, "credential.reactivate", f"credential:{sm2_id}"),
        (ACTOR, "credential.registered", f"credential:{new_ed}"),
        (ACTOR, "credential.rotated", f"credential:{ed_id}"),
        (ACTOR, "credential.revoke", f"credential:{new_ed}"),
    ]


def test_bad_input_is_refused_in_chinese_and_changes_nothing(run, db: Database, tmp_path: Path) -> None:  # noqa: ANN001
    run("add", BANK_CODE, "--name", "测试银行")
    key = SM2Key.generate()
    key_id = _key_id(run("credentials", "add-key", BANK_CODE, "--kind", "sm2", "--public-key", key.public_hex).output)
    before = _state(db)
    refusals = [
        (["add", "91230103MA1ABCDE2X", "--name", "某银行"], "INVALID_USCC"),
        (["add", BANK_CODE, "--name", "测试银行"], "INSTITUTION_EXISTS"),
        (["credentials", "list", "91230103MA1ABCDE28"], "INSTITUTION_NOT_FOUND"),
        (["credentials", "add-key", BANK_CODE, "--kind", "rsa", "--public-key", key.public_hex], "BAD_CREDENTIAL_KIND"),
        (["credentials", "add-key", BANK_CODE, "--kind", "sm2", "--public-key", "04abcd"], "BAD_PUBLIC_KEY"),
        (["credentials", "add-key", BANK_CODE, "--kind", "sm2", "--public-key", str(tmp_path / "nope.pem")],
         "BAD_PUBLIC_KEY"),
        (["credentials", "add-key", BANK_CODE, "--kind", "sm2", "--public-key", key.public_pem], "PUBLIC_KEY_EXISTS"),
        (["credentials", "add-key", BANK_CODE, "--kind", "ed25519", "--public-key", "00" * 32, "--expires-days", "0"],
         "BAD_EXPIRY"),
        (["credentials", "issue-api-key", BANK_CODE, "--expires-days", "-1"], "BAD_EXPIRY"),
        (["credentials", "rotate", BANK_CODE, key_id], "PUBLIC_KEY_REQUIRED"),
        (["credentials", "rotate", BANK_CODE, key_id, "--grace-hours", "99999", "--public-key",
          SM2Key.generate().public_hex], "BAD_GRACE"),
        (["credentials", "revoke", BANK_CODE, key_id, "--reason", "x"], "REASON_REQUIRED"),
        (["credentials", "resume", BANK_CODE, key_id, "--reason", "无需恢复"], "BAD_TRANSITION"),
        (["credentials", "suspend", BANK_CODE, "0123456789abcdef", "--reason", "测试"], "CREDENTIAL_NOT_FOUND"),
    ]
    for args, code in refusals:
        r = run(*args, ok=False)
        assert r.exit_code == 1 and f"（{code}）" in r.output, (args, r.output)
        assert re.search(r"[\u4e00-\u9fff]", r.output.split("（")[0]), r.output
    assert run("credentials", "revoke", BANK_CODE, key_id, ok=False).exit_code == 2  # --reason is required
    assert _state(db) == before
