"""`xinyidai ingest`: check and load one delivery file from the command line, with its row-level report."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import typer

from xinyidai.console import database, settings


def ingest(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="数据文件"),
           provider: str = typer.Option(..., "--provider", "-p", help="数据提供部门，例如 哈尔滨市税务局"),
           category: str = typer.Option(..., "--category", "-c", help="信息类别（代码或名称）"),
           threshold: float | None = typer.Option(None, help="拒收阈值（0–1），默认取配置"),
           sheet: str | None = typer.Option(None, help="XLSX 工作表名称（默认第一个）"),
           user: str = typer.Option(os.environ.get("USER", "cli"), "--as", help="记入审计日志的报送人"),
           report: Path | None = typer.Option(None, help="把问题清单另存为 CSV")) -> None:
    """校验并载入一个交付文件（CSV / JSON Lines / XLSX）。退出码：0 接收或部分接收或重复，3 整批拒收，1 失败。"""
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.kit.errors import DomainError
    from xinyidai.records import service
    from xinyidai.records.loading import ingest_file
    s = settings()
    db = database(s)
    started = time.perf_counter()

    def progress(n: int) -> None:
        if sys.stderr.isatty():
            print(f"\r已处理 {n:,} 行", end="", file=sys.stderr, flush=True)

    try:
        d, outcome = ingest_file(db, load_catalog(s.catalog_path), file, provider=provider, category=category,
                                 submitted_by=user, source="cli", filename=os.fsdecode(file.name),
                                 threshold=s.reject_threshold if threshold is None else threshold,
                                 sheet=sheet, progress=progress)
    except DomainError as exc:
        typer.secho(f"\n{exc.message}（{exc.code}）", fg="red", err=True)
        raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    if sys.stderr.isatty():
        print(file=sys.stderr)
    color = {"accepted": "green", "partial": "yellow", "duplicate": "yellow"}.get(d.status, "red")
    typer.secho(f"交付批次 #{d.id}：{d.status_label}", fg=color, bold=True)
    if d.message:
        typer.echo(d.message)
    typer.echo(f"用时 {elapsed:.1f} 秒" + (f"，{d.rows_total / elapsed:,.0f} 行/秒" if d.rows_total else ""))
    shown = [i for i in outcome.issues][:20]
    for i in shown:
        where = f"第 {i.row_no} 行" if i.row_no else "文件"
        field = f"「{i.field}」" if i.field else ""
        typer.echo(f"  {where}{field}：{i.message} [{i.code}]")
    if len(outcome.issues) > len(shown):
        typer.echo(f"  ……共 {len(outcome.issues):,} 项问题，完整清单用 --report 导出")
    if report:
        with db.session() as sess, open(report, "w", encoding="utf-8", newline="") as fh:
            for chunk in service.issues_csv(sess, d.id):
                fh.write(chunk)
        typer.echo(f"问题清单已写入 {report}")
    raise typer.Exit({"accepted": 0, "partial": 0, "duplicate": 0, "rejected": 3}.get(d.status, 1))
