"""Alembic environment for the runner-vs-Alembic data-migration bench.

Online mode only. The engine is built from the BENCH_DATABASE_URL environment
variable with default settings (no driver-specific speedups) and NullPool,
since the command opens a single connection and exits.
"""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def run_migrations_online() -> None:
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        raise SystemExit("BENCH_DATABASE_URL is not set")

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=None)
            # Default Alembic behaviour: every pending revision runs inside
            # this one transaction, committed when the block exits.
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline mode is not supported by this bench environment")

run_migrations_online()
