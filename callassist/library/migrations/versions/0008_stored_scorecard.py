"""Each call's automatic QA scorecard answers kept with its summary (like its flags), so the
QA window's averages per agent and per question and the CSV need no call's events read again.

    calls.scorecard: JSON {"card": form name, "auto": {question id: "yes" | "no" | "n/a" | null}}
                     NULL for calls stored before it (their card is worked out when opened)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("calls")}
    if "scorecard" not in have:  # (a file copied back from a newer format may have it)
        op.add_column("calls", sa.Column("scorecard", sa.Text))


def downgrade() -> None:
    raise NotImplementedError("a library is never taken back to an older format")
