"""Backfill people.first_name / people.last_name and lower-case people.email.

A batched data migration as a careful user writes it with SQLAlchemy Core:
read pages of 1000 rows by primary key (keyset pagination), compute the new
values in Python, and write each page back with one executemany UPDATE by id.
Everything runs in the single transaction Alembic opens in env.py.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PAGE_SIZE = 1000

# Lightweight table construct: no reflection, just the columns we touch.
people = sa.table(
    "people",
    sa.column("id", sa.BigInteger),
    sa.column("full_name", sa.String),
    sa.column("email", sa.String),
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
)


def upgrade() -> None:
    conn = op.get_bind()

    select_page = (
        sa.select(people.c.id, people.c.full_name, people.c.email)
        .where(people.c.id > sa.bindparam("last_id"))
        .order_by(people.c.id)
        .limit(PAGE_SIZE)
    )
    # Bind parameter names must differ from the column names in SET.
    update_row = (
        sa.update(people)
        .where(people.c.id == sa.bindparam("b_id"))
        .values(
            first_name=sa.bindparam("b_first_name"),
            last_name=sa.bindparam("b_last_name"),
            email=sa.bindparam("b_email"),
        )
    )

    # Ids are positive (BIGINT primary key 1..N), so 0 starts before the first.
    last_id = 0
    while True:
        rows = conn.execute(select_page, {"last_id": last_id}).all()
        if not rows:
            break

        params = []
        for row_id, full_name, email in rows:
            parts = full_name.split(" ", 1)
            params.append(
                {
                    "b_id": row_id,
                    "b_first_name": parts[0],
                    "b_last_name": parts[1] if len(parts) > 1 else "",
                    "b_email": email.lower(),
                }
            )
        conn.execute(update_row, params)  # one executemany per page
        last_id = rows[-1][0]


def downgrade() -> None:
    op.execute(sa.update(people).values(first_name=None, last_name=None))
