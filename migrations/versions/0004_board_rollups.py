"""board rollups

The tables start empty: on a database that already has gifts, run `flask rebuild-rollups` once.

Revision ID: 0004_board_rollups
Revises: 0003_live_matches
Create Date: 2026-11-30 05:33:37.966408
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0004_board_rollups"
down_revision = '0003_live_matches'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rollup_donor_bitmaps',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('bits', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'channel', 'month', name=op.f('pk_rollup_donor_bitmaps'))
    )
    op.create_table('rollup_gift_sizes',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('gift_count', sa.Integer(), nullable=False),
    sa.Column('donorless_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'channel', 'month', 'amount_cents', name=op.f('pk_rollup_gift_sizes'))
    )
    op.create_table('rollup_daily',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('raised_cents', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_rollup_daily_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'day', name=op.f('pk_rollup_daily'))
    )
    op.create_table('rollup_donor_months',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('channel', sa.Enum('online', 'offline', 'event', name='giftchannel', native_enum=False, length=24), nullable=False),
    sa.Column('donor_id', sa.Integer(), nullable=False),
    sa.Column('gift_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_rollup_donor_months_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['donor_id'], ['donors.id'], name=op.f('fk_rollup_donor_months_donor_id_donors')),
    sa.PrimaryKeyConstraint('campaign_id', 'month', 'channel', 'donor_id', name=op.f('pk_rollup_donor_months'))
    )
    with op.batch_alter_table('rollup_donor_months', schema=None) as batch_op:
        batch_op.create_index('ix_rollup_donor_months_donor', ['donor_id', 'month'], unique=False)

    op.create_table('rollup_monthly',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('channel', sa.Enum('online', 'offline', 'event', name='giftchannel', native_enum=False, length=24), nullable=False),
    sa.Column('method', sa.Enum('card', 'bank', 'check', 'cash', 'stock', 'in_kind', 'daf', 'other', name='giftmethod', native_enum=False, length=24), nullable=False),
    sa.Column('raised_cents', sa.BigInteger(), nullable=False),
    sa.Column('fee_cents', sa.BigInteger(), nullable=False),
    sa.Column('recurring_cents', sa.BigInteger(), nullable=False),
    sa.Column('refund_cents', sa.BigInteger(), nullable=False),
    sa.Column('refund_count', sa.Integer(), nullable=False),
    sa.Column('dispute_cents', sa.BigInteger(), nullable=False),
    sa.Column('dispute_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_rollup_monthly_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'month', 'channel', 'method', name=op.f('pk_rollup_monthly'))
    )
    op.create_table('rollup_events',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('raised_cents', sa.BigInteger(), nullable=False),
    sa.Column('gift_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_rollup_events_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['event_id'], ['community_events.id'], name=op.f('fk_rollup_events_event_id_community_events')),
    sa.PrimaryKeyConstraint('event_id', 'campaign_id', name=op.f('pk_rollup_events'))
    )


def downgrade() -> None:
    op.drop_table('rollup_events')
    op.drop_table('rollup_monthly')
    with op.batch_alter_table('rollup_donor_months', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_donor_months_donor')

    op.drop_table('rollup_donor_months')
    op.drop_table('rollup_daily')
    op.drop_table('rollup_gift_sizes')
    op.drop_table('rollup_donor_bitmaps')
