"""`xinyidai audit …`: check the audit chain, and sign its head now."""

from __future__ import annotations

import typer

from xinyidai.console import database, settings

audit_app = typer.Typer(help="审计日志", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """校验审计日志的 SM3 链与签名检查点；断开时指出第一条被改动的记录。"""
    from xinyidai.kit.audit import verify_chain
    from xinyidai.kit.node_key import verify_signature
    db = database(settings())
    with db.session() as sess:
        report = verify_chain(sess, verify_signature)
    if report.intact:
        typer.secho(f"审计链完整：已校验 {report.entries:,} 条记录、{report.checkpoints} 个签名检查点", fg="green")
    else:
        typer.secho(f"审计链在第 {report.first_broken} 条记录处断开（已校验 {report.entries:,} 条）：{report.reason}",
                    fg="red", err=True)
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """用本节点密钥对审计链当前链头签名（服务运行时每 10 分钟自动进行）。"""
    from xinyidai.kit.audit import make_checkpoint
    from xinyidai.kit.node_key import node_signer
    s = settings()
    db = database(s)
    with db.session() as sess:
        cp = make_checkpoint(sess, node_signer(s.var_dir, s.crypto_suite))
    typer.echo(f"已签名检查点：截至第 {cp.last_event_id} 条，共 {cp.events:,} 条" if cp else "自上次检查点以来没有新记录")
