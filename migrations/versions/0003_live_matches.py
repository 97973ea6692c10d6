"""matching challenges; Stripe events applied after they are stored

Revision ID: 0003_live_matches
Revises: 0002_online_giving
Create Date: 2026-11-30 05:16:43.709180
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = '0003_live_matches'
down_revision = '0002_online_giving'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matching_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('sponsor', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('ratio_percent', sa.Integer(), nullable=False),
    sa.Column('cap_cents', sa.BigInteger(), nullable=False),
    sa.Column('starts_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('counts_offline', sa.Boolean(), nullable=False),
    sa.Column('counts_events', sa.Boolean(), nullable=False),
    sa.Column('follows_id', sa.Integer(), nullable=True),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cap_cents > 0', name=op.f('ck_matching_challenges_cap_positive')),
    sa.CheckConstraint('ratio_percent > 0', name=op.f('ck_matching_challenges_ratio_positive')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_matching_challenges_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['follows_id'], ['matching_challenges.id'], name=op.f('fk_matching_challenges_follows_id_matching_challenges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matching_challenges'))
    )
    with op.batch_alter_table('matching_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matching_challenges_campaign_id'), ['campaign_id'], unique=False)

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('processed_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.String(length=500), nullable=True))
        batch_op.create_index('ix_stripe_events_pending', ['processed_at', 'next_attempt_at'], unique=False)
    # Events stored before this revision were applied when they arrived.
    op.execute("UPDATE stripe_events SET processed_at = received_at")


def downgrade() -> None:
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stripe_events_pending')
        batch_op.drop_column('last_error')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('processed_at')

    with op.batch_alter_table('matching_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matching_challenges_campaign_id'))

    op.drop_table('matching_challenges')
