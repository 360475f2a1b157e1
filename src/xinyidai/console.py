"""What every command of `xinyidai` needs, below the root command and the domains' command groups: the
node's settings (a configuration error is one red line, not a traceback), its database, and the way a
refusal ends a command."""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlalchemy.engine import make_url

from xinyidai.config import ConfigError, Settings, load_settings
from xinyidai.kit.db import Database


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.secho(f"配置错误：{exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def database(s: Settings) -> Database:
    return Database(s.resolved_database_url)


def display_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def fail(exc: Exception, status: int = 1) -> NoReturn:
    """End a command on a refusal: its Chinese message and code, and the first lines of its detail."""
    code = getattr(exc, "code", type(exc).__name__)
    typer.secho(f"{getattr(exc, 'message', str(exc))}（{code}）", fg="red", err=True)
    detail = getattr(exc, "detail", None)
    if isinstance(detail, list):
        for line in detail[:50]:
            typer.echo(f"  {line}", err=True)
    raise typer.Exit(status)
