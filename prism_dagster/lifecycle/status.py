"""Integration status: the one store of Active / Syncing / Paused / Error, on SQLAlchemy.

SQLite under ``$DAGSTER_HOME`` by default, any SQLAlchemy URL (PostgreSQL for a multi-node
Dagster) by configuration. Every change is one atomic UPDATE, so concurrent sensors, runs and
CLI calls never lose each other's writes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa

from prism_dagster import clock
from prism_dagster.lifecycle.instance_db import instance_db_url

STATUS_URL_ENV = "PRISM_STATUS_URL"
#: Retry delays after consecutive failures: 5, 15, 60 minutes, then hourly.
ERROR_BACKOFF = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))


class Status(StrEnum):
    """What an operator sees for an integration."""

    ACTIVE = "Active"  # archiving on schedule
    SYNCING = "Syncing"  # a run for it is in progress
    PAUSED = "Paused"  # paused by the operator
    ERROR = "Error"  # its last run failed; the cause is shown


_meta = sa.MetaData()
_table = sa.Table(
    "prism_integration_status",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # Active, Syncing or Error
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("syncing_since", sa.DateTime(timezone=True)),
    sa.Column("last_archived_hour", sa.DateTime(timezone=True)),
    sa.Column("last_success_at", sa.DateTime(timezone=True)),
    sa.Column("last_error_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("error_cause", sa.String(64)),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("next_retry_at", sa.DateTime(timezone=True)),
    sa.Column("pending_hours", sa.Integer),
)


@dataclass(frozen=True)
class IntegrationState:
    """One row of the store, as the CLI and the UI show it."""

    name: str
    status: Status
    added_at: datetime
    run_id: str | None
    syncing_since: datetime | None
    last_archived_hour: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    error_cause: str | None
    failures: int
    next_retry_at: datetime | None
    pending_hours: int | None


def default_url() -> str:
    """``$PRISM_STATUS_URL``; else the production profile's PostgreSQL (``DAGSTER_PG_HOST``
    set); else SQLite under ``$DAGSTER_HOME`` (or ``.prism/dagster_home``)."""
    if os.environ.get(STATUS_URL_ENV):
        return os.environ[STATUS_URL_ENV]
    shared = instance_db_url()
    if shared:
        return shared
    # Without DAGSTER_HOME: the home `prism-dagster demo` and `make dev` use.
    home = Path(os.environ.get("DAGSTER_HOME") or ".prism/dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'prism_status.db').resolve()}"


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes (written as UTC); PostgreSQL aware ones in the
    # session's time zone. Everything shown is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ENGINES: dict[str, sa.Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(url: str) -> sa.Engine:
    # One engine (and pool) per URL per process: ticks must not open a connection each.
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            args = {"timeout": 30} if url.startswith("sqlite") else {}
            engine = sa.create_engine(url, connect_args=args, pool_pre_ping=True)
            try:
                _meta.create_all(engine, checkfirst=True)
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                # Another process created the table between the check and the CREATE.
                _meta.create_all(engine, checkfirst=True)
            _ENGINES[url] = engine
        return _ENGINES[url]


class StatusStore:
    """Reads and atomically updates integration status."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        self.engine = _engine(self.url)

    def ensure(self, names: list[str], now: datetime | None = None) -> None:
        """Add integrations seen for the first time (Active, added now); safe to race."""
        now = now or clock.utc_now()
        for name in names:
            if self.get(name) is not None:
                continue
            row = {"name": name, "state": Status.ACTIVE, "paused": False, "failures": 0}
            try:
                with self.engine.begin() as conn:
                    conn.execute(_table.insert().values(**row, added_at=now))
            except sa.exc.IntegrityError:
                pass  # another sensor, run or CLI call added it first: same row

    def _update(
        self, name: str, where: sa.ColumnElement[bool] | None = None, **values: object
    ) -> bool:
        """One atomic UPDATE of one row; ``where`` narrows it (compare-and-set)."""
        condition = _table.c.name == name
        if where is not None:
            condition = sa.and_(condition, where)
        with self.engine.begin() as conn:
            return conn.execute(_table.update().where(condition).values(**values)).rowcount > 0

    def mark_syncing(self, name: str, run_id: str, now: datetime | None = None) -> None:
        """A run for the integration started."""
        self._update(
            name, state=Status.SYNCING, run_id=run_id, syncing_since=now or clock.utc_now()
        )

    def mark_success(
        self,
        name: str,
        run_id: str,
        last_hour: datetime,
        now: datetime | None = None,
        only_if_syncing: bool = False,
    ) -> None:
        """A run succeeded: Active again, error cleared, newest archived hour kept."""
        newest = sa.case(
            (_table.c.last_archived_hour.is_(None), last_hour),
            (_table.c.last_archived_hour < last_hour, last_hour),
            else_=_table.c.last_archived_hour,
        )
        self._update(
            name,
            self._still_syncing(run_id) if only_if_syncing else None,
            state=Status.ACTIVE,
            run_id=None,
            syncing_since=None,
            last_archived_hour=newest,
            last_success_at=now or clock.utc_now(),
            last_error=None,
            error_cause=None,
            failures=0,
            next_retry_at=None,
        )

    def mark_error(
        self,
        name: str,
        run_id: str | None,
        cause: str,
        message: str,
        now: datetime | None = None,
        only_if_syncing: bool = False,
    ) -> None:
        """A run failed: Error with its cause; retried after a growing delay.

        Runs that fail within one retry window count as one failed attempt, so a tick that
        launched several runs does not jump the backoff ahead.
        """
        now = now or clock.utc_now()
        retry_due = sa.or_(_table.c.next_retry_at.is_(None), _table.c.next_retry_at <= now)
        failures = sa.case((retry_due, _table.c.failures + 1), else_=_table.c.failures)
        delay = sa.case(
            *((failures == i + 1, now + d) for i, d in enumerate(ERROR_BACKOFF)),
            else_=now + ERROR_BACKOFF[-1],
        )
        self._update(
            name,
            self._still_syncing(run_id) if only_if_syncing else None,
            state=Status.ERROR,
            run_id=None,
            syncing_since=None,
            last_error_at=now,
            last_error=message[:2000],
            error_cause=cause,
            failures=failures,
            next_retry_at=delay,
        )

    def mark_recovered(self, name: str) -> bool:
        """Error with nothing left to retry (its hours were archived since): Active again."""
        return self._update(
            name,
            _table.c.state == Status.ERROR,
            state=Status.ACTIVE,
            last_error=None,
            error_cause=None,
            failures=0,
            next_retry_at=None,
        )

    @staticmethod
    def _still_syncing(run_id: str | None) -> sa.ColumnElement[bool]:
        # For recovery: change the row only if it still shows this very run as Syncing, so a
        # result a run-status sensor recorded meanwhile is never overwritten.
        return sa.and_(_table.c.state == Status.SYNCING, _table.c.run_id == run_id)

    def set_paused(self, name: str, paused: bool) -> bool:
        """Pause or resume; False if there is no such integration."""
        return self._update(name, paused=paused)

    def set_pending(self, name: str, pending: int) -> None:
        """How many closed hours are still to archive (the schedule computes it)."""
        self._update(name, pending_hours=pending)

    def get(self, name: str) -> IntegrationState | None:
        """One integration's state."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_table).where(_table.c.name == name)).mappings().first()
        return _state(row) if row else None

    def all(self) -> list[IntegrationState]:
        """Every integration's state, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_table).order_by(_table.c.name)).mappings().all()
        return [_state(row) for row in rows]


def _state(row: sa.RowMapping) -> IntegrationState:
    status = Status.PAUSED if row["paused"] else Status(row["state"])
    times = {
        key: _utc(row[key])
        for key in (
            "added_at",
            "syncing_since",
            "last_archived_hour",
            "last_success_at",
            "last_error_at",
            "next_retry_at",
        )
    }
    return IntegrationState(
        name=row["name"],
        status=status,
        run_id=row["run_id"],
        last_error=row["last_error"],
        error_cause=row["error_cause"],
        failures=row["failures"],
        pending_hours=row["pending_hours"],
        **times,  # type: ignore[arg-type]
    )
