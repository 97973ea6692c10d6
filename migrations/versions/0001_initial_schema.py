"""initial schema

Revision ID: 0001_initial
Revises: 
Create Date: 2026-11-23 02:58:34.780981
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('story_md', sa.Text(), nullable=False),
    sa.Column('goal_cents', sa.BigInteger(), nullable=False),
    sa.Column('stretch_goal_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('starts_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Enum('draft', 'active', 'closed', 'archived', name='campaignstatus', native_enum=False, length=24), nullable=False),
    sa.Column('suggested_amounts', sa.JSON(), nullable=False),
    sa.Column('cover_image', sa.String(length=200), nullable=True),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('goal_cents > 0', name=op.f('ck_campaigns_goal_positive')),
    sa.CheckConstraint('stretch_goal_cents IS NULL OR stretch_goal_cents > goal_cents', name=op.f('ck_campaigns_stretch_above_goal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('slug', name=op.f('uq_campaigns_slug'))
    )
    op.create_table('donors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('person', 'organisation', name='donorkind', native_enum=False, length=24), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address_line1', sa.String(length=200), nullable=True),
    sa.Column('address_line2', sa.String(length=200), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('postal_code', sa.String(length=20), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('anonymous_by_default', sa.Boolean(), nullable=False),
    sa.Column('do_not_contact', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('is_sample', sa.Boolean(), nullable=False),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['donors.id'], name=op.f('fk_donors_merged_into_id_donors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_donors')),
    sa.UniqueConstraint('email', name=op.f('uq_donors_email'))
    )
    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.String(length=200), nullable=False),
    sa.Column('received_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_events_object_id'), ['object_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('role', sa.Enum('admin', 'staff', 'board', name='role', native_enum=False, length=24), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('object_type', sa.String(length=50), nullable=False),
    sa.Column('object_id', sa.String(length=50), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('ip_address', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_object', ['object_type', 'object_id'], unique=False)

    op.create_table('campaign_donor_totals',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('donor_id', sa.Integer(), nullable=False),
    sa.Column('net_cents', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_donor_totals_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_campaign_donor_totals_donor_id_donors')),
    sa.PrimaryKeyConstraint('campaign_id', 'donor_id', name=op.f('pk_campaign_donor_totals'))
    )
    op.create_table('campaign_totals',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('raised_cents', sa.BigInteger(), nullable=False),
    sa.Column('gift_count', sa.Integer(), nullable=False),
    sa.Column('donor_count', sa.Integer(), nullable=False),
    sa.Column('last_gift_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_totals_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_campaign_totals'))
    )
    op.create_table('community_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('host_name', sa.String(length=200), nullable=False),
    sa.Column('host_donor_id', sa.Integer(), nullable=True),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('is_sample', sa.Boolean(), nullable=False),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_community_events_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['host_donor_id'], ['donors.id'], name=op.f('fk_community_events_host_donor_id_donors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community_events')),
    sa.UniqueConstraint('slug', name=op.f('uq_community_events_slug'))
    )
    op.create_table('recurring_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('donor_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('interval', sa.String(length=10), nullable=False),
    sa.Column('status', sa.Enum('incomplete', 'active', 'past_due', 'canceled', 'unpaid', 'paused', name='planstatus', native_enum=False, length=24), nullable=False),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('started_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('canceled_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stripe_updated_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_recurring_plans_amount_positive')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_recurring_plans_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_recurring_plans_donor_id_donors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recurring_plans')),
    sa.UniqueConstraint('stripe_subscription_id', name=op.f('uq_recurring_plans_stripe_subscription_id'))
    )
    op.create_table('gifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('donor_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('recurring_plan_id', sa.Integer(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('received_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.Enum('online', 'offline', 'event', name='giftchannel', native_enum=False, length=24), nullable=False),
    sa.Column('method', sa.Enum('card', 'bank', 'check', 'cash', 'stock', 'in_kind', 'daf', 'other', name='giftmethod', native_enum=False, length=24), nullable=False),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('source_key', sa.String(length=255), nullable=True),
    sa.Column('fee_cents', sa.BigInteger(), nullable=True),
    sa.Column('is_anonymous', sa.Boolean(), nullable=False),
    sa.Column('show_amount', sa.Boolean(), nullable=False),
    sa.Column('dedication_kind', sa.Enum('honour', 'memory', name='dedicationkind', native_enum=False, length=24), nullable=True),
    sa.Column('dedication_name', sa.String(length=200), nullable=True),
    sa.Column('dedication_notify_email', sa.String(length=254), nullable=True),
    sa.Column('public_comment', sa.String(length=1000), nullable=True),
    sa.Column('comment_hidden', sa.Boolean(), nullable=False),
    sa.Column('private_note', sa.Text(), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('goods_value_cents', sa.BigInteger(), nullable=True),
    sa.Column('is_sample', sa.Boolean(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_gifts_amount_positive')),
    sa.CheckConstraint('fee_cents IS NULL OR fee_cents >= 0', name=op.f('ck_gifts_fee_not_negative')),
    sa.CheckConstraint('goods_value_cents IS NULL OR goods_value_cents >= 0', name=op.f('ck_gifts_goods_value_not_negative')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_gifts_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_gifts_donor_id_donors')),
    sa.ForeignKeyConstraint(['event_id'], ['community_events.id'], name=op.f('fk_gifts_event_id_community_events')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_gifts_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['recurring_plan_id'], ['recurring_plans.id'], name=op.f('fk_gifts_recurring_plan_id_recurring_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gifts')),
    sa.UniqueConstraint('source_key', name=op.f('uq_gifts_source_key'))
    )
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.create_index('ix_gifts_campaign_received', ['campaign_id', 'received_at'], unique=False)
        batch_op.create_index('ix_gifts_donor_received', ['donor_id', 'received_at'], unique=False)
        batch_op.create_index('ix_gifts_is_sample', ['is_sample'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gift_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('gift', 'correction', 'void', 'refund', 'dispute', 'dispute_won', 'reassign_out', 'reassign_in', name='entrykind', native_enum=False, length=24), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('occurred_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('source_key', sa.String(length=255), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents <> 0', name=op.f('ck_ledger_entries_amount_not_zero')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_ledger_entries_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_ledger_entries_created_by_id_users')),
    sa.ForeignKeyConstraint(['gift_id'], ['gifts.id'], name=op.f('fk_ledger_entries_gift_id_gifts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('source_key', name=op.f('uq_ledger_entries_source_key'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_campaign_occurred', ['campaign_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_ledger_entries_gift', ['gift_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_gift')
        batch_op.drop_index('ix_ledger_entries_campaign_occurred')

    op.drop_table('ledger_entries')
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.drop_index('ix_gifts_is_sample')
        batch_op.drop_index('ix_gifts_donor_received')
        batch_op.drop_index('ix_gifts_campaign_received')

    op.drop_table('gifts')
    op.drop_table('recurring_plans')
    op.drop_table('community_events')
    op.drop_table('campaign_totals')
    op.drop_table('campaign_donor_totals')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_object')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('users')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_object_id'))

    op.drop_table('stripe_events')
    op.drop_table('donors')
    op.drop_table('campaigns')

