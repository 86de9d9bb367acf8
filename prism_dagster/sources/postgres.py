"""The gateway's own request-log table in PostgreSQL, read Arrow-native through ADBC.

ADBC (Apache Arrow's database connectivity, ``adbc-driver-postgresql``) streams Arrow record
batches straight from libpq's binary COPY, so rows never become Python objects. It does so
only for queries without bound parameters (a parametrised result arrives whole, buffered in
libpq), so the scope and window values are inlined as escaped constants (see ``literal``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import polars as pl
from pydantic import Field

from prism_dagster.archive import layout
from prism_dagster.archive.normalize import range_problems
from prism_dagster.archive.schema import EVENT_TIME_COLUMNS, FIELD_RANGES, GATEWAY_SCHEMA
from prism_dagster.config.sources import PostgresSourceConfig
from prism_dagster.errors import FailureCause, SourceError, redact
from prism_dagster.sources import pg_stream
from prism_dagster.sources.base import REJECT_TIME, UPDATED_AT, LogSource, SourceBatch, fingerprint
from prism_dagster.sources.pg_errors import diagnose, not_connected
from prism_dagster.sources.pg_stream import bad_setting, secrets, where

T = TypeVar("T")
#: The table's columns this source reads, by the name it uses for each.
SCOPE_COLUMNS = ("organization_id", "workspace_id", "deleted", "updated_at")
DEFAULT_COLUMNS = {name: name for name in (*GATEWAY_SCHEMA, *SCOPE_COLUMNS)}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
# Scope values are bound as text and cast to the column's own type (from the catalog) so the
# comparison stays sargable; only these catalog type names are ever written into SQL.
_CASTABLE = {"uuid", "text", "character varying", "bigint", "integer"}
_EMPTY_ROWS = {**GATEWAY_SCHEMA, UPDATED_AT: pl.Datetime("us", "UTC")}
#: Rows are handed on in pieces of about this many bytes of Arrow buffers (see read_pieces).
PIECE_BYTES = 8 << 20


def literal(text: str) -> str:
    """``text`` as a SQL string constant, right whatever standard_conforming_strings says."""
    if "\x00" in text:
        raise ValueError("a SQL string cannot hold NUL")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _default(name: str) -> Any:
    return PostgresSourceConfig.model_fields[name].default


def quote(name: str) -> str:
    """A validated, double-quoted SQL identifier (identifiers cannot be bound parameters)."""
    if not _IDENTIFIER.match(name):
        raise SourceError(
            f"bad source schema: {name!r} is not a plain SQL identifier; "
            "check source.table, source.db_schema and source.columns",
            FailureCause.BAD_SOURCE_SCHEMA,
        )
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
    connect_timeout_s: int = _default("connect_timeout_s")
    statement_timeout_s: int = _default("statement_timeout_s")
    idle_timeout_s: int = _default("idle_timeout_s")

    def describe(self) -> str:
        return f"PostgreSQL table {self.db_schema}.{self.table} on {where(self.dsn)}"

    def column(self, name: str) -> str:
        """The quoted table column behind one of this source's names."""
        return quote({**DEFAULT_COLUMNS, **self.columns}[name])

    def read_window(self, start: datetime, end: datetime) -> SourceBatch:
        return SourceBatch.combine(self.read_pieces(start, end))

    def read_pieces(self, start: datetime, end: datetime) -> Iterator[SourceBatch]:
        """The window's rows in pieces of about ``PIECE_BYTES`` of Arrow buffers, as they come."""

        def work(cursor: Any) -> Iterator[Any]:
            scope = self._scope(cursor)
            selected = [
                f"CAST({self.column(n)} AS double precision) AS {n}"
                if n == "cost"
                else f"{self.column(n)} AS {n}"
                for n in GATEWAY_SCHEMA
            ]
            selected.append(f"{self.column('updated_at')} AS {UPDATED_AT}")
            where_ = f"{scope} AND {self._time_filter(start, end)}"
            cursor.adbc_statement.set_options(**pg_stream.BATCH_OPTIONS)
            cursor.execute(f"SELECT {', '.join(selected)} FROM {self._table()} WHERE {where_}")
            # Batch by batch: Arrow buffers only, of about pg_stream.BATCH_BYTES each.
            yield from cursor.fetch_record_batch()

        frames, size, pieces = [], 0, 0
        for batch in self._session(work):
            frames.append(pl.from_arrow(batch))
            size += batch.nbytes
            if size >= PIECE_BYTES:
                yield self._piece(frames)
                frames, size, pieces = [], 0, pieces + 1
        if frames or not pieces:  # the driver yields no batch at all for no rows
            yield self._piece(frames)

    def _piece(self, frames: list[Any]) -> SourceBatch:
        # rechunk=False: the batches are kept as they are, not copied into one buffer.
        rows = pl.concat(
            frames or [pl.DataFrame(schema=_EMPTY_ROWS)], how="vertical_relaxed", rechunk=False
        )
        return self._split_rejects(rows)  # type: ignore[arg-type]

    def _split_rejects(self, rows: pl.DataFrame) -> SourceBatch:
        """Rows with a value outside its documented range become rejects, never records."""
        event = pl.coalesce(*(pl.col(c) for c in EVENT_TIME_COLUMNS))
        reason = pl.concat_str(range_problems(event), separator="; ", ignore_nulls=True)
        marked = rows.with_columns(reason.alias("_reason"))
        bad = marked.get_column("_reason") != ""
        if not bad.any():  # the usual case: the rows are not copied
            return SourceBatch(rows=rows, rejects=SourceBatch.empty_rejects())
        rejects = marked.filter(bad).select(
            pl.lit(f"postgresql:{self.db_schema}.{self.table}").alias("source_file"),
            pl.lit(0, dtype=pl.Int64).alias("line_number"),  # a table has no line numbers
            pl.col("_reason").alias("reason"),
            pl.struct(*GATEWAY_SCHEMA).struct.json_encode().alias("line"),
            event.alias(REJECT_TIME),
        )
        return SourceBatch(rows=rows.filter(~bad), rejects=rejects)

    def fingerprints(self, start: datetime, end: datetime) -> dict[datetime, str]:
        """Per hour: rows, rejects and newest updated_at, in one aggregate query.

        Rejects are counted with the same ranges ``read_window`` applies, so an hour's
        fingerprint here equals the one of what was archived.
        """
        event = f"coalesce({self.column('started_at')}, {self.column('created_at')})"
        bad = f"coalesce({self._out_of_range_sql()}, false)"

        def work(cursor: Any) -> Iterator[list[tuple[Any, ...]]]:
            where_ = f"{self._scope(cursor)} AND {self._time_filter(start, end)}"
            cursor.execute(
                f"SELECT date_trunc('hour', {event} AT TIME ZONE 'UTC') AS hour, "
                f"count(*) FILTER (WHERE NOT {bad}) AS n, count(*) FILTER (WHERE {bad}) AS r, "
                f"max({self.column('updated_at')}) FILTER (WHERE NOT {bad}) AS newest "
                f"FROM {self._table()} WHERE {where_} GROUP BY 1"
            )
            yield cursor.fetchall()

        [result] = self._session(work)
        found = {h.replace(tzinfo=UTC): (n, r, newest) for h, n, r, newest in result}
        return {
            hour: fingerprint(*found.get(hour, (0, 0, None)))
            for hour in layout.hours_between(start, end)
        }

    def rows_without_event_time(self) -> int:
        """In-scope rows with neither started_at nor created_at: no hour can ever hold them."""

        def work(cursor: Any) -> Iterator[int]:
            cursor.execute(
                f"SELECT count(*) FROM {self._table()} WHERE {self._scope(cursor)} AND "
                f"{self.column('started_at')} IS NULL AND {self.column('created_at')} IS NULL"
            )
            yield cursor.fetchone()[0]

        [count] = self._session(work)
        return count

    def _session(self, work: Callable[[Any], Iterable[T]]) -> Iterator[T]:
        """The items of ``work(cursor)`` on a new connection, under every configured timeout."""
        import adbc_driver_manager

        problem = bad_setting(self.dsn)
        if problem:
            raise self._error(FailureCause.BAD_SOURCE_SETTING, problem)
        timeouts = (self.connect_timeout_s, self.statement_timeout_s, self.idle_timeout_s)
        try:
            yield from pg_stream.session(self.dsn, work, *timeouts)
        except pg_stream.Failed as failed:
            error = failed.error
            if not isinstance(error, adbc_driver_manager.Error | OSError):
                raise error from None  # ours (a SourceError), or a bug: as it was raised
            # The driver repeats the whole query; the operator needs the server's words only.
            said = re.sub(r"\s*Query was: .*?(?=\. SQLSTATE|\Z)", "", str(error), flags=re.DOTALL)
            detail = "PostgreSQL said: " + redact(said, secrets(self.dsn)).strip()
            why = diagnose(self, error, failed.phase, detail)
            raise self._error(why.cause, why.fix, detail, why.transient) from None
        except pg_stream.Stalled as stall:
            if stall.phase == "connect":
                why = not_connected(self)
                raise self._error(why.cause, why.fix, transient=why.transient) from None
            fix = (
                f"no data for {stall.seconds:g} s (stalled connection); check the network path "
                "to the database, or raise source.idle_timeout_s"
            )
            raise self._error(FailureCause.SOURCE_UNREACHABLE, fix, transient=True) from None

    def _error(
        self, cause: FailureCause, fix: str, detail: str = "", transient: bool = False
    ) -> SourceError:
        """First line: where, why and what to fix; the driver's own words after it."""
        first = f"{self.describe()}: {cause.value}: {fix}"
        return SourceError(f"{first}\n{detail}" if detail else first, cause, transient)

    def _table(self) -> str:
        return f"{quote(self.db_schema)}.{quote(self.table)}"

    def _scope(self, cursor: Any) -> str:
        """The WHERE clause shared by reads, fingerprints and counts."""
        types = self._column_types(cursor)
        scope = {"organization_id": self.organization_id, "workspace_id": self.workspace_id}
        # Only that workspace, if set: rows with a NULL workspace belong to none.
        clauses = [
            f"{self.column(name)} = CAST({self._literal(name, value)} AS {types[name]})"
            for name, value in scope.items()
            if value is not None
        ]
        clauses.append(f"NOT {self.column('deleted')}")
        return " AND ".join(clauses)

    def _literal(self, name: str, value: str) -> str:
        try:
            return literal(value)
        except ValueError:
            fix = f"source.{name} holds a NUL character; set the gateway's own id"
            raise self._error(FailureCause.BAD_SOURCE_SETTING, fix) from None

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
        schema = FailureCause.BAD_SOURCE_SCHEMA
        if not found:
            raise self._error(schema, "table not found; check source.table and source.db_schema")
        mapping = {**DEFAULT_COLUMNS, **self.columns}
        missing = sorted(mapping[n] for n in DEFAULT_COLUMNS if mapping[n] not in found)
        if missing:
            fix = f"missing column(s) {', '.join(missing)}; map them in source.columns"
            raise self._error(schema, fix)
        types = {name: found[mapping[name]] for name in ("organization_id", "workspace_id")}
        for name, kind in types.items():
            if kind not in _CASTABLE:
                fix = f"{name} has type {kind}; expected one of {', '.join(sorted(_CASTABLE))}"
                raise self._error(schema, fix)
        return types

    def _time_filter(self, start: datetime, end: datetime) -> str:
        # Two sargable ranges instead of coalesce(): indexes on started_at and created_at apply.
        started, created = self.column("started_at"), self.column("created_at")
        a, b = (f"CAST({literal(t.isoformat())} AS timestamptz)" for t in (start, end))
        return (
            f"(({started} >= {a} AND {started} < {b}) OR "
            f"({started} IS NULL AND {created} >= {a} AND {created} < {b}))"
        )

    def _out_of_range_sql(self) -> str:
        """SQL twin of ``normalize.range_problems`` over numeric fields (NULL: in range)."""
        tests = []
        for name, (low, high) in FIELD_RANGES.items():
            value = self.column(name)
            if name == "cost":  # compared as read: double precision, NaN above everything
                value = f"CAST({value} AS double precision)"
            tests.append(f"{value} < {low!r} OR {value} > {high!r}")
        return f"({' OR '.join(tests)})"
