"""Users with roles, the tamper-evident audit trail, and undoable edits (nothing deleted).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("added_by", sa.String(254), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_by", sa.String(254), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(254), nullable=False, index=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("patient", sa.String(64), nullable=True, index=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "edits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(254), nullable=False),
        sa.Column(
            "patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("before", sa.JSON, nullable=False),
        sa.Column("after", sa.JSON, nullable=False),
        sa.Column("undo_of", sa.Integer, nullable=True),
        sa.Column("undone_by", sa.Integer, nullable=True),
    )
    op.add_column("lesions", sa.Column("removed_edit_id", sa.Integer, nullable=True))
    op.add_column("visits", sa.Column("removed_edit_id", sa.Integer, nullable=True))
    op.add_column("analyses", sa.Column("withdrawn_edit_id", sa.Integer, nullable=True))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("withdrawn_edit_id")
    for table in ("visits", "lesions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("removed_edit_id")
    for table in ("audit_head", "edits", "settings", "audit_entries", "users"):
        op.drop_table(table)
