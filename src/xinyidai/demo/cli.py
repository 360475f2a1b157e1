"""`xinyidai demo`: the synthetic province on this node's database, or four real nodes on this machine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import typer

from xinyidai.config import Settings
from xinyidai.console import settings


def demo(entities: int = typer.Option(5000, help="市场主体数量（基准测试可到 3,000,000）"),
         seed: int = typer.Option(20220516, help="随机种子：同一种子得到同样的数据"),
         months: int = typer.Option(24, help="按月数据的月数"),
         reset: bool = typer.Option(False, "--reset", help="先清空数据库（仅限 SQLite 文件或显式确认）"),
         yes: bool = typer.Option(False, "--yes", help="对 PostgreSQL 也执行清空"),
         network: bool = typer.Option(False, "--network", help="启动四节点网络演示（国家、省、哈尔滨、齐齐哈尔）"),
         city_entities: int = typer.Option(300, help="--network：每个城市节点的市场主体数量"),
         base_port: int = typer.Option(8100, help="--network：四个节点依次使用的端口起点")) -> None:
    """生成演示省份（合成的黑龙江省）：主体、17 类记录、有缺陷的交付批次和各角色演示账户。"""
    if network:  # each node in var/network/<code>, its own database; stops all nodes on Ctrl-C
        from xinyidai.demo import network as network_demo
        network_demo.run(settings().var_dir, base_port, city_entities, seed)
        return
    from sqlalchemy.engine import make_url

    from xinyidai.catalog.schema import load_catalog
    from xinyidai.demo import build_demo
    from xinyidai.kit import migrate
    from xinyidai.kit.db import Database
    from xinyidai.models import metadata
    s = settings()
    url = s.resolved_database_url
    if reset:
        u = make_url(url)
        if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(u.database + suffix).unlink(missing_ok=True)
        elif yes:
            db = Database(url)
            metadata.drop_all(db.engine)
            with db.engine.begin() as conn:
                from sqlalchemy import text
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.dispose()
        else:
            typer.secho("清空非 SQLite 数据库需要同时给出 --yes", fg="red", err=True)
            raise typer.Exit(2)
        for folder in ("demo-deliveries", "demo-samples"):
            shutil.rmtree(s.var_dir / folder, ignore_errors=True)
        from xinyidai.kit.node_key import archive_journal
        archive_journal(s.var_dir)  # a new chain: the old one's checkpoint heads are kept aside, not expected of it
    db = Database(url)
    migrate.upgrade(db.engine)

    def progress(stage: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{stage}：{done:,} / {total:,}    ", end="", file=sys.stderr, flush=True)

    summary = build_demo(db, load_catalog(s.catalog_path), entities=entities, seed=seed, months=months,
                         defects_dir=s.var_dir / "demo-deliveries", progress=progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    _print_demo(summary, s)
    # Evaluation runs, loan applications, a scorecard, lists and sample files: every role's pages have content.
    from xinyidai.demo import credit as credit_demo
    from xinyidai.kit import clock

    c = credit_demo.seed(db, load_catalog(s.catalog_path), clock.today(), s.node_code, s.var_dir / "demo-samples",
                         seed)
    _print_credit(c, summary)
    from xinyidai.demo import market as market_demo

    m = market_demo.seed(db, load_catalog(s.catalog_path), clock.today(), s.node_code, seed)
    typer.echo(f"融资服务：{m.products} 个金融产品，{m.applications:,} 笔融资申请，{m.loans:,} 笔授信"
               f"（累计 {m.granted_fen / 1_000_000:,.2f} 万元），{m.overdue} 笔逾期进入违约响应")
    from xinyidai.demo import policy as policy_demo
    from xinyidai.policy.flows import CLAIM

    pd = policy_demo.seed(db, load_catalog(s.catalog_path), clock.today(), s.node_code, s.var_dir)
    if pd.programmes:
        states = {st.code: st.label for st in CLAIM.states}
        typer.echo(f"政策资金：哈尔滨市贴息、风险补偿资金池、担保费补贴 {len(pd.programmes)} 个项目，备案贷款 {pd.enrolled:,} 笔；申领 "
                   + "、".join(f"{states.get(k, k)} {n}" for k, n in sorted(pd.claims.items()))
                   + (f"；批量申领 {pd.batch} 待审核" if pd.batch else "")
                   + (f"；担保合同 {pd.contract}（guarantor 账户）" if pd.contract else ""))
    from xinyidai.demo import quality as quality_demo

    qd = quality_demo.seed(db, load_catalog(s.catalog_path), clock.today(), s.var_dir)
    typer.echo(f"数据治理：登记数据提供部门 {qd.departments} 个（department 账户为{quality_demo.CUSTOMS}），"
               + (f"从供水企业前置库拉取 {qd.pulled} 条，" if qd.source else "")
               + f"默认质量规则检查发现问题 {qd.findings} 项，自动开具整改工单 {qd.tickets} 张"
               + (f"；{quality_demo.CUSTOMS}的进出口数据已 {quality_demo.LATE_DAYS} 天未更新（/quality）" if qd.late else ""))
    from xinyidai.demo import rights as rights_demo

    rd = rights_demo.seed(db, load_catalog(s.catalog_path), clock.today(), s.var_dir)
    if rd.enterprise:
        typer.echo("企业权益：enterprise 账户可在“我的信用信息”中对记录提出异议（哈尔滨海关的进出口记录由 department 账户核查）"
                   + (f"，行政处罚 {rd.penalty} 已过最短公示期，可在“信用修复”中申请提前停止公示" if rd.penalty else "")
                   + "".join(f"；{n}" for n in rd.notes)
                   + (f"；原黑龙江站的导出文件在 {rd.migration_file}，可在“旧站迁移”中导入" if rd.migration_file else ""))
    from xinyidai.demo import oversight as oversight_demo

    od = oversight_demo.seed(db, clock.today())
    typer.echo(f"考核督导：{len(od.runs)} 个月的各市（地）考核排名已计算（regulator 账户，/oversight），"
               f"登记通知主要任务 {od.notice_tasks} 项（往年到期的 {od.closed} 项已办结），生成督办事项 {od.followups} 项")
    if pd.enterprise_loan:
        granted, _ = policy_demo.loan_dates(clock.today())
        typer.echo(f"enterprise 账户在 bank 账户所属银行有一笔未备案的贷款 {policy_demo.LOAN_REF}（{pd.enterprise_loan}，"
                   f"{granted} 授信并放款），可用于政策备案和贴息申领")


def _print_demo(summary, s: Settings) -> None:  # noqa: ANN001 - a DemoSummary
    from xinyidai.catalog.render import align_rows
    from xinyidai.catalog.schema import load_catalog
    from xinyidai.records.models import DELIVERY_STATUSES
    cat = load_catalog(s.catalog_path)
    total = sum(summary.records.values())
    typer.secho(f"演示省份已生成：{summary.entities:,} 户市场主体，{total:,} 条信用记录，"
                f"用时 {summary.elapsed_seconds:.1f} 秒（种子 {summary.seed}）", fg="green", bold=True)
    rows = [[cat.category(code).name, f"{n:,}"] for code, n in summary.records.items()]
    for line in align_rows(rows):
        typer.echo("  " + line)
    typer.echo("有缺陷的演示交付批次（在「交付批次」页面查看报告）：")
    rows = [[f"#{d.id}", DELIVERY_STATUSES.get(d.status, d.status), d.filename,
             f"{d.rows_total:,} 行，拒收 {d.rows_rejected:,}"]
            for d in summary.deliveries if d.filename and not d.filename.startswith("初始加载")]
    for line in align_rows(rows):
        typer.echo("  " + line)
    typer.echo(f"演示账户（密码均为 {summary.accounts[0].password}）：")
    for line in align_rows([[a.username, a.display_name] for a in summary.accounts]):
        typer.echo("  " + line)


def _print_credit(c, summary) -> None:  # noqa: ANN001 - a CreditDemo and a DemoSummary
    from xinyidai.catalog.render import align_rows
    bank = summary.institutions[0].name if summary.institutions else "演示银行"
    a = c.applications
    typer.echo(f"公共信用综合评价（第 {c.run_id} 批）：" + "，".join(f"{g} {n:,} 户" for g, n in sorted(c.grades.items())))
    typer.echo(f"{a.granted:,} 户企业已授权银行查询（融资申请），其中 {a.to_demo_bank:,} 户授权 {bank}"
               "（bank 账户的「授权企业」）")
    if a.enterprise_authorization:
        typer.echo(f"enterprise 账户已授权另一家银行（{a.enterprise_authorization}），可在「我的授权」「谁查看了我的数据」查看")
    typer.echo(f"异常告警 {a.alerts:,} 条（security 账户的「异常告警」）")
    typer.echo(f"评分卡：{c.model or '贷款结果不足，未训练'}；白名单 {c.whitelist}：{c.whitelist_entries:,} 户；"
               f"重点项目清单：{c.key_projects or '无'}")
    typer.echo("样例文件（在页面上传即可试用；已导入的可对照查看）：")
    rows = [[str(x.path), "已导入" if x.loaded else "待上传", x.where] for x in c.samples]
    for line in align_rows(rows):
        typer.echo("  " + line)
