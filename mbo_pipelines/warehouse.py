"""PostgreSQL access: connections, schemas, and COPY-based partition loading."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import psycopg
from psycopg import sql

SCHEMAS = ("raw", "sandbox", "marts", "activation")


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection; the caller closes it (``with connect(url) as conn``)."""
    return psycopg.connect(url, autocommit=autocommit)


def ensure_schemas(conn: psycopg.Connection, schemas: Iterable[str] = SCHEMAS) -> None:
    """Create the schemas MBO writes to, if missing."""
    for schema in schemas:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))


def copy_rows(
    conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]
) -> int:
    """COPY rows into ``schema.table``; returns the number of rows written."""
    schema, name = table.split(".")
    statement = sql.SQL("copy {}.{} ({}) from stdin").format(
        sql.Identifier(schema), sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def replace_date_range(
    conn: psycopg.Connection,
    table: str,
    date_column: str,
    start: date,
    end: date,
    columns: Sequence[str],
    rows: Iterable[Sequence],
) -> int:
    """Atomically replace the rows of ``table`` whose ``date_column`` lies in [start, end].

    Deleting and COPYing in one transaction makes a re-run of the same
    partitions idempotent: readers see either the old rows or the new ones.
    """
    schema, name = table.split(".")
    with conn.transaction():
        conn.execute(
            sql.SQL("delete from {}.{} where {} between %s and %s").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Identifier(date_column)
            ),
            (start, end),
        )
        return copy_rows(conn, table, columns, rows)


def replace_days(
    conn: psycopg.Connection,
    table: str,
    date_column: str,
    days: Sequence[date],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    keep: Sequence[tuple[str, ...]] = (),
    key: Sequence[str] = (),
) -> int:
    """Atomically replace the rows of ``table`` on ``days`` (which need not be contiguous) with ``rows``,
    except the rows whose ``key`` columns (compared as text) are one of ``keep``: those stay as they are.
    ``rows`` may be a generator: it is streamed into COPY as it is consumed."""
    schema, name = table.split(".")
    condition = sql.SQL("{} = any(%s)").format(sql.Identifier(date_column))
    params: list = [list(days)]
    if keep:
        columns_as_text = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in key)
        arrays = sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in key)
        condition = sql.SQL("{} and ({}) not in (select * from unnest({}))").format(condition, columns_as_text, arrays)
        params += [[k[n] for k in keep] for n in range(len(key))]
    with conn.transaction():
        conn.execute(
            sql.SQL("delete from {}.{} where {}").format(sql.Identifier(schema), sql.Identifier(name), condition),
            params,
        )
        return copy_rows(conn, table, columns, rows)


def replace_table_contents(
    conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]
) -> int:
    """Atomically replace every row of a snapshot table."""
    schema, name = table.split(".")
    with conn.transaction():
        conn.execute(sql.SQL("delete from {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
        return copy_rows(conn, table, columns, rows)


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    """True when ``schema.table`` exists (as a table or view)."""
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]
