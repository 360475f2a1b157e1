"""withdrawn records index: the relay finds withdrawals since a moment without scanning every record

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 08:06:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_credit_records_withdrawn", "credit_records", ["superseded_at"], unique=False,
                    sqlite_where=sa.text("status = 'withdrawn'"), postgresql_where=sa.text("status = 'withdrawn'"))


def downgrade() -> None:
    op.drop_index("ix_credit_records_withdrawn", table_name="credit_records")
