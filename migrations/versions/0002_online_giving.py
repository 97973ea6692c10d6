"""online giving

Revision ID: 0002_online_giving
Revises: 0001_initial
Create Date: 2026-11-23 03:22:21.179556
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = '0002_online_giving'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('donation_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.Enum('once', 'monthly', name='donationfrequency', native_enum=False, length=24), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('fee_covered_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('donor_name', sa.String(length=200), nullable=False),
    sa.Column('donor_email', sa.String(length=254), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('started', 'completed', 'failed', name='attemptstatus', native_enum=False, length=24), nullable=False),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_checkout_session_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_donation_attempts_amount_positive')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_donation_attempts_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_donation_attempts')),
    sa.UniqueConstraint('public_id', name=op.f('uq_donation_attempts_public_id'))
    )
    with op.batch_alter_table('donation_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_donation_attempts_stripe_checkout_session_id'), ['stripe_checkout_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_donation_attempts_stripe_payment_intent_id'), ['stripe_payment_intent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_donation_attempts_stripe_subscription_id'), ['stripe_subscription_id'], unique=False)

    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gift_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('to_email', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', name='messagestatus', native_enum=False, length=24), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('sent_at', fundraiser.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', fundraiser.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['gift_id'], ['gifts.id'], name=op.f('fk_outbox_messages_gift_id_gifts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_messages_dedupe_key'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_due', ['status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_product_id', sa.String(length=255), nullable=True))

    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('stripe_charge_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_gifts_stripe_charge_id'), ['stripe_charge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gifts_stripe_payment_intent_id'), ['stripe_payment_intent_id'], unique=False)

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_for', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_stripe_events_waiting_for'), ['waiting_for'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_waiting_for'))
        batch_op.drop_column('waiting_for')

    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gifts_stripe_payment_intent_id'))
        batch_op.drop_index(batch_op.f('ix_gifts_stripe_charge_id'))
        batch_op.drop_column('stripe_charge_id')
        batch_op.drop_column('stripe_payment_intent_id')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('stripe_product_id')

    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_due')

    op.drop_table('outbox_messages')
    with op.batch_alter_table('donation_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_donation_attempts_stripe_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_donation_attempts_stripe_payment_intent_id'))
        batch_op.drop_index(batch_op.f('ix_donation_attempts_stripe_checkout_session_id'))

    op.drop_table('donation_attempts')

