"""peer key rotation: a neighbour's key before its last rotation, accepted until the overlap ends (issue 24).
Existing peers keep public_key / key_id as their current key; no earlier key is accepted for them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 19:53:34.329760
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinyidai.kit.db

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('peers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retiring_key_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('retiring_public_key', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('retiring_until', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('key_rotated_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('peers', schema=None) as batch_op:
        batch_op.drop_column('key_rotated_at')
        batch_op.drop_column('retiring_until')
        batch_op.drop_column('retiring_public_key')
        batch_op.drop_column('retiring_key_id')
