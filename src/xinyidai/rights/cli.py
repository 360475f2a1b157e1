"""`xinyidai rights …`: objections, credit repair, commitments and self-reported information, the migration
from the old provincial site."""

from __future__ import annotations

import typer

rights_app = typer.Typer(help="企业权益：异议处理、信用修复、信用承诺与自报信息、旧站迁移", no_args_is_help=True)
objection_app = typer.Typer(help="信用信息异议", no_args_is_help=True)
repair_app = typer.Typer(help="信用修复", no_args_is_help=True)
migration_app = typer.Typer(help="黑龙江站企业、账户与授权的整体迁移", no_args_is_help=True)
rights_app.add_typer(objection_app, name="objection")
rights_app.add_typer(repair_app, name="repair")
rights_app.add_typer(migration_app, name="migration")

# ── objections: `xinyidai rights objection …` (objections helper) ──────────────────────────────────────


# ── credit repair: `xinyidai rights repair …` (repair helper) ─────────────────────────────────────────


# ── migration: `xinyidai rights migration …` (migration helper) ───────────────────────────────────────
