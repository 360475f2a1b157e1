"""`xinyidai credit …`: batch evaluation, indicator systems, loan outcomes and scorecards, reports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

credit_app = typer.Typer(help="信用评价、评分卡与信用报告", no_args_is_help=True)


def _fail(exc: Exception) -> None:
    code = getattr(exc, "code", type(exc).__name__)
    typer.secho(f"{getattr(exc, 'message', str(exc))}（{code}）", fg="red", err=True)
    detail = getattr(exc, "detail", None)
    if isinstance(detail, list):
        for line in detail[:50]:
            typer.echo(f"  {line}", err=True)
    raise typer.Exit(1)


@credit_app.command("evaluate")
def evaluate(as_of: str = typer.Option("", help="评价基准日 YYYY-MM-DD（默认今天）"),
             changed: bool = typer.Option(False, "--changed", help="只评价自上次批量评价以来记录有变化的主体")) -> None:
    """对全部市场主体（或记录有变化的主体）进行公共信用综合评价，并由在用及挑战者评分卡同时评分。"""
    from xinyidai.cli import _db, _settings
    from xinyidai.credit import evaluation
    from xinyidai.kit import clock
    from xinyidai.kit.errors import DomainError

    day = date.fromisoformat(as_of) if as_of else clock.today()
    db = _db(_settings())
    try:
        run = evaluation.evaluate_changed(db, day, "cli") if changed else evaluation.evaluate_all(db, day, "cli")
    except DomainError as exc:
        _fail(exc)
        return
    if run is None:
        typer.echo("自上次批量评价以来没有主体的记录发生变化。")
        return
    dist = "，".join(f"{g} {n:,}" for g, n in sorted(run.grades.items()))
    typer.secho(f"第 {run.id} 批评价完成：{run.done:,} 户（数据不足 {run.insufficient:,} 户）；{dist}", fg="green")


@credit_app.command("indicators")
def indicators(file: Path | None = typer.Argument(None, exists=True, dir_okay=False, help="新版本指标体系（YAML）")) -> None:
    """不带参数：列出指标体系版本；带文件：校验并启用新版本。"""
    from xinyidai.cli import _db, _settings
    from xinyidai.credit import evaluation
    from xinyidai.kit.errors import DomainError

    db = _db(_settings())
    with db.session() as s:
        if file is not None:
            try:
                evaluation.load_system(s, file.read_text("utf-8"), "cli")
            except DomainError as exc:
                _fail(exc)
        for x in evaluation.list_systems(s):
            typer.echo(f"{'*' if x.active else ' '} {x.version}  {x.name}")


@credit_app.command("outcomes")
def outcomes(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="贷款结果 CSV")) -> None:
    """导入贷款结果（机构代码、贷款编号、统一社会信用代码、申请日期、观察日期、是否违约）。"""
    from xinyidai.cli import _db, _settings
    from xinyidai.credit import models_service
    from xinyidai.kit.errors import DomainError

    with _db(_settings()).session() as s:
        try:
            r = models_service.import_outcomes(s, file.read_bytes(), "cli")
        except DomainError as exc:
            _fail(exc)
            return
    typer.echo(f"共 {r['rows']:,} 行：新增 {r['new']:,}，更新 {r['updated']:,}，未变 {r['unchanged']:,}")


@credit_app.command("train")
def train(name: str = typer.Option("小微企业评分卡", help="模型名称（同名为新版本）")) -> None:
    """用已导入的贷款结果训练评分卡新版本（特征取各笔贷款申请日当时的数据），打印留出集上的 AUC / KS。"""
    from xinyidai.cli import _db, _settings
    from xinyidai.credit import models_service
    from xinyidai.kit.errors import DomainError

    with _db(_settings()).session() as s:
        try:
            m = models_service.train_model(s, name, "cli")
        except DomainError as exc:
            _fail(exc)
            return
        test = m.metrics.get("test") or {}
        typer.echo(f"{m.name} v{m.version}（待启用）：样本 {m.training_rows:,}，留出集 AUC {test.get('auc', 0):.4f}，"
                   f"KS {test.get('ks', 0):.4f}")


@credit_app.command("report")
def report(code: str = typer.Argument(..., help="统一社会信用代码"),
           out: Path = typer.Option(..., "--out", "-o", help="PDF 输出文件")) -> None:
    """生成并签名一份公开版信用报告，写出 PDF，打印报告编号与验证码。"""
    from xinyidai.access.policy import default_policy
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.cli import _db, _settings
    from xinyidai.credit import reports
    from xinyidai.credit.pdf import render_pdf
    from xinyidai.kit.errors import DomainError
    from xinyidai.kit.node_key import node_signer

    st = _settings()
    with _db(st).session() as s:
        try:
            rep = reports.public_report(s, load_catalog(st.catalog_path), default_policy(),
                                        node_signer(st.var_dir, st.crypto_suite), code.strip().upper(),
                                        issuer=st.node_name, node_code=st.node_code, actor="cli",
                                        verify_base=st.public_url or "http://127.0.0.1:8000")
            pdf = render_pdf(reports.document_of(rep))
            reports.store_pdf(rep, pdf)
        except DomainError as exc:
            _fail(exc)
            return
    out.write_bytes(pdf)
    typer.echo(f"报告 {rep.report_no}，验证码 {rep.verification_code}，已写出 {out}（{len(pdf):,} 字节）")
