"""year-end statements: each run, and each donor's statement sent by email or printed

Revision ID: 0012_year_end
Revises: 0010_mail_outbox
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0012_year_end"
down_revision = "0010_mail_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "year_end_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("resend", sa.Boolean(), nullable=False),
        sa.Column("started_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("emailed_count", sa.Integer(), nullable=False),
        sa.Column("printed_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_year_end_runs_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_year_end_runs")),
    )
    with op.batch_alter_table("year_end_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_year_end_runs_year"), ["year"], unique=False)

    op.create_table(
        "year_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Enum("email", "print", name="statementchannel", native_enum=False, length=24), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["year_end_runs.id"], name=op.f("fk_year_statements_run_id_year_end_runs")),
        sa.ForeignKeyConstraint(["donor_id"], ["donors.id"], name=op.f("fk_year_statements_donor_id_donors")),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"], ["outbox_messages.id"], name=op.f("fk_year_statements_outbox_message_id_outbox_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_year_statements")),
        sa.UniqueConstraint("year", "donor_id", "round", name="uq_year_statements_year_donor_round"),
    )
    with op.batch_alter_table("year_statements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_year_statements_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_year_statements_donor_id"), ["donor_id"], unique=False)


def downgrade() -> None:
    op.drop_table("year_statements")
    op.drop_table("year_end_runs")
