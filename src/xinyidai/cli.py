"""The `xinyidai` command: serve a node, migrate its database, load deliveries, build the demo province."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import typer

from xinyidai.config import ConfigError, Settings, load_settings

app = typer.Typer(help="xinyidai 信易贷：融资信用服务平台节点", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
user_app = typer.Typer(help="用户管理", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")


def _add_domain_commands() -> None:
    from xinyidai.network.cli import network_app, node_app

    app.add_typer(node_app, name="node")
    app.add_typer(network_app, name="network")
    from xinyidai.credit import whitelists  # noqa: F401 - registers the 'whitelist' envelope applier
    from xinyidai.credit.cli import credit_app

    app.add_typer(credit_app, name="credit")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.secho(f"配置错误：{exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _db(settings: Settings):  # noqa: ANN202
    from xinyidai.kit.db import Database
    return Database(settings.resolved_database_url)


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="目标版本")) -> None:
    """把数据库结构迁移到最新版本（Alembic）。"""
    from xinyidai.kit import migrate
    s = _settings()
    db = _db(s)
    migrate.upgrade(db.engine, revision)
    typer.echo(f"数据库已迁移到 {migrate.current_revision(db.engine)}：{_display_url(s.resolved_database_url)}")


@db_app.command("current")
def db_current() -> None:
    """显示数据库当前的迁移版本。"""
    from xinyidai.kit import migrate
    typer.echo(migrate.current_revision(_db(_settings()).engine) or "（未迁移）")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="监听地址"), port: int = typer.Option(8000, help="端口"),
          workers: int = typer.Option(1, help="进程数（PostgreSQL 时可大于 1）")) -> None:
    """启动节点的网页与接口服务。"""
    import uvicorn

    from xinyidai.kit import migrate
    s = _settings()
    db = _db(s)
    if migrate.current_revision(db.engine) is None:
        typer.secho("数据库尚未初始化，请先运行：xinyidai db upgrade", fg="red", err=True)
        raise typer.Exit(2)
    db.dispose()
    s.ensure_secret_key()
    typer.echo(f"{s.node_name}（{s.node_code}，{s.node_role}）")
    typer.echo(f"数据库：{_display_url(s.resolved_database_url)}")
    typer.echo(f"访问地址：http://{host}:{port}/    接口文档：http://{host}:{port}/docs")
    uvicorn.run("xinyidai.web.factory:app", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False, server_header=False)


@app.command()
def catalog(category: str | None = typer.Option(None, "--category", "-c", help="只显示一个类别（代码或名称）"),
            as_json: bool = typer.Option(False, "--json", help="输出 JSON")) -> None:
    """显示信息清单：类别、字段、提供部门、共享方式。"""
    from xinyidai.catalog.render import catalog_as_dict, render_text
    from xinyidai.catalog.schema import CatalogError, load_catalog
    from xinyidai.kit.errors import DomainError
    try:
        cat = load_catalog(_settings().catalog_path)
        if as_json:
            typer.echo(json.dumps(catalog_as_dict(cat), ensure_ascii=False, indent=2))
        else:
            typer.echo(render_text(cat, category))
    except (CatalogError, DomainError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
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
    s = _settings()
    db = _db(s)
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


@app.command()
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
        from xinyidai.network import demo as network_demo
        network_demo.run(_settings().var_dir, base_port, city_entities, seed)
        return
    from sqlalchemy.engine import make_url

    from xinyidai.catalog.schema import load_catalog
    from xinyidai.demo import build_demo
    from xinyidai.kit import migrate
    from xinyidai.kit.db import Database
    from xinyidai.models import metadata
    s = _settings()
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
        shutil.rmtree(s.var_dir / "demo-deliveries", ignore_errors=True)
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
    # A first evaluation run, loan applications and a first white list, so the credit pages have content.
    from xinyidai.credit import demo as credit_demo
    from xinyidai.kit import clock

    c = credit_demo.seed(db, load_catalog(s.catalog_path), clock.today(), s.node_code)
    typer.echo(f"公共信用综合评价（第 {c.run_id} 批）：" + "，".join(f"{g} {n:,} 户" for g, n in sorted(c.grades.items())))
    typer.echo(f"{c.applications:,} 户企业已授权银行查询（融资申请）；白名单 {c.whitelist}：{c.whitelist_entries:,} 户")


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


@user_app.command("add")
def user_add(username: str, role: str = typer.Option(..., help="operator / bank / enterprise / regulator / security"),
             name: str = typer.Option(..., help="显示名称"),
             org: str | None = typer.Option(None, help="所属机构代码（企业为统一社会信用代码）")) -> None:
    """新增用户；密码从环境变量 XINYIDAI_NEW_PASSWORD 读取，否则交互输入（不回显）。"""
    from xinyidai.entities.accounts import create_user
    from xinyidai.kit.errors import DomainError
    password = os.environ.get("XINYIDAI_NEW_PASSWORD") or typer.prompt("密码", hide_input=True,
                                                                        confirmation_prompt=True)
    db = _db(_settings())
    try:
        with db.session() as sess:
            create_user(sess, username=username, display_name=name, role=role, password=password, org_code=org,
                        actor="cli")
    except DomainError as exc:
        typer.secho(exc.message, fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"已创建用户 {username}（{role}）")


@audit_app.command("verify")
def audit_verify() -> None:
    """校验审计日志的 SM3 链与签名检查点；断开时指出第一条被改动的记录。"""
    from xinyidai.kit.audit import verify_chain
    from xinyidai.kit.node_key import verify_signature
    db = _db(_settings())
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
    s = _settings()
    db = _db(s)
    with db.session() as sess:
        cp = make_checkpoint(sess, node_signer(s.var_dir, s.crypto_suite))
    typer.echo(f"已签名检查点：截至第 {cp.last_event_id} 条，共 {cp.events:,} 条" if cp else "自上次检查点以来没有新记录")


_add_domain_commands()


def main() -> None:
    app()
