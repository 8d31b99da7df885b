"""PostgreSQL as a place to grow into: the ingest sink and `migrate` (psycopg 3 over the system's libpq).

    url.py       postgresql:// URLs: recognise, mask the password, connect with typed errors (PGPASSWORD,
                 ~/.pgpass or a prompt; sslmode and every other libpq parameter from the URL)
    sink.py      PostgresSink: the ingest Sink (COPY per batch, dead letters and ledger in one transaction)
    migrate.py   copy a SQLite database into PostgreSQL: types, keys, indexes, COPY, resume, verify
"""

from desktop_app.core.postgres.url import (
    PostgresUnavailable,
    connect,
    is_postgres_url,
    mask_url,
)

__all__ = ["PostgresUnavailable", "connect", "is_postgres_url", "mask_url"]
