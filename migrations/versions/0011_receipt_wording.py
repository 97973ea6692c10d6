"""receipts: wording admins edit per kind, a register of receipts issued, HTML bodies, host's own proceeds

Revision ID: 0011_receipt_wording
Revises: 0008_payouts
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0011_receipt_wording"
down_revision = "0008_payouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_wordings",
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body_md", sa.Text(), nullable=False),
        sa.Column("updated_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_receipt_wordings_updated_by_id_users")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_receipt_wordings")),
    )
    op.create_table(
        "issued_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=True),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_issued_receipts_gift_id_gifts")),
        sa.ForeignKeyConstraint(["donor_id"], ["donors.id"], name=op.f("fk_issued_receipts_donor_id_donors")),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["issued_receipts.id"], name=op.f("fk_issued_receipts_replaces_id_issued_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"], ["outbox_messages.id"],
            name=op.f("fk_issued_receipts_outbox_message_id_outbox_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_receipts")),
        sa.UniqueConstraint("number", name=op.f("uq_issued_receipts_number")),
    )
    with op.batch_alter_table("issued_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_issued_receipts_gift", ["gift_id", "id"], unique=False)
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("proceeds_are_hosts_gift", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_column("proceeds_are_hosts_gift")
    with op.batch_alter_table("issued_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_issued_receipts_gift")
    op.drop_table("issued_receipts")
    op.drop_table("receipt_wordings")
