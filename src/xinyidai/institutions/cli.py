"""`xinyidai institutions …`: onboard an institution and manage its machine credentials from the command
line — the same `onboarding` functions the pages call, acting as an operator named after the login account
(`cli:<account>`), so every change is audited exactly as from the pages."""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta
from pathlib import Path

import typer

from xinyidai.console import database, fail, settings

institutions_app = typer.Typer(help="金融机构：接入与接口凭证（签名公钥、API 密钥）", no_args_is_help=True)
credentials_app = typer.Typer(help="接口凭证：登记签名公钥、签发 API 密钥、轮换、暂停、恢复、吊销", no_args_is_help=True)
institutions_app.add_typer(credentials_app, name="credentials")


def _operator():  # noqa: ANN202 - a Principal (imported late: the CLI starts fast)
    from xinyidai.kit.principal import Principal

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    name = f"cli:{who}"[:64]
    return Principal(0, name, f"命令行（{who}）", "operator", None)


def _expires(days: int | None) -> datetime | None:
    from xinyidai.kit import clock
    from xinyidai.kit.errors import InvalidInput

    if days is None:
        return None
    if not 1 <= days <= 3650:
        fail(InvalidInput("有效天数应在 1 到 3650 之间", code="BAD_EXPIRY"))
    return clock.now() + timedelta(days=days)


def _public_key(value: str) -> str:
    """A public key given as a file (PEM or hex inside) or as hex on the command line."""
    from xinyidai.kit.errors import InvalidInput

    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text
    path = Path(text)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            fail(InvalidInput(f"无法读取公钥文件 {path}", code="BAD_PUBLIC_KEY"))
    if "/" in text or text.lower().endswith((".pem", ".pub", ".txt", ".hex")):
        fail(InvalidInput(f"找不到公钥文件 {path}", code="BAD_PUBLIC_KEY"))
    return text


def _show(c: dict) -> str:
    state = c["status_label"] + ("（已过期）" if c["expired"] else "")
    parts = [c["key_id"], c["kind_label"], state, c["label"] or "-", f"创建 {c['created_at'][:16]}",
             f"到期 {c['expires_at'][:16]}" if c["expires_at"] else "长期有效",
             f"最近使用 {c['last_used_at'][:16]}" if c["last_used_at"] else "未使用"]
    return "  ".join(parts)


@institutions_app.command("add")
def add(code: str = typer.Argument(..., help="机构的统一社会信用代码"),
        name: str = typer.Option(..., help="机构名称"),
        kind: str = typer.Option("银行", help="银行 / 银行分支机构 / 信用服务机构 / 担保机构 / 小额贷款公司"),
        region: str = typer.Option("", help="行政区划代码（6 位）"),
        rate: int = typer.Option(600, help="每分钟请求上限")) -> None:
    """接入一家金融机构（与运营页面“接入机构”相同）。"""
    from xinyidai.institutions import onboarding
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            inst = onboarding.onboard(s, _operator(), code=code, name=name, kind=kind, region_code=region or None,
                                      rate_per_minute=rate)
        except DomainError as exc:
            fail(exc)
        typer.echo(f"已接入 {inst.name}（{inst.code}），每分钟请求上限 {inst.rate_per_minute}")


@credentials_app.command("list")
def list_(code: str = typer.Argument(..., help="机构的统一社会信用代码")) -> None:
    """列出机构的接口凭证（不显示任何密钥）。"""
    from xinyidai.institutions import onboarding
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            creds = onboarding.list_credentials(s, _operator(), code)
        except DomainError as exc:
            fail(exc)
        for c in creds:
            typer.echo(_show(onboarding.credential_dict(c)))
        if not creds:
            typer.echo("（该机构还没有接口凭证）")


@credentials_app.command("add-key")
def add_key(code: str = typer.Argument(..., help="机构的统一社会信用代码"),
            kind: str = typer.Option(..., help="sm2 或 ed25519"),
            public_key: str = typer.Option(..., help="公钥文件（PEM 或十六进制）或十六进制公钥"),
            label: str = typer.Option("", help="备注，如部署环境"),
            expires_days: int | None = typer.Option(None, help="有效天数（不填则长期有效）")) -> None:
    """登记机构用于请求签名的公钥；输出凭证编号（X-XYD-Key-Id）。"""
    from xinyidai.institutions import onboarding
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            cred = onboarding.register_public_key(s, _operator(), code, kind=kind.strip().lower(),
                                                  public_key=_public_key(public_key), label=label,
                                                  expires_at=_expires(expires_days))
        except DomainError as exc:
            fail(exc)
        key_id = cred.key_id
    typer.echo(f"已登记签名公钥，凭证编号（X-XYD-Key-Id）：{key_id}")


@credentials_app.command("issue-api-key")
def issue_api_key(code: str = typer.Argument(..., help="机构的统一社会信用代码"),
                  label: str = typer.Option("", help="备注"),
                  expires_days: int | None = typer.Option(None, help="有效天数（不填则长期有效）")) -> None:
    """签发 API 密钥：密钥只在此显示一次，平台只保存其摘要。"""
    from xinyidai.institutions import onboarding
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            issued = onboarding.issue_api_key(s, _operator(), code, label=label, expires_at=_expires(expires_days))
        except DomainError as exc:
            fail(exc)
        key_id, token = issued.credential.key_id, issued.token
    typer.echo(f"已签发 API 密钥（凭证 {key_id}），请立即交给机构妥善保存，此后不再显示：")
    typer.echo(token)


@credentials_app.command("rotate")
def rotate(code: str = typer.Argument(..., help="机构的统一社会信用代码"),
           key_id: str = typer.Argument(..., help="要轮换的凭证编号"),
           grace_hours: int = typer.Option(24, help="旧凭证继续有效的小时数；0 表示立即吊销（疑似泄露时）"),
           public_key: str = typer.Option("", help="签名凭证：新的公钥文件或十六进制公钥")) -> None:
    """轮换凭证：新凭证立即可用，旧凭证在过渡期后失效。API 密钥轮换时输出新密钥（仅此一次）。"""
    from xinyidai.institutions import onboarding
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            new, issued = onboarding.rotate(s, _operator(), code, key_id, grace_hours=grace_hours,
                                            public_key=_public_key(public_key) if public_key else None)
        except DomainError as exc:
            fail(exc)
        new_id, token = new.key_id, issued.token if issued else None
    typer.echo(f"已轮换：新凭证 {new_id}；旧凭证 {key_id} "
               + ("已立即吊销" if grace_hours == 0 else f"在 {grace_hours} 小时后失效"))
    if token:
        typer.echo("新的 API 密钥（仅显示这一次）：")
        typer.echo(token)


def _status(code: str, key_id: str, action: str, reason: str, done: str) -> None:
    from xinyidai.institutions import onboarding
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            onboarding.change_credential_status(s, _operator(), code, key_id, action, reason)
        except DomainError as exc:
            fail(exc)
    typer.echo(f"凭证 {key_id} {done}")


REASON = typer.Option(..., help="原因（至少 2 个字，记入审计日志）")


@credentials_app.command("revoke")
def revoke(code: str = typer.Argument(...), key_id: str = typer.Argument(...), reason: str = REASON) -> None:
    """吊销凭证（不可恢复）。"""
    _status(code, key_id, "revoke", reason, "已吊销")


@credentials_app.command("suspend")
def suspend(code: str = typer.Argument(...), key_id: str = typer.Argument(...), reason: str = REASON) -> None:
    """暂停凭证（可恢复）。"""
    _status(code, key_id, "suspend", reason, "已暂停")


@credentials_app.command("resume")
def resume(code: str = typer.Argument(...), key_id: str = typer.Argument(...), reason: str = REASON) -> None:
    """恢复已暂停的凭证。"""
    _status(code, key_id, "reactivate", reason, "已恢复")
