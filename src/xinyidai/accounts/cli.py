"""`xinyidai user …`: accounts from the command line (the first operator of a new node)."""

from __future__ import annotations

import os

import typer

from xinyidai.console import database, settings

user_app = typer.Typer(help="用户管理", no_args_is_help=True)


@user_app.command("add")
def user_add(username: str, role: str = typer.Option(..., help="operator / bank / enterprise / regulator / security"),
             name: str = typer.Option(..., help="显示名称"),
             org: str | None = typer.Option(None, help="所属机构代码（企业为统一社会信用代码）")) -> None:
    """新增用户；密码从环境变量 XINYIDAI_NEW_PASSWORD 读取，否则交互输入（不回显）。"""
    from xinyidai.accounts.users import create_user
    from xinyidai.kit.errors import DomainError
    password = os.environ.get("XINYIDAI_NEW_PASSWORD") or typer.prompt("密码", hide_input=True,
                                                                        confirmation_prompt=True)
    db = database(settings())
    try:
        with db.session() as sess:
            create_user(sess, username=username, display_name=name, role=role, password=password, org_code=org,
                        actor="cli")
    except DomainError as exc:
        typer.secho(exc.message, fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"已创建用户 {username}（{role}）")
