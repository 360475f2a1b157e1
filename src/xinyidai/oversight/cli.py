"""`xinyidai oversight …`: indicator systems and the runs of the ranking of cities (the pages do the same)."""

from __future__ import annotations

from pathlib import Path

import typer

from xinyidai.console import database, fail, settings

oversight_app = typer.Typer(help="考核督导：指标体系、各市（地）排名", no_args_is_help=True)


@oversight_app.command("indicators")
def indicators_command(file: Path | None = typer.Argument(None, exists=True, dir_okay=False,
                                                          help="新版本考核指标体系（YAML）")) -> None:
    """不带参数：列出考核指标体系版本；带文件：校验、保存并启用新版本（错误逐条列出）。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.oversight import indicators

    with database(settings()).session() as s:
        if file is not None:
            try:
                indicators.store(s, indicators.load_file(file), "cli")
            except DomainError as exc:
                for e in (exc.detail or {}).get("errors", []) if isinstance(exc.detail, dict) else []:
                    typer.echo(f"  - {e}", err=True)
                fail(exc)
        indicators.active(s)
        for v in indicators.versions(s):
            typer.echo(f"{'*' if v.active else ' '} {v.version}  {v.name}  {v.digest[:16]}")


@oversight_app.command("run")
def run_command(start: str = typer.Argument(..., help="考核期间起始月份 YYYY-MM"),
                end: str = typer.Option("", help="截止月份 YYYY-MM（默认同起始月份）"),
                reason: str = typer.Option("", help="重新计算的原因（不填则取回已保存的同期结果）")) -> None:
    """计算（或取回已保存的）一个考核期间的各市（地）排名。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.oversight import runs

    with database(settings()).session() as s:
        try:
            r = runs.run(s, runs.period_of(start, end or None), "cli", recompute_reason=reason or None)
        except DomainError as exc:
            fail(exc)
        rk = runs.ranking(s, r)
        typer.secho(f"{r.number}：{rk.period_text}，指标体系 {r.system_version}，依据 {r.evidence:,} 条记录", fg="green")
        for c in rk.cities:
            typer.echo(f"  {c.rank:>2}  {c.name:<8}  {c.total:7.2f}" + (f"  缺数据 {c.missing} 项" if c.missing else ""))
