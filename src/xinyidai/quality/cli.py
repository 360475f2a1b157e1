"""`xinyidai quality …`: departments and sources, the rule sets and their runs, findings and scores, tickets."""

from __future__ import annotations

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


# ── rules, runs, findings, scores: `xinyidai quality rules …`, `quality run`, `quality findings`, `quality scores`


# ── departments and tickets: `xinyidai quality department …`, `quality ticket …` ──────────────────────────
