"""`xinyidai credit …`: batch evaluation, indicator systems, loan outcomes and scorecards (and, added by the
reports domain, `credit report`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from xinyidai.console import database, fail, settings

credit_app = typer.Typer(help="信用评价、评分卡与信用报告", no_args_is_help=True)


@credit_app.command("evaluate")
def evaluate(as_of: str = typer.Option("", help="评价基准日 YYYY-MM-DD（默认今天）"),
             changed: bool = typer.Option(False, "--changed", help="只评价自上次批量评价以来记录有变化的主体")) -> None:
    """对全部市场主体（或记录有变化的主体）进行公共信用综合评价，并由在用及挑战者评分卡同时评分。"""
    from xinyidai.credit import evaluation
    from xinyidai.kit import clock
    from xinyidai.kit.errors import DomainError

    day = date.fromisoformat(as_of) if as_of else clock.today()
    db = database(settings())
    try:
        run = evaluation.evaluate_changed(db, day, "cli") if changed else evaluation.evaluate_all(db, day, "cli")
    except DomainError as exc:
        fail(exc)
    if run is None:
        typer.echo("自上次批量评价以来没有主体的记录发生变化。")
        return
    dist = "，".join(f"{g} {n:,}" for g, n in sorted(run.grades.items()))
    typer.secho(f"第 {run.id} 批评价完成：{run.done:,} 户（数据不足 {run.insufficient:,} 户）；{dist}", fg="green")


@credit_app.command("indicators")
def indicators(file: Path | None = typer.Argument(None, exists=True, dir_okay=False, help="新版本指标体系（YAML）")) -> None:
    """不带参数：列出指标体系版本；带文件：校验并启用新版本。"""
    from xinyidai.credit import evaluation
    from xinyidai.kit.errors import DomainError

    db = database(settings())
    with db.session() as s:
        if file is not None:
            try:
                evaluation.load_system(s, file.read_text("utf-8"), "cli")
            except DomainError as exc:
                fail(exc)
        for x in evaluation.list_systems(s):
            typer.echo(f"{'*' if x.active else ' '} {x.version}  {x.name}")


@credit_app.command("outcomes")
def outcomes(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="贷款结果 CSV")) -> None:
    """导入贷款结果（机构代码、贷款编号、统一社会信用代码、申请日期、观察日期、是否违约）。"""
    from xinyidai.credit import scorecards
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            r = scorecards.import_outcomes(s, file.read_bytes(), "cli")
        except DomainError as exc:
            fail(exc)
    typer.echo(f"共 {r['rows']:,} 行：新增 {r['new']:,}，更新 {r['updated']:,}，未变 {r['unchanged']:,}")


@credit_app.command("train")
def train(name: str = typer.Option("小微企业评分卡", help="模型名称（同名为新版本）")) -> None:
    """用已导入的贷款结果训练评分卡新版本（特征取各笔贷款申请日当时的数据），打印留出集上的 AUC / KS。"""
    from xinyidai.credit import scorecards
    from xinyidai.kit.errors import DomainError

    with database(settings()).session() as s:
        try:
            m = scorecards.train_model(s, name, "cli")
        except DomainError as exc:
            fail(exc)
        test = m.metrics.get("test") or {}
        typer.echo(f"{m.name} v{m.version}（待启用）：样本 {m.training_rows:,}，留出集 AUC {test.get('auc', 0):.4f}，"
                   f"KS {test.get('ks', 0):.4f}")
