"""The global kill switch: stops every budget write, now, whatever the modes and the accounts file say.

Two ways to pull it: ``MBO_KILL_SWITCH=1`` in the environment of the push (read when a push starts), or
``mbo kill-switch on`` (a row in ``activation.kill_switch``, read by every push before every write, so it
also stops a push that is running). Changes stopped by it stay ``approved`` in the ledger, unsent, and go
out with the next push once the switch is off.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from mbo_pipelines import warehouse
from mbo_pipelines.defs.activate.account_settings import kill_switch_on

KILL_SWITCH_DDL = """
create table if not exists activation.kill_switch (
  id integer primary key default 1 check (id = 1),
  engaged boolean not null,
  reason text,
  set_by text not null,
  set_at timestamptz not null default now()
)
"""


def _ensure(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mbo.activation.ddl'))")
        warehouse.ensure_schemas(conn, ("activation",))
        conn.execute(KILL_SWITCH_DDL)


def set_switch(conn: psycopg.Connection, engaged: bool, by: str, reason: str | None = None) -> None:
    """Pull (``engaged``) or release the switch in the database, saying who and why."""
    _ensure(conn)
    with conn.transaction():
        conn.execute(
            """
            insert into activation.kill_switch (id, engaged, reason, set_by, set_at) values (1, %s, %s, %s, now())
            on conflict (id) do update set engaged = excluded.engaged, reason = excluded.reason,
                                           set_by = excluded.set_by, set_at = excluded.set_at
            """,
            (engaged, reason, by),
        )


def database_switch(conn: psycopg.Connection) -> tuple[bool, str | None, str, datetime] | None:
    """The switch's row (engaged, reason, set_by, set_at), or None when it was never set."""
    if not warehouse.table_exists(conn, "activation.kill_switch"):
        return None
    return conn.execute("select engaged, reason, set_by, set_at from activation.kill_switch where id = 1").fetchone()


def reason_to_stop(conn: psycopg.Connection) -> str | None:
    """Why every budget write must stop now (the environment's switch, else the database's), or None."""
    if why := kill_switch_on():
        return why
    row = database_switch(conn)
    if row and row[0]:
        engaged, reason, by, at = row
        return (f"kill_switch: pulled by {by} at {at:%Y-%m-%d %H:%M %Z}" + (f" ({reason})" if reason else "")
                + "; `mbo kill-switch off` lets pushes write again")
    return None
