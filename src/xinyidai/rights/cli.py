"""`xinyidai rights …`: objections, credit repair, commitments and self-reported information, the migration
from the old provincial site."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

rights_app = typer.Typer(help="企业权益：异议处理、信用修复、信用承诺与自报信息、旧站迁移", no_args_is_help=True)
objection_app = typer.Typer(help="信用信息异议", no_args_is_help=True)
repair_app = typer.Typer(help="信用修复", no_args_is_help=True)
migration_app = typer.Typer(help="黑龙江站企业、账户与授权的整体迁移", no_args_is_help=True)
rights_app.add_typer(objection_app, name="objection")
rights_app.add_typer(repair_app, name="repair")
rights_app.add_typer(migration_app, name="migration")

# ── objections: `xinyidai rights objection …` (objections helper) ──────────────────────────────────────

def _r1_cli():  # noqa: ANN202 - the console's operator, imported lazily so `--help` stays fast
    from xinyidai.kit.principal import Principal
    return Principal(0, "cli", "命令行", "operator", None)


@objection_app.command("list")
def objection_list(state: str = typer.Option("open", "--state",
                                             help="open（未办结）/ submitted / routed / answered / concluded / refused / all"),
                   overdue: bool = typer.Option(False, "--overdue", help="只列超过 20 日处理期限的")) -> None:
    """列出信用信息异议（逾期的标注“逾期”）。"""
    from xinyidai.console import database, settings
    from xinyidai.kit.pagination import PageRequest
    from xinyidai.rights import objections
    with database(settings()).session() as s:
        page = objections.listing(s, _r1_cli(), PageRequest(1, 200, "due_on", False),
                                  state=None if state == "all" else state, overdue=overdue)
        for o in page.items:
            late = "  逾期" if objections.is_overdue(o) else ""
            typer.echo(f"{o.number}\t{o.entity_code}\t{objections.OBJECTION_STATES[o.state]}\t期限 {o.due_on}{late}"
                       f"\t{o.complaint[:40]}")
        typer.echo(f"共 {page.total} 件")


@objection_app.command("show")
def objection_show(number: str = typer.Argument(..., help="异议编号，如 YY202611150001")) -> None:
    """一件异议的情况、期限与全部办理步骤。"""
    from xinyidai.console import database, settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.rights import evidence, objections
    with database(settings()).session() as s:
        try:
            o = objections.get(s, _r1_cli(), number)
        except DomainError as exc:
            typer.secho(f"{exc.message}（{exc.code}）", fg="red", err=True)
            raise typer.Exit(2) from None
        route = objections.OBJECTION_ROUTES.get(o.route or "", "尚未转交")
        facts = [("异议编号", o.number), ("企业", o.entity_code), ("记录", f"{o.category} / {o.record_key}"),
                 ("状态", objections.OBJECTION_STATES[o.state]), ("核查途径", route + (f"（{o.department}）" if o.department else "")),
                 ("处理期限", f"{o.due_on}{'（已逾期）' if objections.is_overdue(o) else ''}"),
                 ("当前环节期限", str(o.stage_due_on or "无")), ("异议内容", o.complaint), ("期望更正为", o.wanted or "未填写"),
                 ("核查结果", objections.OBJECTION_OUTCOMES.get(o.outcome or "", "尚无")),
                 ("提供单位陈述", o.provider_statement or "尚无"), ("平台说明", o.decision_note or "尚无"),
                 ("证明材料", "、".join(e.filename for e in evidence.listing(s, "objection", o.id)) or "无")]
        for k, v in facts:
            typer.echo(f"{k}：{v}")
        typer.echo("办理步骤：")
        for st in objections.steps(s, o):
            typer.echo(f"  {st.at:%Y-%m-%d %H:%M}\t{objections.STEP_LABELS.get(st.action, st.action)}\t{st.actor}"
                       f"\t{st.note or ''}")


@objection_app.command("remind")
def objection_remind() -> None:
    """到期提醒与逾期督办、收取经节点网络的核查答复（节点运行时每天自动执行）。"""
    from xinyidai.console import database, settings
    from xinyidai.kit import clock
    from xinyidai.kit.notify import make_notifier
    from xinyidai.rights import objections
    conf = settings()
    with database(conf).session() as s:
        r = objections.remind_and_escalate(s, clock.today(), make_notifier(conf.notifier, conf.var_dir))
    typer.echo(f"收到答复 {r.answered} 件，到期提醒 {r.reminded} 件，逾期督办 {r.escalated} 件")


@objection_app.command("calendar")
def objection_calendar() -> None:
    """已载入的工作日历年份（法定节假日与调休上班日，见 rights/workdays.yaml）。"""
    from xinyidai.kit import clock
    from xinyidai.rights import workdays
    cal = workdays.calendar()
    for year in sorted(cal.sources):
        off = sum(1 for d in cal.off if d.year == year)
        work = sum(1 for d in cal.work if d.year == year)
        typer.echo(f"{year}\t放假 {off} 天\t调休上班 {work} 天\t{cal.sources[year]}")
    this = clock.today().year
    for year in (this, this + 1):
        if not workdays.known(year):
            typer.secho(f"工作日历缺少 {year} 年：该年按周一至周五计算工作日，请按 workdays.yaml 的说明补充", fg="yellow")


# ── credit repair: `xinyidai rights repair …` (repair helper) ─────────────────────────────────────────

def _r3_cli():  # noqa: ANN202 - the console's operator, imported lazily so `--help` stays fast
    from xinyidai.kit.principal import Principal
    return Principal(0, "cli", "命令行", "operator", None)


@repair_app.command("list")
def repair_list(state: str = typer.Option("submitted", "--state",
                                          help="submitted（待审核）/ approved / refused / withdrawn / all")) -> None:
    """列出信用修复申请。"""
    from xinyidai.console import database, settings
    from xinyidai.kit.pagination import PageRequest
    from xinyidai.rights import repair
    from xinyidai.rights.models import REPAIR_STATES
    if state != "all" and state not in REPAIR_STATES:
        typer.secho(f"状态须为 {' / '.join(REPAIR_STATES)} / all 之一", fg="red", err=True)
        raise typer.Exit(2)
    with database(settings()).session() as s:
        page = repair.listing(s, _r3_cli(), PageRequest(1, 200, "applied_at", True),
                              state=None if state == "all" else state)
        for a in page.items:
            typer.echo(f"{a.number}\t{a.entity_code}\t{a.category}/{a.record_key}\t{REPAIR_STATES[a.state]}"
                       f"\t{a.applied_at.astimezone(_r3_tz()):%Y-%m-%d %H:%M}")
        typer.echo(f"共 {page.total} 件")


def _r3_tz():  # noqa: ANN202
    from xinyidai.kit.clock import CHINA_TZ
    return CHINA_TZ


@repair_app.command("show")
def repair_show(number: str = typer.Argument(..., help="申请编号，如 XF202611150001")) -> None:
    """一件信用修复申请的情况、承诺书、证明材料与全部办理步骤。"""
    from xinyidai.console import database, settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.rights import evidence, repair
    from xinyidai.rights.models import REPAIR_STATES
    with database(settings()).session() as s:
        try:
            a = repair.get(s, _r3_cli(), number)
        except DomainError as exc:
            typer.secho(f"{exc.message}（{exc.code}）", fg="red", err=True)
            raise typer.Exit(2) from None
        c = repair.commitment_of(s, a)
        facts = [("申请编号", a.number), ("企业", a.entity_code), ("记录", f"{a.category} / {a.record_key}（#{a.record_id}）"),
                 ("状态", REPAIR_STATES[a.state]), ("申请人", a.applied_by), ("申请理由", a.grounds),
                 ("信用修复承诺书", f"{c.number}（SM3 {c.text_digest}）" if c else "无"),
                 ("证明材料", "、".join(f"{e.filename}（{e.size_bytes} 字节）" for e in evidence.listing(s, repair.CASE, a.id))
                  or "无"),
                 ("审核意见", a.decision_note or "尚未审核"), ("修复日期", str(a.repaired_on or "未修复")),
                 ("修复后的记录版本", f"#{a.new_record_id}" if a.new_record_id else "无")]
        for k, v in facts:
            typer.echo(f"{k}：{v}")
        typer.echo("办理步骤：")
        for st in repair.steps(s, a):
            typer.echo(f"  {st.at.astimezone(_r3_tz()):%Y-%m-%d %H:%M}\t{repair.STEP_LABELS.get(st.action, st.action)}"
                       f"\t{st.actor}\t{st.note or ''}")


# ── migration: `xinyidai rights migration …` (migration helper) ───────────────────────────────────────

@migration_app.command("import")
def migration_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="迁移文件（.xlsx 或 UTF-8 JSON）")
                     ) -> None:
    """导入原黑龙江站的企业、账户与授权（同一文件只能导入一次）。"""
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.console import database, fail, settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.rights import migration

    st = settings()
    db = database(st)
    try:
        with db.session() as s:
            imp = migration.import_file(s, load_catalog(st.catalog_path), file.read_bytes(), file.name,
                                        f"cli:{getpass.getuser()}")
            import_id, counts = imp.id, dict(imp.counts)
    except DomainError as exc:
        fail(exc, 2)
    finally:
        db.dispose()
    typer.echo(f"已导入（编号 {import_id}）：" + "；".join(
        f"{label} 导入 {counts[k]['imported']}、未导入 {counts[k]['refused']}" for k, label in migration.KINDS.items()))
    typer.echo(f"逐行报告：xinyidai rights migration report {import_id} --refused")


@migration_app.command("report")
def migration_report(import_id: int = typer.Argument(..., min=1, max=2**31 - 1, help="导入编号"),
                     refused: bool = typer.Option(False, "--refused", help="只列出未导入的行")) -> None:
    """列出一次导入的逐行报告（类型、行号、标识、结果、原因）。"""
    from xinyidai.console import database, fail, settings
    from xinyidai.kit.errors import DomainError
    from xinyidai.kit.principal import Principal
    from xinyidai.rights import migration

    st = settings()
    db = database(st)
    try:
        with db.session() as s:
            who = Principal(0, f"cli:{getpass.getuser()}", "命令行", "operator", None)
            imp = migration.get_import(s, who, import_id)
            typer.echo(f"导入 {imp.id}：{imp.filename}，{imp.imported_by}，{imp.imported_at.isoformat()}")
            for r in migration.all_rows(s, who, import_id, outcome="refused" if refused else None):
                result = migration.OUTCOMES.get(r.outcome, r.outcome)
                typer.echo("\t".join([migration.KINDS.get(r.kind, r.kind), str(r.row_no), r.ref or "", result,
                                      r.code or "", r.message or ""]))
    except DomainError as exc:
        fail(exc, 2)
    finally:
        db.dispose()
