"""audit checkpoints numbered and chained (seq, prev_event_id); child checkpoints kept by the parent

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00

Checkpoints made before this revision are numbered in the order they were made; their prev_event_id stays
NULL, which tells verification that their signature covers the head only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinyidai.kit.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
    op.execute(sa.text("UPDATE audit_checkpoints SET seq = (SELECT count(*) FROM audit_checkpoints AS earlier "
                       "WHERE earlier.id <= audit_checkpoints.id)"))
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('ux_audit_checkpoints_seq', ['seq'], unique=True)

    op.create_table('child_checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('node', sa.String(length=20), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('prev_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('head_digest', sa.String(length=64), nullable=False),
    sa.Column('events', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signed_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('suite', sa.String(length=10), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('received_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_child_checkpoints'))
    )
    with op.batch_alter_table('child_checkpoints', schema=None) as batch_op:
        batch_op.create_index('ux_child_checkpoints_event', ['node', 'last_event_id'], unique=True)
        batch_op.create_index('ux_child_checkpoints_seq', ['node', 'seq'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('child_checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ux_child_checkpoints_seq')
        batch_op.drop_index('ux_child_checkpoints_event')

    op.drop_table('child_checkpoints')
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ux_audit_checkpoints_seq')
        batch_op.drop_column('prev_event_id')
        batch_op.drop_column('seq')
