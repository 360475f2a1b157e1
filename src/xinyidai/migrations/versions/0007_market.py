"""market: products and versions, needs and quotes, applications and their timeline, loans and repayment
reports, default cases and reminders, post-loan alerts, banks' feedback files; credit_outcomes.source

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 03:12:57

Loan outcomes learnt from the market's own loans sit beside those imported from files (source 'market'
and 'csv'); rows stored before this revision are the files' ('csv').
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinyidai.kit.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('market_alert_subscriptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('entity_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_alert_subscriptions'))
    )
    with op.batch_alter_table('market_alert_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_alert_subscriptions_entity_code'), ['entity_code'], unique=False)
        batch_op.create_index('ix_market_alert_subscriptions_inst', ['institution_code', 'entity_code'], unique=False)

    op.create_table('market_alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('entity_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('read_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_alerts')),
    sa.UniqueConstraint('institution_code', 'record_id', name='uq_market_alerts_record')
    )
    with op.batch_alter_table('market_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_market_alerts_feed', ['institution_code', 'id'], unique=False)

    op.create_table('market_cursors',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('last_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_market_cursors'))
    )
    op.create_table('market_demands',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=40).with_variant(sa.String(length=40, collation='C'), 'postgresql'), nullable=False),
    sa.Column('entity_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('last_action', sa.String(length=20), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('expires_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('picked_quote_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_market_demands_ck_market_demands_amount')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_demands')),
    sa.UniqueConstraint('number', name=op.f('uq_market_demands_number'))
    )
    with op.batch_alter_table('market_demands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_demands_entity_code'), ['entity_code'], unique=False)
        batch_op.create_index('ix_market_demands_state', ['state', 'expires_at'], unique=False)

    op.create_table('market_feedback_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('file_digest', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_applied', sa.Integer(), nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=40), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_feedback_files'))
    )
    with op.batch_alter_table('market_feedback_files', schema=None) as batch_op:
        batch_op.create_index('ix_market_feedback_files_digest', ['institution_code', 'kind', 'file_digest'], unique=False)

    op.create_table('market_loans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('loan_no', sa.String(length=60).with_variant(sa.String(length=60, collation='C'), 'postgresql'), nullable=False),
    sa.Column('origin_node', sa.String(length=20), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('bank_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('loan_ref', sa.String(length=64), nullable=False),
    sa.Column('entity_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('industry_code', sa.String(length=5), nullable=True),
    sa.Column('application_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('product_number', sa.String(length=40).with_variant(sa.String(length=40, collation='C'), 'postgresql'), nullable=False),
    sa.Column('product_kind', sa.String(length=12), nullable=False),
    sa.Column('sector_mask', sa.Integer(), nullable=False),
    sa.Column('guarantee_type', sa.String(length=4), nullable=False),
    sa.Column('is_credit', sa.SmallInteger(), nullable=False),
    sa.Column('first_declared', sa.SmallInteger(), nullable=False),
    sa.Column('first_on_platform', sa.SmallInteger(), nullable=False),
    sa.Column('first_loan', sa.SmallInteger(), nullable=False),
    sa.Column('granted_fen', sa.BigInteger(), nullable=False),
    sa.Column('credit_fen', sa.BigInteger(), nullable=False),
    sa.Column('first_fen', sa.BigInteger(), nullable=False),
    sa.Column('disbursed_fen', sa.BigInteger(), nullable=False),
    sa.Column('outstanding_fen', sa.BigInteger(), nullable=True),
    sa.Column('granted_on', sa.Date(), nullable=False),
    sa.Column('granted_month', sa.Integer(), nullable=False),
    sa.Column('first_disbursed_on', sa.Date(), nullable=True),
    sa.Column('matures_on', sa.Date(), nullable=True),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('guarantor_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=True),
    sa.Column('policy_tags', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('risk_class', sa.String(length=4), nullable=True),
    sa.Column('last_report_on', sa.Date(), nullable=True),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('dirty', sa.SmallInteger(), server_default=sa.text('1'), nullable=False),
    sa.CheckConstraint('disbursed_fen >= 0 AND disbursed_fen <= granted_fen', name=op.f('ck_market_loans_ck_market_loans_disbursed')),
    sa.CheckConstraint('granted_fen > 0', name=op.f('ck_market_loans_ck_market_loans_granted')),
    sa.CheckConstraint('is_credit IN (0, 1) AND first_loan IN (0, 1)', name=op.f('ck_market_loans_ck_market_loans_flags')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_loans')),
    sa.UniqueConstraint('institution_code', 'loan_ref', name='uq_market_loans_ref'),
    sa.UniqueConstraint('loan_no', name=op.f('uq_market_loans_loan_no'))
    )
    with op.batch_alter_table('market_loans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_loans_dirty'), ['dirty'], unique=False)
        batch_op.create_index('ix_market_loans_entity', ['entity_code', 'granted_on'], unique=False)
        batch_op.create_index('ix_market_loans_figures', ['city_code', 'bank_code', 'product_kind', 'sector_mask', 'granted_month', 'is_credit', 'first_loan', 'granted_fen', 'credit_fen', 'first_fen', 'disbursed_fen'], unique=False)
        batch_op.create_index('ix_market_loans_institution', ['institution_code', 'granted_on'], unique=False)

    op.create_table('market_products',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=40).with_variant(sa.String(length=40, collation='C'), 'postgresql'), nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('origin_node', sa.String(length=20), nullable=False),
    sa.Column('live_version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_products')),
    sa.UniqueConstraint('number', name=op.f('uq_market_products_number'))
    )
    with op.batch_alter_table('market_products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_products_institution_code'), ['institution_code'], unique=False)

    op.create_table('market_default_cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=40).with_variant(sa.String(length=40, collation='C'), 'postgresql'), nullable=False),
    sa.Column('loan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entity_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('state', sa.String(length=14), nullable=False),
    sa.Column('last_action', sa.String(length=20), nullable=False),
    sa.Column('opened_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('dpd_at_open', sa.Integer(), nullable=False),
    sa.Column('latest_dpd', sa.Integer(), nullable=False),
    sa.Column('max_dpd', sa.Integer(), nullable=False),
    sa.Column('overdue_fen', sa.BigInteger(), nullable=False),
    sa.Column('escalated_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['market_loans.id'], name=op.f('fk_market_default_cases_loan_id_market_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_default_cases')),
    sa.UniqueConstraint('number', name=op.f('uq_market_default_cases_number'))
    )
    with op.batch_alter_table('market_default_cases', schema=None) as batch_op:
        batch_op.create_index('ix_market_default_cases_city', ['city_code', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_default_cases_entity_code'), ['entity_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_default_cases_loan_id'), ['loan_id'], unique=False)

    op.create_table('market_feedback_issues',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('file_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('row_no', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=40), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['market_feedback_files.id'], name=op.f('fk_market_feedback_issues_file_id_market_feedback_files'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_feedback_issues'))
    )
    with op.batch_alter_table('market_feedback_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_feedback_issues_file_id'), ['file_id'], unique=False)

    op.create_table('market_product_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('last_action', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('sector_mask', sa.Integer(), nullable=False),
    sa.Column('amount_min_fen', sa.BigInteger(), nullable=False),
    sa.Column('amount_max_fen', sa.BigInteger(), nullable=False),
    sa.Column('term_min_months', sa.Integer(), nullable=False),
    sa.Column('term_max_months', sa.Integer(), nullable=False),
    sa.Column('rate_min_bp', sa.Integer(), nullable=False),
    sa.Column('rate_max_bp', sa.Integer(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('industries', sa.JSON(), nullable=False),
    sa.Column('eligibility', sa.JSON(), nullable=False),
    sa.Column('auth_categories', sa.JSON(), nullable=False),
    sa.Column('auth_mode', sa.String(length=12), nullable=False),
    sa.Column('auth_days', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('published_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('suspended_by', sa.String(length=10), nullable=True),
    sa.Column('ended_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dirty', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
    sa.CheckConstraint('amount_min_fen > 0 AND amount_min_fen <= amount_max_fen', name=op.f('ck_market_product_versions_ck_mpv_amount')),
    sa.CheckConstraint('rate_min_bp > 0 AND rate_min_bp <= rate_max_bp', name=op.f('ck_market_product_versions_ck_mpv_rate')),
    sa.CheckConstraint('term_min_months > 0 AND term_min_months <= term_max_months', name=op.f('ck_market_product_versions_ck_mpv_term')),
    sa.ForeignKeyConstraint(['product_id'], ['market_products.id'], name=op.f('fk_market_product_versions_product_id_market_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_product_versions')),
    sa.UniqueConstraint('product_id', 'version', name='uq_market_product_versions')
    )
    with op.batch_alter_table('market_product_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_product_versions_dirty'), ['dirty'], unique=False)
        batch_op.create_index(batch_op.f('ix_market_product_versions_state'), ['state'], unique=False)

    op.create_table('market_status_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('loan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('outstanding_fen', sa.BigInteger(), nullable=False),
    sa.Column('overdue_principal_fen', sa.BigInteger(), nullable=False),
    sa.Column('overdue_interest_fen', sa.BigInteger(), nullable=False),
    sa.Column('interest_paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('risk_class', sa.String(length=4), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('feedback_file_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reported_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('dpd >= 0', name=op.f('ck_market_status_reports_ck_market_status_reports_dpd')),
    sa.ForeignKeyConstraint(['loan_id'], ['market_loans.id'], name=op.f('fk_market_status_reports_loan_id_market_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_status_reports')),
    sa.UniqueConstraint('loan_id', 'as_of', name='uq_market_status_reports')
    )
    op.create_table('market_applications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=40).with_variant(sa.String(length=40, collation='C'), 'postgresql'), nullable=False),
    sa.Column('entity_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('bank_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('city_code', sa.String(length=6), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('demand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('quote_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_action', sa.String(length=20), nullable=False),
    sa.Column('state_since', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('authorization_number', sa.String(length=32), nullable=False),
    sa.Column('offer_amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('offer_rate_bp', sa.Integer(), nullable=True),
    sa.Column('offer_term_months', sa.Integer(), nullable=True),
    sa.Column('offer_valid_until', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expire_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('breached_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('breaches', sa.Integer(), nullable=False),
    sa.Column('reason_code', sa.String(length=8), nullable=True),
    sa.Column('reason_note', sa.Text(), nullable=True),
    sa.Column('loan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_market_applications_ck_market_applications_amount')),
    sa.ForeignKeyConstraint(['product_id'], ['market_products.id'], name=op.f('fk_market_applications_product_id_market_products')),
    sa.ForeignKeyConstraint(['product_version_id'], ['market_product_versions.id'], name=op.f('fk_market_applications_product_version_id_market_product_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_applications')),
    sa.UniqueConstraint('number', name=op.f('uq_market_applications_number'))
    )
    with op.batch_alter_table('market_applications', schema=None) as batch_op:
        batch_op.create_index('ix_market_applications_entity', ['entity_code', 'submitted_at'], unique=False)
        batch_op.create_index('ix_market_applications_queue', ['institution_code', 'state', 'due_at'], unique=False)
        batch_op.create_index('ix_market_applications_sla', ['state', 'due_at'], unique=False)

    op.create_table('market_case_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_state', sa.String(length=14), nullable=False),
    sa.Column('to_state', sa.String(length=14), nullable=False),
    sa.Column('actor_kind', sa.String(length=10), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['market_default_cases.id'], name=op.f('fk_market_case_events_case_id_market_default_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_case_events')),
    sa.UniqueConstraint('case_id', 'seq', name='uq_market_case_events_seq')
    )
    op.create_table('market_quotes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=40).with_variant(sa.String(length=40, collation='C'), 'postgresql'), nullable=False),
    sa.Column('demand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_code', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=False),
    sa.Column('product_version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('valid_until', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['demand_id'], ['market_demands.id'], name=op.f('fk_market_quotes_demand_id_market_demands')),
    sa.ForeignKeyConstraint(['product_version_id'], ['market_product_versions.id'], name=op.f('fk_market_quotes_product_version_id_market_product_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_quotes')),
    sa.UniqueConstraint('institution_code', 'request_id', name='uq_market_quotes_request'),
    sa.UniqueConstraint('number', name=op.f('uq_market_quotes_number'))
    )
    with op.batch_alter_table('market_quotes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_market_quotes_demand_id'), ['demand_id'], unique=False)

    op.create_table('market_reminders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('to_masked', sa.String(length=20), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['market_default_cases.id'], name=op.f('fk_market_reminders_case_id_market_default_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_reminders')),
    sa.UniqueConstraint('case_id', 'step', name='uq_market_reminders_step')
    )
    op.create_table('market_application_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('application_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('actor_kind', sa.String(length=10), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_org', sa.String(length=18).with_variant(sa.String(length=18, collation='C'), 'postgresql'), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('request_digest', sa.String(length=64), nullable=True),
    sa.Column('acted_at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('at', xinyidai.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['market_applications.id'], name=op.f('fk_market_application_events_application_id_market_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_application_events')),
    sa.UniqueConstraint('actor_org', 'request_id', name='uq_market_application_events_request'),
    sa.UniqueConstraint('application_id', 'seq', name='uq_market_application_events_seq')
    )
    with op.batch_alter_table('credit_outcomes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=10), server_default='csv', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('credit_outcomes', schema=None) as batch_op:
        batch_op.drop_column('source')

    op.drop_table('market_application_events')
    op.drop_table('market_reminders')
    with op.batch_alter_table('market_quotes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_quotes_demand_id'))

    op.drop_table('market_quotes')
    op.drop_table('market_case_events')
    with op.batch_alter_table('market_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_market_applications_sla')
        batch_op.drop_index('ix_market_applications_queue')
        batch_op.drop_index('ix_market_applications_entity')

    op.drop_table('market_applications')
    op.drop_table('market_status_reports')
    with op.batch_alter_table('market_product_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_product_versions_state'))
        batch_op.drop_index(batch_op.f('ix_market_product_versions_dirty'))

    op.drop_table('market_product_versions')
    with op.batch_alter_table('market_feedback_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_feedback_issues_file_id'))

    op.drop_table('market_feedback_issues')
    with op.batch_alter_table('market_default_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_default_cases_loan_id'))
        batch_op.drop_index(batch_op.f('ix_market_default_cases_entity_code'))
        batch_op.drop_index('ix_market_default_cases_city')

    op.drop_table('market_default_cases')
    with op.batch_alter_table('market_products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_market_products_institution_code'))

    op.drop_table('market_products')
    with op.batch_alter_table('market_loans', schema=None) as batch_op:
        batch_op.drop_index('ix_market_loans_institution')
        batch_op.drop_index('ix_market_loans_figures')
        batch_op.drop_index('ix_market_loans_entity')
        batch_op.drop_index(batch_op.f('ix_market_loans_dirty'))

    op.drop_table('market_loans')
    with op.batch_alter_table('market_feedback_files', schema=None) as batch_op:
        batch_op.drop_index('ix_market_feedback_files_digest')

    op.drop_table('market_feedback_files')
    with op.batch_alter_table('market_demands', schema=None) as batch_op:
        batch_op.drop_index('ix_market_demands_state')
        batch_op.drop_index(batch_op.f('ix_market_demands_entity_code'))

    op.drop_table('market_demands')
    op.drop_table('market_cursors')
    with op.batch_alter_table('market_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_market_alerts_feed')

    op.drop_table('market_alerts')
    with op.batch_alter_table('market_alert_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_market_alert_subscriptions_inst')
        batch_op.drop_index(batch_op.f('ix_market_alert_subscriptions_entity_code'))

    op.drop_table('market_alert_subscriptions')
