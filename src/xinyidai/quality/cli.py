"""`xinyidai quality …`: departments and sources, the rule sets and their runs, findings and scores, tickets."""

from __future__ import annotations

import os
from pathlib import Path

import typer

quality_app = typer.Typer(help="数据治理：数据来源、质量规则与检查、提供部门评分、整改工单", no_args_is_help=True)
source_app = typer.Typer(help="数据来源（前置库、REST 接口）", no_args_is_help=True)
department_app = typer.Typer(help="数据提供部门及其账户", no_args_is_help=True)
rules_app = typer.Typer(help="质量规则集（YAML，分版本）", no_args_is_help=True)
ticket_app = typer.Typer(help="整改工单", no_args_is_help=True)
quality_app.add_typer(source_app, name="source")
quality_app.add_typer(department_app, name="department")
quality_app.add_typer(rules_app, name="rules")
quality_app.add_typer(ticket_app, name="ticket")


# ── sources: `xinyidai quality source …` ───────────────────────────────────────────────────────────────

def _q1_open():  # noqa: ANN202 - (Database, Catalog, var_dir), imported lazily so `--help` stays fast
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.console import database, settings
    s = settings()
    return database(s), load_catalog(s.catalog_path), Path(s.var_dir)


def _q1_fail(exc: Exception) -> typer.Exit:
    typer.secho(f"{getattr(exc, 'message', exc)}（{getattr(exc, 'code', 'ERROR')}）", fg="red", err=True)
    return typer.Exit(2)


def _q1_actor() -> str:
    return os.environ.get("USER", "cli")


@source_app.command("add")
def source_add(file: Path | None = typer.Option(None, "--file", "-f", exists=True, dir_okay=False,
                                                 help="来源描述文件（YAML 或 JSON，字段同下列选项）"),
               name: str | None = typer.Option(None, help="来源名称（字母、数字、.-_）"),
               kind: str = typer.Option("database", help="database（前置库）或 rest（REST 接口）"),
               department: str | None = typer.Option(None, help="提供部门代码"),
               category: str | None = typer.Option(None, help="信息类别代码"),
               url: str | None = typer.Option(None, help="连接地址（不得含口令）"),
               secret_ref: str | None = typer.Option(None, help="口令位置：env:变量名 或 file:/绝对路径"),
               target: str | None = typer.Option(None, help="表名或 SELECT 语句；REST 为记录所在的 JSON 键"),
               mapping: str | None = typer.Option(None, help='字段映射 JSON，例如 {"uscc":"entity_code","ym":"period"}'),
               watermark_column: str | None = typer.Option(None, "--watermark", help="水位列"),
               every_minutes: int = typer.Option(1440, help="拉取间隔（分钟）"),
               batch_rows: int = typer.Option(50_000, help="每批最多行数")) -> None:
    """登记一个数据来源（前置库或 REST 接口）。"""
    import json

    import yaml

    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import sources
    from xinyidai.quality.connectors import mask_url
    try:
        if file is not None:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))  # JSON is YAML too
            if not isinstance(raw, dict):
                raise typer.BadParameter("来源描述文件须为一个对象")
        else:
            raw = {"name": name, "kind": kind, "department": department, "category": category, "url": url,
                   "secret_ref": secret_ref, "target": target, "watermark_column": watermark_column,
                   "every_minutes": every_minutes, "batch_rows": batch_rows,
                   "mapping": json.loads(mapping) if mapping else None}
        spec = sources.SourceSpec.from_dict(raw)
        db, catalog, _ = _q1_open()
        with db.session() as s:
            src = sources.add_source(s, catalog, spec, _q1_actor())
            typer.echo(f"已登记数据来源「{src.name}」：{mask_url(src.url)}，下次拉取即刻开始")
    except (DomainError, ValueError, OSError) as exc:
        raise _q1_fail(exc) from None


@source_app.command("edit")
def source_edit(file: Path = typer.Option(..., "--file", "-f", exists=True, dir_okay=False,
                                          help="来源的完整新描述（YAML 或 JSON，name 须与原来源相同）")) -> None:
    """修改一个数据来源（连接地址、表或查询、字段映射、间隔等）；水位不变，需要时用 reset-watermark。"""
    import yaml

    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import sources
    from xinyidai.quality.connectors import mask_url
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise typer.BadParameter("来源描述文件须为一个对象")
        spec = sources.SourceSpec.from_dict(raw)
        db, catalog, _ = _q1_open()
        with db.session() as s:
            src = sources.edit_source(s, catalog, spec.name, spec, _q1_actor())
            typer.echo(f"已修改数据来源「{src.name}」：{mask_url(src.url)}")
    except (DomainError, ValueError, OSError) as exc:
        raise _q1_fail(exc) from None


@source_app.command("list")
def source_list() -> None:
    """列出数据来源及其状态。"""
    from sqlalchemy import select

    from xinyidai.quality.connectors import mask_url
    from xinyidai.quality.models import SOURCE_STATES, Source
    db, _, _ = _q1_open()
    with db.session() as s:
        rows = s.execute(select(Source).order_by(Source.name)).scalars().all()
    if not rows:
        typer.echo("尚未登记数据来源")
    for src in rows:
        why = f"  {src.last_error_code}：{src.last_error}" if src.state == "failing" else ""
        typer.echo(f"{src.name}\t{src.kind}\t{src.department}\t{src.category}\t{SOURCE_STATES[src.state]}\t"
                   f"水位 {src.watermark or '（无）'}\t{mask_url(src.url)}{why}")


@source_app.command("show")
def source_show(name: str = typer.Argument(..., help="来源名称"),
                limit: int = typer.Option(10, help="显示最近几次拉取")) -> None:
    """显示一个数据来源及其最近的拉取。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import sources
    from xinyidai.quality.connectors import mask_url
    from xinyidai.quality.models import PULL_STATUSES, SOURCE_STATES
    db, _, _ = _q1_open()
    try:
        with db.session() as s:
            src = sources.get(s, name)
            pulls, total = sources.pulls_page(s, src.id, 1, limit)
    except DomainError as exc:
        raise _q1_fail(exc) from None
    typer.echo(f"名称：{src.name}（{src.kind}）  部门：{src.department}  类别：{src.category}")
    typer.echo(f"地址：{mask_url(src.url)}  口令：{src.secret_ref or '（无）'}  对象：{src.target}")
    typer.echo(f"映射：{src.mapping}  水位列：{src.watermark_column}  水位：{src.watermark or '（无）'}")
    typer.echo(f"状态：{SOURCE_STATES[src.state]}  连续失败：{src.failures}  下次拉取：{src.next_attempt_at or '无'}")
    if src.last_error:
        typer.echo(f"最近错误：{src.last_error}（{src.last_error_code}）")
    typer.echo(f"拉取记录（共 {total} 次）：")
    for p in pulls:
        typer.echo(f"  #{p.id} {p.started_at:%Y-%m-%d %H:%M} {PULL_STATUSES[p.status]} {p.rows} 行 "
                   f"{p.watermark_from or '起始'} → {p.watermark_to or '无'}"
                   + (f" 交付批次 #{p.delivery_id}" if p.delivery_id else "")
                   + (f" {p.error_code}：{p.message}" if p.error_code else ""))


@source_app.command("pull")
def source_pull(name: str = typer.Argument(..., help="来源名称")) -> None:
    """立即拉取一个来源，直到没有更新的数据。退出码：0 成功，3 失败或被拒收。"""
    from xinyidai.console import settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.kit.notify import make_notifier
    from xinyidai.quality import sources
    from xinyidai.quality.models import PULL_STATUSES
    db, catalog, var_dir = _q1_open()
    st = settings()
    try:
        r = sources.pull(db, catalog, var_dir, name, _q1_actor(), notifier=make_notifier(st.notifier, st.var_dir))
    except DomainError as exc:
        raise _q1_fail(exc) from None
    for p in r.pulls:
        line = f"#{p.id} {PULL_STATUSES[p.status]}：{p.rows} 行，水位 {p.watermark_from or '起始'} → {p.watermark_to or '无'}"
        if p.delivery_id:
            line += f"，交付批次 #{p.delivery_id}"
        typer.secho(line, fg="green" if p.status in ("loaded", "nothing", "duplicate") else "red")
        if p.error_code:
            typer.secho(f"  {p.message}（{p.error_code}）", fg="red", err=True)
    typer.echo(f"共拉取 {r.rows:,} 行")
    raise typer.Exit(0 if r.ok else 3)


def _q1_state(name: str, action: str, reason: str | None = None, value: str | None = None) -> None:
    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import sources
    db, _, _ = _q1_open()
    try:
        with db.session() as s:
            if action == "pause":
                sources.pause(s, name, _q1_actor())
            elif action == "resume":
                sources.resume(s, name, _q1_actor())
            else:
                sources.reset_watermark(s, name, value, reason or "", _q1_actor())
    except DomainError as exc:
        raise _q1_fail(exc) from None


@source_app.command("pause")
def source_pause(name: str = typer.Argument(..., help="来源名称")) -> None:
    """暂停定时拉取。"""
    _q1_state(name, "pause")
    typer.echo(f"已暂停「{name}」")


@source_app.command("resume")
def source_resume(name: str = typer.Argument(..., help="来源名称")) -> None:
    """恢复定时拉取（立即安排一次）。"""
    _q1_state(name, "resume")
    typer.echo(f"已恢复「{name}」")


@source_app.command("reset-watermark")
def source_reset_watermark(name: str = typer.Argument(..., help="来源名称"),
                           reason: str = typer.Option(..., "--reason", help="重置原因（记入审计日志）"),
                           value: str | None = typer.Option(None, "--to", help="新的水位值；不给则从头拉取")) -> None:
    """重置水位（例如提供部门重建了前置库表之后）。"""
    _q1_state(name, "reset", reason, value)
    typer.echo(f"已将「{name}」的水位重置为 {value or '（起始）'}")


# ── rules, runs, findings, scores: `xinyidai quality rules …`, `quality run`, `quality findings`, `quality scores`

def _q2_open():  # noqa: ANN202 - (Database, Catalog), imported lazily so `--help` stays fast
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.console import database, settings
    s = settings()
    return database(s), load_catalog(s.catalog_path)


@rules_app.command("show")
def rules_show() -> None:
    """显示当前生效的规则集（YAML）。"""
    from xinyidai.quality import rules
    db, catalog = _q2_open()
    with db.session() as s:
        rules.active(s, catalog)
        typer.echo(rules.versions(s)[0].text, nl=False)


@rules_app.command("default")
def rules_default() -> None:
    """输出由数据目录生成的默认规则集（YAML），可修改后用 load 载入。"""
    from xinyidai.quality import rules
    _, catalog = _q2_open()
    typer.echo(rules.default_text(catalog), nl=False)


@rules_app.command("load")
def rules_load(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="规则文件（YAML）"),
               note: str | None = typer.Option(None, help="版本说明"),
               user: str = typer.Option(os.environ.get("USER", "cli"), "--as", help="记入审计日志的操作人")) -> None:
    """检查并载入一个规则文件，成为新的生效版本；有错误时逐条列出，不保存。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import rules
    db, catalog = _q2_open()
    try:
        with db.session() as s:
            row = rules.store(s, file.read_text(encoding="utf-8"), user, note, catalog=catalog)
            typer.secho(f"已载入第 {row.version} 版，共 {row.rules} 条规则", fg="green")
    except DomainError as exc:
        typer.secho(f"{exc.message}（{exc.code}）", fg="red", err=True)
        for e in (exc.detail or {}).get("errors", []) if isinstance(exc.detail, dict) else []:
            typer.echo(f"  - {e}", err=True)
        raise typer.Exit(2) from None


@rules_app.command("versions")
def rules_versions() -> None:
    """列出规则集的各个版本。"""
    from xinyidai.kit import clock
    from xinyidai.quality import rules
    db, catalog = _q2_open()
    with db.session() as s:
        rules.active(s, catalog)
        for v in rules.versions(s):
            at = v.loaded_at.astimezone(clock.CHINA_TZ).strftime("%Y-%m-%d %H:%M")
            typer.echo(f"第 {v.version} 版  {v.rules} 条  {at}  {v.loaded_by}  {v.note or ''}")


@quality_app.command("run")
def quality_run(rule: list[str] = typer.Option(None, "--rule", help="只运行这些规则（可多次给出）"),
                provider: str | None = typer.Option(None, "--provider", help="只看一个提供方"),
                user: str = typer.Option(os.environ.get("USER", "cli"), "--as", help="记入审计日志的操作人")) -> None:
    """运行质量规则（默认全部），显示进度与结果摘要。退出码：0 完成，1 运行失败，2 输入有误。"""
    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import runs
    from xinyidai.quality.models import QualityRun
    db, catalog = _q2_open()

    def progress(done: int, total: int, current: str) -> None:
        typer.echo(f"[{done}/{total}] {current}" if current else f"[{done}/{total}] 保存结果", err=True)

    try:
        run_id = runs.run_rules(db, catalog, user, rule_ids=rule or None, provider=provider, progress=progress)
    except DomainError as exc:
        typer.secho(f"{exc.message}（{exc.code}）", fg="red", err=True)
        raise typer.Exit(2) from None
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        assert run is not None
        if run.status != "done":
            typer.secho(f"第 {run.id} 次检查失败：{run.message}", fg="red", err=True)
            raise typer.Exit(1)
        typer.secho(f"第 {run.id} 次检查完成：{run.done} 条规则，{run.findings} 项发现", fg="green")


@quality_app.command("findings")
def quality_findings(run: int | None = typer.Option(None, "--run", help="检查编号（默认最近一次）")) -> None:
    """列出一次检查的发现。"""
    from sqlalchemy import select

    from xinyidai.quality import runs
    from xinyidai.quality.models import SEVERITIES, Finding
    db, _ = _q2_open()
    with db.session() as s:
        if run is None:
            last = runs.latest_run(s)
            if last is None:
                typer.echo("尚未运行过质量检查")
                return
            run = last.id
        rows = s.scalars(select(Finding).where(Finding.run_id == run).order_by(Finding.id)).all()
        typer.echo(f"第 {run} 次检查：{len(rows)} 项发现")
        for f in rows:
            typer.echo(f"#{f.id} [{SEVERITIES.get(f.severity, f.severity)}] {f.provider}  {f.rule_id}  "
                       f"影响 {f.affected}/{f.population or '-'}  {f.message}")


@quality_app.command("scores")
def quality_scores() -> None:
    """各提供方最近一次全量检查的评分。"""
    from xinyidai.quality import scorecards
    from xinyidai.quality.models import DIMENSIONS
    db, _ = _q2_open()
    with db.session() as s:
        run, rows = scorecards.latest(s)
        if run is None:
            typer.echo("尚无评分（需运行一次全部规则）")
            return
        by: dict[str, dict[str, str]] = {}
        for r in rows:
            by.setdefault(r.provider, {})[r.dimension] = f"{r.score:.1f}{r.grade}"
        typer.echo(f"第 {run.id} 次检查（{run.as_of}）")
        for provider, d in sorted(by.items()):
            parts = [f"{DIMENSIONS[k]} {v}" for k, v in d.items() if k in DIMENSIONS]
            typer.echo(f"{provider}  综合 {d.get('overall', '-')}  " + "  ".join(parts))


# ── departments and tickets: `xinyidai quality department …`, `quality ticket …` ──────────────────────────

def _q3_fail(exc: Exception) -> typer.Exit:
    typer.secho(getattr(exc, "message", str(exc)), fg="red", err=True)
    return typer.Exit(2)


@department_app.command("add")
def department_add(code: str = typer.Argument(..., help="部门代码（小写字母、数字、连字符）"),
                   name: str = typer.Option(..., "--name", help="部门名称，须与其报送数据中的提供单位一致"),
                   region: str = typer.Option("230000", "--region", help="所属区划：230000（省级）或本省一个市的代码"),
                   contact: str | None = typer.Option(None, "--contact", help="联系人手机号（工单提醒、督办通知）")) -> None:
    """登记一个数据提供部门。"""
    from xinyidai.console import database, settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import departments
    try:
        with database(settings()).session() as s:
            d = departments.create(s, code=code, name=name, region=region, contact=contact, actor="cli")
            typer.echo(f"已登记部门 {d.code}（{d.name}，区划 {d.region}）")
    except DomainError as exc:
        raise _q3_fail(exc) from None


@department_app.command("list")
def department_list() -> None:
    """列出数据提供部门及其账户数。"""
    from xinyidai.console import database, settings
    from xinyidai.quality import departments
    with database(settings()).session() as s:
        rows = departments.listing(s)
        for d in rows:
            typer.echo(f"{d.code}\t{d.name}\t{d.region or ''}\t{d.contact or ''}\t账户 {len(departments.accounts(s, d.code))}")
        if not rows:
            typer.echo("还没有登记数据提供部门")


@department_app.command("add-user")
def department_add_user(code: str = typer.Argument(..., help="部门代码"),
                        username: str = typer.Argument(..., help="登录名"),
                        name: str = typer.Option("", "--name", help="显示名称（默认部门名称）")) -> None:
    """为部门开设账户（角色 数据提供部门）；密码从环境变量 XINYIDAI_NEW_PASSWORD 读取，否则交互输入。"""
    from xinyidai.console import database, settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.quality import departments
    password = os.environ.get("XINYIDAI_NEW_PASSWORD") or typer.prompt("密码", hide_input=True,
                                                                        confirmation_prompt=True)
    try:
        with database(settings()).session() as s:
            u = departments.add_account(s, code, username, name, password, "cli")
            typer.echo(f"已为部门 {code} 开设账户 {u.username}")
    except DomainError as exc:
        raise _q3_fail(exc) from None


@ticket_app.command("list")
def ticket_list(state: str = typer.Option("live", "--state", help="live（未关闭）/ open / answered / closed / all"),
                department: str | None = typer.Option(None, "--department", help="部门代码")) -> None:
    """列出整改工单（逾期的标注“逾期”）。"""
    from xinyidai.console import database, settings
    from xinyidai.kit.pagination import PageRequest
    from xinyidai.kit.principal import Principal
    from xinyidai.quality import tickets
    from xinyidai.quality.models import TICKET_STATES
    cli = Principal(0, "cli", "命令行", "operator", None)
    with database(settings()).session() as s:
        page = tickets.listing(s, cli, PageRequest(1, 200, "due_on", False), state=None if state == "all" else state,
                               department=department)
        for t in page.items:
            late = "  逾期" if tickets.is_overdue(t) else ""
            typer.echo(f"{t.number}\t{t.department}\t{TICKET_STATES[t.state]}\t期限 {t.due_on}{late}\t{t.title}")
        typer.echo(f"共 {page.total} 张")


@ticket_app.command("escalate")
def ticket_escalate() -> None:
    """到期提醒与逾期督办（节点运行时每天自动执行一次）。"""
    from xinyidai.console import database, settings
    from xinyidai.kit import clock
    from xinyidai.kit.notify import make_notifier
    from xinyidai.quality import tickets
    conf = settings()
    with database(conf).session() as s:
        n = tickets.escalate_overdue(s, clock.today(), make_notifier(conf.notifier, conf.var_dir))
    typer.echo(f"逾期督办 {n} 张")


@ticket_app.command("close")
def ticket_close(number: str = typer.Argument(..., help="工单编号，如 QT-2026-000001"),
                 reason: str = typer.Option(..., "--reason", help="关闭理由（如 接受部门说明），记入工单与审计日志")) -> None:
    """关闭工单（运营人员接受部门答复）；来自上级节点反馈的工单，其结果随下一轮报送报回上级。"""
    from xinyidai.console import database, fail, settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.kit.principal import Principal
    from xinyidai.quality import tickets
    cli = Principal(0, "cli", "命令行", "operator", None)
    with database(settings()).session() as s:
        try:
            t = tickets.close(s, cli, number, reason)
        except DomainError as exc:
            fail(exc)
        typer.echo(f"工单 {t.number} 已关闭")
