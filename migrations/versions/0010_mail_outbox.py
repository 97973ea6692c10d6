"""mail outbox: an HTML body beside the plain text (the plain text stays the fallback part)

Revision ID: 0010_mail_outbox
Revises: 0007_stripe_events
"""

from alembic import op
import sqlalchemy as sa


revision = "0010_mail_outbox"
down_revision = "0007_stripe_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("body_html")
