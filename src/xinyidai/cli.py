"""The `xinyidai` command: serve a node and migrate its database here; every domain's commands (loading
deliveries, the node network, credit, accounts, the audit chain, the demo province) are registered from
the domain's own `cli.py`. Imported by nothing but the entry point."""

from __future__ import annotations

import typer

from xinyidai.accounts.cli import user_app
from xinyidai.audit.cli import audit_app
from xinyidai.catalog.cli import catalog
from xinyidai.console import database, display_url, settings
from xinyidai.credit.cli import credit_app
from xinyidai.demo.cli import demo
from xinyidai.incidents import reporting  # noqa: F401 - registers the "incident" envelope kind and its collector
from xinyidai.lists import whitelists  # noqa: F401 - registers the "whitelist" envelope kind for network import
from xinyidai.market import envelopes, signals  # noqa: F401 - register the market's envelope kinds and list signals
from xinyidai.network.cli import network_app, node_app
from xinyidai.ops.cli import backup, restore
from xinyidai.oversight import progress  # noqa: F401 - registers the "progress_report" envelope kind
from xinyidai.oversight.cli import oversight_app
from xinyidai.records.cli import ingest
from xinyidai.reports.cli import report

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
app.command("backup")(backup)
app.command("restore")(restore)


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

    from xinyidai.kit import migrate
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
    # Behind the reverse proxy the README recommends, a request's address is the proxy's: trust its
    # X-Forwarded-For (from FORWARDED_ALLOW_IPS, by default this host only), or every client would share
    # one per-client throttle (kit.throttle).
    uvicorn.run("xinyidai.app:asgi", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=True, server_header=False)




def main() -> None:
    app()
