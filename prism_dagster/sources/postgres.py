"""The gateway's own request-log table in PostgreSQL, read Arrow-native through ADBC.

ADBC (Apache Arrow's database connectivity, ``adbc-driver-postgresql``) binds real query
parameters and streams Arrow record batches straight from libpq's binary COPY, so rows never
become Python objects; connectorx, the other Arrow-native reader, cannot bind parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import polars as pl
from pydantic import Field

from prism_dagster import layout
from prism_dagster.errors import FailureCause, SourceError, redact
from prism_dagster.schema import GATEWAY_SCHEMA
from prism_dagster.sources.base import UPDATED_AT, LogSource, SourceBatch, fingerprint

#: The table's columns this source reads, by the name it uses for each.
SCOPE_COLUMNS = ("organization_id", "workspace_id", "deleted", "updated_at")
DEFAULT_COLUMNS = {name: name for name in (*GATEWAY_SCHEMA, *SCOPE_COLUMNS)}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
# Scope values are bound as text and cast to the column's own type (from the catalog) so the
# comparison stays sargable; only these catalog type names are ever written into SQL.
_CASTABLE = {"uuid", "text", "character varying", "bigint", "integer"}


def quote(name: str) -> str:
    """A validated, double-quoted SQL identifier (identifiers cannot be bound parameters)."""
    if not _IDENTIFIER.match(name):
        raise SourceError(f"{name!r} is not a plain SQL identifier", FailureCause.BAD_SOURCE_SCHEMA)
    return f'"{name}"'


class PostgresSource(LogSource):
    """Rows of the gateway's request-log table (``agentcc_request_log`` by default)."""

    dsn: str = Field(description="libpq URI or key=value DSN; from an env var, never the file.")
    table: str = "agentcc_request_log"
    db_schema: str = "public"
    organization_id: str
    workspace_id: str | None = None
    columns: dict[str, str] = Field(
        default_factory=dict, description="Overrides of DEFAULT_COLUMNS."
    )

    def describe(self) -> str:
        return f"PostgreSQL table {self.db_schema}.{self.table} on {_where(self.dsn)}"

    def column(self, name: str) -> str:
        """The quoted table column behind one of this source's names."""
        return quote({**DEFAULT_COLUMNS, **self.columns}[name])

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc

        try:
            with adbc.connect(self.dsn) as conn, conn.cursor() as cursor:
                yield cursor
        except adbc_driver_manager.Error as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: Exception) -> SourceError:
        state = str(getattr(exc, "sqlstate", "") or "")
        text = redact(str(exc), [self.dsn, _password(self.dsn)])
        where = self.describe()
        if state in ("42P01", "42703", "3F000") or "does not exist" in text:
            cause, fix = FailureCause.BAD_SOURCE_SCHEMA, "Check table, db_schema and columns."
        elif state == "42501" or "permission denied" in text:
            cause = FailureCause.SOURCE_DENIED
            fix = f"GRANT SELECT ON {self.db_schema}.{self.table} TO the archiver's role."
        else:
            cause, fix = FailureCause.SOURCE_UNREACHABLE, "Check the DSN, host and network."
        return SourceError(f"{where}: {cause.value}: {text}. {fix}", cause)

    def _scope(self, cursor: Any) -> tuple[str, list[Any]]:
        """The WHERE clause shared by reads and fingerprints, with its parameters."""
        types = self._column_types(cursor)
        clauses = [f"{self.column('organization_id')} = CAST($1 AS {types['organization_id']})"]
        params: list[Any] = [self.organization_id]
        if self.workspace_id is not None:
            # Only that workspace: rows with a NULL workspace belong to none and are left out.
            clauses.append(f"{self.column('workspace_id')} = CAST($2 AS {types['workspace_id']})")
            params.append(self.workspace_id)
        clauses.append(f"NOT {self.column('deleted')}")
        return " AND ".join(clauses), params

    def _column_types(self, cursor: Any) -> dict[str, str]:
        # pg_catalog, not information_schema: it lists columns even without SELECT, so a
        # missing grant surfaces as "access denied", not as a missing table.
        cursor.execute(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) "
            "FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON a.attrelid = c.oid "
            "JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid "
            "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            (self.db_schema, self.table),
        )
        found = dict(cursor.fetchall())
        if not found:
            raise SourceError(
                f"{self.describe()}: bad source schema: table not found; check table, db_schema",
                FailureCause.BAD_SOURCE_SCHEMA,
            )
        mapping = {**DEFAULT_COLUMNS, **self.columns}
        missing = sorted(mapping[n] for n in DEFAULT_COLUMNS if mapping[n] not in found)
        if missing:
            raise SourceError(
                f"{self.describe()}: bad source schema: missing column(s) {', '.join(missing)}",
                FailureCause.BAD_SOURCE_SCHEMA,
            )
        types = {name: found[mapping[name]] for name in ("organization_id", "workspace_id")}
        for name, kind in types.items():
            if kind not in _CASTABLE:
                message = f"{self.describe()}: bad source schema: {name} has type {kind}"
                raise SourceError(message, FailureCause.BAD_SOURCE_SCHEMA)
        return types

    def _time_filter(self, first: int) -> str:
        # Two sargable ranges instead of coalesce(): indexes on started_at and created_at apply.
        started, created = self.column("started_at"), self.column("created_at")
        a, b = f"${first}", f"${first + 1}"
        return (
            f"(({started} >= {a} AND {started} < {b}) OR "
            f"({started} IS NULL AND {created} >= {a} AND {created} < {b}))"
        )

    def read_window(self, start: datetime, end: datetime) -> SourceBatch:
        with self._cursor() as cursor:
            scope, params = self._scope(cursor)
            selected = [
                f"CAST({self.column(n)} AS double precision) AS {n}"
                if n == "cost"
                else f"{self.column(n)} AS {n}"
                for n in GATEWAY_SCHEMA
            ]
            selected.append(f"{self.column('updated_at')} AS {UPDATED_AT}")
            table = f"{quote(self.db_schema)}.{quote(self.table)}"
            where = f"{scope} AND {self._time_filter(len(params) + 1)}"
            cursor.execute(
                f"SELECT {', '.join(selected)} FROM {table} WHERE {where}", (*params, start, end)
            )
            # Batch by batch: Arrow buffers only, bounded by the driver's batch size.
            frames = [pl.from_arrow(batch) for batch in cursor.fetch_record_batch()]
        # rechunk=False: the batches are kept as they are, not copied into one buffer.
        rows = (
            pl.concat(frames, how="vertical_relaxed", rechunk=False) if frames else pl.DataFrame()
        )
        return SourceBatch(rows=rows, rejects=SourceBatch.empty_rejects())

    def fingerprints(self, start: datetime, end: datetime) -> dict[datetime, str]:
        """Per hour: count and newest updated_at, in one aggregate query (no rows fetched)."""
        event = f"coalesce({self.column('started_at')}, {self.column('created_at')})"
        with self._cursor() as cursor:
            scope, params = self._scope(cursor)
            table = f"{quote(self.db_schema)}.{quote(self.table)}"
            where = f"{scope} AND {self._time_filter(len(params) + 1)}"
            cursor.execute(
                f"SELECT date_trunc('hour', {event} AT TIME ZONE 'UTC') AS hour, count(*) AS n, "
                f"max({self.column('updated_at')}) AS newest FROM {table} WHERE {where} GROUP BY 1",
                (*params, start, end),
            )
            found = {h.replace(tzinfo=UTC): (n, newest) for h, n, newest in cursor.fetchall()}
        return {
            hour: fingerprint(found.get(hour, (0, None))[0], 0, found.get(hour, (0, None))[1])
            for hour in layout.hours_between(start, end)
        }


def _password(dsn: str) -> str | None:
    if "://" in dsn:
        return urlsplit(dsn).password
    match = re.search(r"password\s*=\s*('([^']*)'|\S+)", dsn)
    return (match.group(2) or match.group(1)) if match else None


def _where(dsn: str) -> str:
    """host:port/db of a DSN, never its credentials."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        return f"{parts.hostname}:{parts.port or 5432}{parts.path}"
    pairs = dict(re.findall(r"(\w+)\s*=\s*(\S+)", dsn))
    return f"{pairs.get('host', 'localhost')}:{pairs.get('port', 5432)}/{pairs.get('dbname', '')}"
