"""How far each lesion's periwound erythema reaches from the wound's edge (cm).

Revision ID: 0004
Revises: 0003

Rows measured before it have none (NULL): their erythema area stands, its reach was not measured.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("lesion_measurements") as batch:
        batch.add_column(sa.Column("erythema_reach_cm", sa.Double, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lesion_measurements") as batch:
        batch.drop_column("erythema_reach_cm")
