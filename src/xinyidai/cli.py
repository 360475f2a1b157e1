"""The `xinyidai` command: serve a node and migrate its database here; every domain's commands (loading
deliveries, the node network, credit, accounts, the audit chain, the demo province) are registered from
the domain's own `cli.py`. Imported by nothing but the entry point."""

from __future__ import annotations

import typer

from xinyidai.accounts.cli import user_app
from xinyidai.audit.cli import audit_app
from xinyidai.catalog.cli import catalog
from xinyidai.config import check_proxies
from xinyidai.console import database, display_url, settings
from xinyidai.credit.cli import credit_app
from xinyidai.demo.cli import demo
from xinyidai.incidents import reporting  # noqa: F401 - registers the "incident" envelope kind and its collector
from xinyidai.institutions.cli import institutions_app
from xinyidai.lists import whitelists  # noqa: F401 - registers the "whitelist" envelope kind for network import
from xinyidai.market import envelopes, signals  # noqa: F401 - register the market's envelope kinds and list signals
from xinyidai.network.cli import network_app, node_app
from xinyidai.ops.cli import backup, config_app, restore
from xinyidai.oversight import progress  # noqa: F401 - registers the "progress_report" envelope kind
from xinyidai.oversight.cli import oversight_app
from xinyidai.quality.cli import quality_app
from xinyidai.records.cli import ingest
from xinyidai.reports.cli import report
from xinyidai.rights.cli import rights_app

app = typer.Typer(help="xinyidai 信易贷：融资信用服务平台节点", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command()(catalog)
app.command()(ingest)
app.command()(demo)
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(node_app, name="node")
app.add_typer(network_app, name="network")
credit_app.command("report")(report)
app.add_typer(credit_app, name="credit")
app.add_typer(oversight_app, name="oversight")
app.add_typer(quality_app, name="quality")
app.add_typer(rights_app, name="rights")
app.add_typer(institutions_app, name="institutions")
app.command("backup")(backup)
app.command("restore")(restore)
app.add_typer(config_app, name="config")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="目标版本")) -> None:
    """把数据库结构迁移到最新版本（Alembic）。"""
    from xinyidai.kit import migrate
    s = settings()
    db = database(s)
    migrate.upgrade(db.engine, revision)
    typer.echo(f"数据库已迁移到 {migrate.current_revision(db.engine)}：{display_url(s.resolved_database_url)}")


@db_app.command("current")
def db_current() -> None:
    """显示数据库当前的迁移版本。"""
    from xinyidai.kit import migrate
    typer.echo(migrate.current_revision(database(settings()).engine) or "（未迁移）")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="监听地址"), port: int = typer.Option(8000, help="端口"),
          workers: int = typer.Option(1, help="进程数（PostgreSQL 时可大于 1）")) -> None:
    """启动节点的网页与接口服务。"""
    import uvicorn

    from xinyidai.kit import logs, migrate
    s = settings()
    db = database(s)
    if migrate.current_revision(db.engine) is None:
        typer.secho("数据库尚未初始化，请先运行：xinyidai db upgrade", fg="red", err=True)
        raise typer.Exit(2)
    db.dispose()
    s.ensure_secret_key()
    typer.echo(f"{s.node_name}（{s.node_code}，{s.node_role}）")
    typer.echo(f"数据库：{display_url(s.resolved_database_url)}")
    typer.echo(f"访问地址：http://{host}:{port}/    接口文档：http://{host}:{port}/docs")
    # Behind the reverse proxy the README recommends, a request's address is the proxy's: trust the
    # X-Forwarded-For of the proxies in trusted_proxies (by default this host only), or every client would
    # share one per-client throttle (kit.throttle); anyone else is taken at the socket address.
    uvicorn.run("xinyidai.app:asgi", factory=True, host=host, port=port, workers=workers,
                log_level=s.log_level.lower(), log_config=logs.uvicorn_log_config(s), access_log=False,
                proxy_headers=True, server_header=False,
                forwarded_allow_ips=check_proxies(s.trusted_proxies))


@app.command()
def worker() -> None:
    """运行节点的后台任务（节点间中继与定时任务），不提供网页服务；配合 XINYIDAI_BACKGROUND=worker 使用，
    收到 SIGTERM / SIGINT 后停止。"""
    import importlib

    from xinyidai.kit import migrate
    s = settings()
    if s.background != "worker":  # else each relay round and chore would run twice, here and in the web
        typer.secho("后台任务配置为 inline，已由网页进程运行；单独运行后台任务进程前，请为网页进程和本进程都设置 "
                    "XINYIDAI_BACKGROUND=worker（BACKGROUND_INLINE）", fg="red", err=True)
        raise typer.Exit(2)
    db = database(s)
    if migrate.current_revision(db.engine) is None:
        typer.secho("数据库尚未初始化，请先运行：xinyidai db upgrade", fg="red", err=True)
        raise typer.Exit(2)
    db.dispose()
    typer.echo(f"{s.node_name}（{s.node_code}）后台任务进程已启动")
    # By name, as serve hands uvicorn "xinyidai.app:asgi": the root command and the app are sibling tops.
    importlib.import_module("xinyidai.app").run_worker()


def main() -> None:
    _configure_logs()
    app()


def _configure_logs() -> None:
    """Commands that log (demo, ingest, worker …) write through the same handler as the server: text on a
    terminal, JSON elsewhere, secrets and personal data masked (kit.logs)."""
    import contextlib

    from xinyidai.config import ConfigError, load_settings
    from xinyidai.kit import logs
    with contextlib.suppress(ConfigError):  # the command reports it itself, in Chinese, reading its settings
        logs.configure(load_settings())
