"""`xinyidai audit …`: check the audit chain, and sign its head now."""

from __future__ import annotations

import typer

from xinyidai.console import database, settings

audit_app = typer.Typer(help="审计日志", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(offline: bool = typer.Option(False, "--offline", help="不向上级节点取回它保存的检查点核对")) -> None:
    """校验审计日志：SM3 链、链头、签名检查点（用本节点发布过的公钥）及其连续性，并与本节点密钥目录和上级节点
    保存的检查点核对；逐项列出问题与处理建议。"""
    from xinyidai.network.checkpoints import verify_node
    s = settings()
    db = database(s)
    with db.session() as sess:
        report = verify_node(sess, s, ask_parent=not offline)
    for note in report.notes:
        typer.echo(note)
    if report.intact:
        typer.secho(f"审计链完整：已校验 {report.entries:,} 条记录、{report.checkpoints} 个签名检查点", fg="green")
        return
    typer.secho(f"审计链不完整：发现 {len(report.breaks)} 处问题（已校验 {report.entries:,} 条记录、"
                f"{report.checkpoints} 个签名检查点）", fg="red", err=True)
    for b in report.breaks:
        typer.secho(f"  [{b.code}] {b.message}", fg="red", err=True)
        typer.echo(f"      处理建议：{b.advice}", err=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """用本节点密钥对审计链当前链头签名，并排队报送上级节点（服务运行时每 10 分钟自动进行）。"""
    from xinyidai.network.checkpoints import checkpoint_now
    s = settings()
    db = database(s)
    with db.session() as sess:
        cp, queued = checkpoint_now(sess, s)
    typer.echo(f"已签名第 {cp.seq} 个检查点：截至第 {cp.last_event_id} 条，共 {cp.events:,} 条" if cp
               else "自上次检查点以来没有新记录")
    if queued:
        typer.echo(f"已排队向上级节点报送 {queued} 个检查点")
