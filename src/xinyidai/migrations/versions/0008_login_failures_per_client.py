"""failed log-ins counted per username and client address; the account-wide lock's columns go

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00

A lock on the account let anyone lock anyone out; failures are now counted per (username, client) in
`login_failures` (see `accounts.users`). `users.failed_logins` and `users.locked_until` are dropped in place
(ALTER TABLE … DROP COLUMN, SQLite 3.35 or later, as RETURNING already needs): rebuilding `users` on SQLite
would delete the log-in sessions that refer to it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinyidai.kit.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('login_failures',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('since', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username', 'client', name=op.f('pk_login_failures'))
    )
    op.create_index(op.f('ix_login_failures_since'), 'login_failures', ['since'], unique=False)
    op.drop_column('users', 'locked_until')
    op.drop_column('users', 'failed_logins')


def downgrade() -> None:
    op.add_column('users', sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('users', sa.Column('locked_until', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True))
    op.drop_index(op.f('ix_login_failures_since'), table_name='login_failures')
    op.drop_table('login_failures')
