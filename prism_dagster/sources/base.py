"""The interface every log source (spool folder, PostgreSQL) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from prism_dagster.archive import layout
from prism_dagster.archive.schema import EVENT_TIME, EVENT_TIME_COLUMNS, REJECT_SCHEMA

#: The hour a reject is filed under: the event-time column, under the name rejects use.
REJECT_TIME = EVENT_TIME

BadRecordPolicy = Literal["keep", "fail"]
#: See ``LogSource.hour_memory_mb``.
DEFAULT_HOUR_MEMORY_MB = 64


@dataclass(frozen=True)
class SourceBatch:
    """Gateway rows of a time window, plus the source lines that could not be read.

    ``rows`` carries the gateway's own column names (see ``schema.GATEWAY_SCHEMA``);
    ``rejects`` follows ``schema.REJECT_SCHEMA`` plus ``REJECT_TIME``.
    """

    rows: pl.DataFrame
    rejects: pl.DataFrame
    #: Entries the source saw but does not read (e.g. ``notes.txt`` in a spool), for metadata.
    ignored: tuple[str, ...] = ()
    #: Paths it could not read at all, each "path: reason", reported by every run they may
    #: concern (their reject is filed in one hour only; their rows' hours are unknown).
    unreadable: tuple[str, ...] = ()

    @staticmethod
    def empty_rejects() -> pl.DataFrame:
        return pl.DataFrame(schema={**REJECT_SCHEMA, REJECT_TIME: pl.Datetime("us", "UTC")})

    @staticmethod
    def combine(pieces: Iterable[SourceBatch]) -> SourceBatch:
        """The pieces of one window (``LogSource.read_pieces``) as one batch."""
        tally, rows = PieceTally(), []
        for piece in pieces:
            tally.add(piece)
            rows.append(piece.rows)
        return SourceBatch(
            rows=pl.concat(rows, how="vertical_relaxed") if rows else pl.DataFrame(),
            rejects=tally.rejected(),
            ignored=tuple(tally.ignored),
            unreadable=tuple(tally.unreadable),
        )


#: Optional column a source may add to its rows: the store's last-modified time of each row.
#: Optional column a source may add to its rows: the store's last-modified time of each row.
UPDATED_AT = "_source_updated_at"


def fingerprint(rows: int, rejects: int, newest: datetime | None) -> str:
    """What an hour of source looked like; any late, changed or deleted row changes it."""
    stamp = newest.astimezone(UTC).isoformat() if newest else "-"
    return f"rows={rows};rejects={rejects};updated={stamp}"


EMPTY_FINGERPRINT = fingerprint(0, 0, None)


@dataclass
class PieceTally:
    """What the pieces of one window add up to besides their rows: its rejects, the paths
    ignored or unreadable, and the counts its fingerprint is made of."""

    rows: int = 0
    newest: datetime | None = None
    rejects: list[pl.DataFrame] = field(default_factory=lambda: [SourceBatch.empty_rejects()])
    ignored: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def add(self, piece: SourceBatch) -> None:
        """Count one piece in (its rows are the caller's to keep or let go)."""
        self.rejects.append(piece.rejects)
        self.ignored += [p for p in piece.ignored if p not in self.ignored]
        self.unreadable += piece.unreadable
        self.rows += piece.rows.height
        if UPDATED_AT in piece.rows.columns and piece.rows.height:
            latest = piece.rows.get_column(UPDATED_AT).max()
            if latest is not None and (self.newest is None or latest > self.newest):
                self.newest = latest  # type: ignore[assignment]

    def rejected(self) -> pl.DataFrame:
        """Every piece's rejects, as one frame."""
        return pl.concat(self.rejects)

    def fingerprint(self) -> str:
        """The window's fingerprint, as ``batch_fingerprints`` gives it for one hour."""
        return fingerprint(self.rows, sum(r.height for r in self.rejects), self.newest)


def fingerprint_change(before: str, after: str) -> str:
    """What differs between two fingerprints, e.g. ``rows 120 -> 125``; "unchanged" if nothing."""
    old, new = (dict(part.split("=", 1) for part in f.split(";")) for f in (before, after))
    changed = [f"{k} {old.get(k, '-')} -> {new.get(k, '-')}" for k in new if old.get(k) != new[k]]
    return "; ".join(changed) or "unchanged"


def batch_fingerprints(batch: SourceBatch, start: datetime, end: datetime) -> dict[datetime, str]:
    """The fingerprint of every hour in ``[start, end)`` of what ``batch`` holds."""
    rows = batch.rows
    event = pl.coalesce(*(pl.col(c) for c in EVENT_TIME_COLUMNS)).dt.truncate("1h")
    newest = pl.col(UPDATED_AT).max() if UPDATED_AT in rows.columns else pl.lit(None)
    counted = {
        hour: (n, latest)
        for hour, n, latest in rows.group_by(event.alias("h"))
        .agg(pl.len(), newest.alias("u"))
        .iter_rows()
    }
    rejected = dict(
        batch.rejects.group_by(pl.col(REJECT_TIME).dt.truncate("1h")).agg(pl.len()).iter_rows()
    )
    return {
        hour: fingerprint(
            counted.get(hour, (0, None))[0], rejected.get(hour, 0), counted.get(hour, (0, None))[1]
        )
        for hour in layout.hours_between(start, end)
    }


class LogSource(dg.ConfigurableResource, ABC):
    """Reads the gateway's request logs for a UTC time window."""

    bad_records: BadRecordPolicy = Field(
        default="keep",
        description="keep: archive good rows, keep bad lines in _rejects_{id}.jsonl.gz; "
        "fail: fail the run naming the first bad lines.",
    )

    hour_memory_mb: int = Field(
        default=DEFAULT_HOUR_MEMORY_MB,
        ge=1,
        description="Records of one hour held in memory before the hour is sorted on local "
        "disk (in the temp folder, TMPDIR), a minute at a time.",
    )

    @abstractmethod
    def read_window(self, start: datetime, end: datetime) -> SourceBatch:
        """Rows whose event time (started_at, else created_at) is in ``[start, end)``."""

    def read_pieces(self, start: datetime, end: datetime) -> Iterator[SourceBatch]:
        """``read_window`` in pieces, read as they are consumed (by default one piece).

        A source whose window can be large yields it in bounded pieces: the archive takes
        each in turn, so it never holds the whole window as read.
        """
        yield self.read_window(start, end)

    @abstractmethod
    def describe(self) -> str:
        """A one-line, secret-free description for metadata and logs."""

    def rows_without_event_time(self) -> int:
        """Rows no hour can hold (neither started_at nor created_at), never archived.

        Reported by ``prism-dagster validate``, once, rather than by every run. A spool files
        such lines as rejects under their neighbours' hour instead, so it has none.
        """
        return 0

    def fingerprints(self, start: datetime, end: datetime) -> dict[datetime, str]:
        """Each hour's fingerprint now, to spot hours that changed after they were archived.

        By default the window is read again (the spool's index keeps that cheap); a
        database source overrides it with an aggregate query. Empty when part of the source
        could not be read: a partial read must never look like rows that went away.
        """
        batch = self.read_window(start, end)
        if batch.unreadable:
            return {}
        return batch_fingerprints(batch, start, end)
