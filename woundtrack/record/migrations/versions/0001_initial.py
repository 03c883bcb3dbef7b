"""Initial schema: patients, lesions, photos, visits, analyses, lesion measurements, treatments.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_table(
        "lesions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True
        ),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("body_site", sa.String(120), nullable=False),
        sa.Column("first_seen_on", sa.Date, nullable=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.UniqueConstraint("patient_id", "label"),
    )
    op.create_table(
        "photos",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("original_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("width_px", sa.Integer, nullable=False),
        sa.Column("height_px", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True
        ),
        sa.Column("photo_sha256", sa.String(64), sa.ForeignKey("photos.sha256"), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("taken_at", sa.String(40), nullable=True),
        sa.Column("taken_on", sa.Date, nullable=True, index=True),
        sa.Column("taken_at_source", sa.String(16), nullable=False),
        sa.Column("imported_at", _tz(), nullable=False),
        sa.UniqueConstraint("patient_id", "photo_sha256"),
    )
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("visit_id", sa.Integer, sa.ForeignKey("visits.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("corrected_by", sa.String(120), nullable=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("segmenter", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("woundtrack_version", sa.String(32), nullable=False),
        sa.Column("calibration_method", sa.String(16), nullable=False),
        sa.Column("calibration_quality", sa.String(64), nullable=False),
        sa.Column("marker_mm", sa.Double, nullable=True),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("labels_png", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "lesion_measurements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "analysis_id", sa.Integer, sa.ForeignKey("analyses.id"), nullable=False, index=True
        ),
        sa.Column("lesion_id", sa.Integer, sa.ForeignKey("lesions.id"), nullable=False, index=True),
        sa.Column("lesion_index", sa.Integer, nullable=False),
        *(
            sa.Column(f"{t}_area_cm2", sa.Double, nullable=True)
            for t in ("wound", "granulation", "slough", "eschar", "erythema")
        ),
        sa.Column("wound_area_px", sa.Integer, nullable=False),
        sa.Column("perimeter_cm", sa.Double, nullable=True),
        sa.Column("length_cm", sa.Double, nullable=True),
        sa.Column("width_cm", sa.Double, nullable=True),
        sa.Column("granulation_pct", sa.Double, nullable=False),
        sa.Column("slough_pct", sa.Double, nullable=False),
        sa.Column("eschar_pct", sa.Double, nullable=False),
        sa.Column("centre_x_px", sa.Double, nullable=False),
        sa.Column("centre_y_px", sa.Double, nullable=False),
        sa.Column("centre_x_mm", sa.Double, nullable=True),
        sa.Column("centre_y_mm", sa.Double, nullable=True),
    )
    op.create_table(
        "treatment_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("start_on", sa.Date, nullable=False),
        sa.Column("end_on", sa.Date, nullable=True),
        sa.Column("dose", sa.Text, nullable=False),
        sa.Column("frequency", sa.Text, nullable=False),
        sa.Column("sessions", sa.Integer, nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "treatment_events",
        "lesion_measurements",
        "analyses",
        "visits",
        "photos",
        "lesions",
        "patients",
    ):
        op.drop_table(table)
