"""`xinyidai catalog`: the information list as a person reads it in a terminal, or as JSON."""

from __future__ import annotations

import json

import typer

from xinyidai.console import settings


def catalog(category: str | None = typer.Option(None, "--category", "-c", help="只显示一个类别（代码或名称）"),
            as_json: bool = typer.Option(False, "--json", help="输出 JSON")) -> None:
    """显示信息清单：类别、字段、提供部门、共享方式。"""
    from xinyidai.catalog.render import catalog_as_dict, render_text
    from xinyidai.catalog.schema import CatalogError, load_catalog
    from xinyidai.kit.errors import DomainError
    try:
        cat = load_catalog(settings().catalog_path)
        if as_json:
            typer.echo(json.dumps(catalog_as_dict(cat), ensure_ascii=False, indent=2))
        else:
            typer.echo(render_text(cat, category))
    except (CatalogError, DomainError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
