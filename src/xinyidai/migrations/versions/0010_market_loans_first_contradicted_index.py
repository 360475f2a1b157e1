"""market loans: a partial index of the first-loan declarations the platform contradicts, which the figures
count without scanning every loan

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTRADICTED = "first_declared = 1 AND first_on_platform = 0"


def upgrade() -> None:
    op.create_index("ix_market_loans_first_contradicted", "market_loans", ["granted_month"], unique=False,
                    sqlite_where=sa.text(CONTRADICTED), postgresql_where=sa.text(CONTRADICTED))


def downgrade() -> None:
    op.drop_index("ix_market_loans_first_contradicted", table_name="market_loans")
