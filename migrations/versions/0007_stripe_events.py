"""stripe's current API: event versions and accounts, how a gift was paid, failed payments

Revision ID: 0007_stripe_events
Revises: 0006_org_identity
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0007_stripe_events"
down_revision = "0006_org_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_version", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("account", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("not_applied_reason", sa.String(length=200), nullable=True))
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_method_detail", sa.String(length=60), nullable=True))
    with op.batch_alter_table("recurring_plans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_payment_failed_at", fundraiser.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("donation_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_code", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("failed_at", fundraiser.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("donation_attempts", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("failure_code")
    with op.batch_alter_table("recurring_plans", schema=None) as batch_op:
        batch_op.drop_column("last_payment_failed_at")
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_column("payment_method_detail")
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_column("not_applied_reason")
        batch_op.drop_column("account")
        batch_op.drop_column("api_version")
