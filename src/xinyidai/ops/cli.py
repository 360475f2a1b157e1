"""`xinyidai backup` and `xinyidai restore` (the root command registers both)."""

from __future__ import annotations

from pathlib import Path

import typer

from xinyidai.console import fail, settings
from xinyidai.kit.errors import DomainError


def backup(
    dest: Path = typer.Argument(..., help="备份目标：新的（或空的）目录，或以 .tar 结尾的文件"),
    no_keys: bool = typer.Option(False, "--no-keys", help="不备份密钥目录（密钥另行备份时）"),
) -> None:
    """备份本节点：数据库（SQLite 在线备份 / PostgreSQL pg_dump）、加密封装的密钥目录（口令取自
    XINYIDAI_BACKUP_PASSPHRASE）和记载审计链头、行数与 SM3 摘要的清单。"""
    from xinyidai.ops.backup import create_backup
    s = settings()
    try:
        result = create_backup(s, dest, include_keys=not no_keys)
    except DomainError as exc:
        fail(exc)
    m = result.manifest
    head = m["audit_head"]
    typer.secho(f"已备份节点 {m['node_code']}（{m['node_role']}）到 {result.path}", fg="green")
    typer.echo(f"数据库：{m['database']['kind']}，迁移版本 {m['schema_revision']}，"
               f"{sum(m['row_counts'].values()):,} 行（{len(m['row_counts'])} 张表）")
    typer.echo(f"审计链头：第 {head['last_id']} 条，共 {head['count']:,} 条，摘要 {head['digest']}，"
               f"检查点 {head['checkpoint_seq']} 个")
    typer.echo("密钥目录：已用 SM4 加密封装" if m.get("keys") else "密钥目录：未备份（--no-keys）")
    typer.echo(f"清单 SM3：{result.manifest_digest}（请另行记录，用于核对清单未被改动）")


def restore(
    source: Path = typer.Argument(..., help="备份目录或 .tar 文件"),
    force: bool = typer.Option(False, "--force", help="目标数据库或密钥目录不为空时仍然恢复（原有文件改名保留）"),
) -> None:
    """把备份恢复到本节点配置的数据目录与数据库：核对节点代码与 SM3 摘要，解封密钥，恢复后校验审计链、
    链头、中继游标和迁移版本；任何一项不符都不启用恢复的数据。恢复前请先停止本节点的服务。"""
    from xinyidai.ops.backup import restore_backup
    s = settings()
    try:
        result = restore_backup(s, source, force=force)
    except DomainError as exc:
        fail(exc)
    m = result.manifest
    head = m["audit_head"]
    typer.secho(f"已恢复节点 {m['node_code']} 于 {m['created_at']} 的备份", fg="green")
    typer.echo(f"数据库（{result.kind}）：{result.database}，迁移版本 {m['schema_revision']}，"
               f"{sum(m['row_counts'].values()):,} 行（{len(m['row_counts'])} 张表，与清单一致）")
    typer.echo(f"审计链完整：{result.entries:,} 条记录、{result.checkpoints} 个签名检查点，"
               f"链头第 {head['last_id']} 条与清单一致")
    typer.echo(f"中继游标：{len(m['relay_cursors'])} 个，与清单一致")
    typer.echo(f"密钥目录：{result.keys}" if result.keys else "密钥目录：备份中没有，沿用本节点现有的")
    for path in result.set_aside:
        typer.echo(f"原有文件已改名保留：{path}")
    for note in result.notes:
        typer.echo(note)


config_app = typer.Typer(help="配置", no_args_is_help=True)


@config_app.command("reference")
def config_reference() -> None:
    """打印配置参考：每个 XINYIDAI_* 环境变量、默认值与含义（Markdown 表格，即 README 中的那张）。"""
    from xinyidai.ops.configref import render
    typer.echo(render(), nl=False)
