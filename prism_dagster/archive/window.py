"""The asset's value: a run's hours, each read from the source only when the writer reaches it.

A run over many hours reads, normalises, writes and lets go of one hour before it reads the
next, so its memory is that of its largest hour, not of its window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from prism_dagster.archive import layout
from prism_dagster.archive.normalize import normalize
from prism_dagster.archive.schema import REJECT_SCHEMA
from prism_dagster.errors import BadRecordsError
from prism_dagster.names import hour_text
from prism_dagster.sources.base import LogSource, batch_fingerprints

log = logging.getLogger(__name__)
_SHOWN_REJECTS = 5


@dataclass(frozen=True)
class HourBatch:
    """One hour as read: normalised records (archive order), rejects, the source's fingerprint."""

    hour: datetime
    records: pl.DataFrame
    rejects: pl.DataFrame
    fingerprint: str
    ignored: tuple[str, ...] = ()  # see SourceBatch
    unreadable: tuple[str, ...] = ()


def read_hour(source: LogSource, hour: datetime) -> HourBatch:
    """Read and normalise one hour; bad lines fail it under ``bad_records: fail``."""
    end = hour + layout.ONE_HOUR
    batch = source.read_window(hour, end)
    if batch.rejects.height and source.bad_records == "fail":
        shown = batch.rejects.head(_SHOWN_REJECTS).iter_rows(named=True)
        lines = "\n  ".join(f"{r['source_file']}:{r['line_number']}: {r['reason']}" for r in shown)
        raise BadRecordsError(
            f"{batch.rejects.height} bad source line(s) in hour {hour_text(hour)} "
            f"(policy bad_records: fail):\n  {lines}"
        )
    records = normalize(batch.rows)
    log.info(
        "hour %s: read %d rows and %d rejected lines from %s",
        hour_text(hour),
        records.height,
        batch.rejects.height,
        source.describe(),
    )
    return HourBatch(
        hour,
        records,
        batch.rejects.select(*REJECT_SCHEMA),
        batch_fingerprints(batch, hour, end)[hour],
        ignored=batch.ignored,
        unreadable=batch.unreadable,
    )


@dataclass(frozen=True)
class ArchiveWindow:
    """The hours ``[start, end)`` of a run, read one at a time by ``read``."""

    start: datetime
    end: datetime
    read: Callable[[datetime], HourBatch]
    #: The first hour, when it was read up front (a run of one hour, for its data version).
    first: HourBatch | None = None

    def hours(self) -> Iterator[HourBatch]:
        """Every hour of the window in order, empty hours included, each read when reached."""
        for hour in layout.hours_between(self.start, self.end):
            if self.first is not None and hour == self.first.hour:
                yield self.first
            else:
                yield self.read(hour)
