"""Why the PostgreSQL source failed, in operator terms: the cause, the fix, whether it passes.

Read from the SQLSTATE the server sent, and from where the failure happened (connecting or
reading). A login the server refused carries no SQLSTATE: libpq keeps it to itself (for ADBC
and psycopg alike), so there, and only there, the server's words are all there is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prism_dagster.errors import FailureCause

if TYPE_CHECKING:
    from prism_dagster.sources.postgres import PostgresSource

# The server's and libpq's words for a refused login (SQLSTATE 28P01 and 28000).
_LOGIN_REFUSED = re.compile(
    r"authentication failed|no pg_hba\.conf entry|no password supplied|role \"[^\"]*\" does not"
)
_NO_DATABASE = re.compile(r"database \"[^\"]*\" does not exist")  # SQLSTATE 3D000
# The connection itself broke: class 08, and the server shutting down or crashing.
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


@dataclass(frozen=True)
class Diagnosis:
    """A failure's cause, what the operator should do, and whether a later try may pass."""

    cause: FailureCause
    fix: str
    transient: bool = False


def diagnose(source: PostgresSource, exc: Exception, phase: str, detail: str) -> Diagnosis:
    """Why ``exc`` (raised while ``phase`` was "connect" or "read") failed ``source``.

    ``detail``: the driver's words, for the few failures that have nothing else.
    """
    state = str(getattr(exc, "sqlstate", "") or "")
    if phase == "connect":
        return _connecting(source, state, detail)
    table = f"{source.db_schema}.{source.table}"
    if state in ("42P01", "42703", "3F000") or "does not exist" in detail:
        return Diagnosis(
            FailureCause.BAD_SOURCE_SCHEMA,
            "check source.table, source.db_schema and source.columns",
        )
    if state == "42501" or "permission denied" in detail:
        return Diagnosis(
            FailureCause.SOURCE_DENIED, f"GRANT SELECT ON {table} TO the archiver's role"
        )
    if _connection_lost(exc, state):
        return Diagnosis(
            FailureCause.SOURCE_UNREACHABLE,
            "the connection to the database broke during the read (the server restarted or "
            "ended it, or a proxy, pooler or NAT dropped it); nothing was archived from it, and "
            "the hour is read again when the run is retried",
            transient=True,
        )
    if state.startswith("22"):  # data exceptions: a scope value the column cannot hold
        return Diagnosis(FailureCause.BAD_SOURCE_SETTING, _bad_scope_value(source, detail))
    if state == "57014":  # query_canceled; our own cancel is never reported this way
        return Diagnosis(
            FailureCause.SOURCE_UNREACHABLE,
            f"the query ran longer than source.statement_timeout_s "
            f"({source.statement_timeout_s} s); raise it, or index organization_id with "
            "started_at and with created_at",
        )
    return Diagnosis(
        FailureCause.SOURCE_UNREACHABLE,
        "check host, port, user and password in source.dsn, and the network path",
    )


def not_connected(source: PostgresSource) -> Diagnosis:
    """No connection within ``connect_timeout_s``."""
    return Diagnosis(
        FailureCause.SOURCE_UNREACHABLE,
        f"not connected after {source.connect_timeout_s} s; check host, port and the network "
        "path to the database, or raise source.connect_timeout_s",
        transient=True,
    )


def _connecting(source: PostgresSource, state: str, detail: str) -> Diagnosis:
    if state in ("28P01", "28000") or _LOGIN_REFUSED.search(detail):
        return Diagnosis(
            FailureCause.SOURCE_DENIED,
            "the server refused the login; check the user name and password in source.dsn, "
            "and that the server's pg_hba.conf admits this host",
        )
    if state == "3D000" or _NO_DATABASE.search(detail):
        return Diagnosis(
            FailureCause.BAD_SOURCE_SETTING,
            "the database named in source.dsn does not exist; fix the name",
        )
    if "timeout expired" in detail:  # libpq's connect_timeout
        return not_connected(source)
    return Diagnosis(
        FailureCause.SOURCE_UNREACHABLE,
        "check host, port, user and password in source.dsn, and the network path",
        transient=True,
    )


def _connection_lost(exc: Exception, state: str) -> bool:
    import adbc_driver_manager

    if isinstance(exc, OSError):  # the Arrow stream of a COPY: its socket failed
        return True
    if state:
        return state.startswith(_CONNECTION_STATES)
    # No SQLSTATE: the server said nothing, libpq itself failed on the socket.
    return getattr(exc, "status_code", None) == adbc_driver_manager.AdbcStatusCode.IO


def _bad_scope_value(source: PostgresSource, detail: str) -> str:
    kind = re.search(r"for type ([\w ]+?)\s*:", detail)
    expected = f"a valid {kind.group(1)}" if kind else "a value of the column's type"
    values = {"organization_id": source.organization_id, "workspace_id": source.workspace_id}
    named = [
        f"source.{name} {value!r}"
        for name, value in values.items()
        if value is not None and f'"{value}"' in detail
    ]
    if named:
        return f"{' and '.join(named)} is not {expected}; set the gateway's own id"
    return f"source.organization_id and source.workspace_id must each be {expected}"
