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
from prism_dagster.archive.normalize import shape
from prism_dagster.archive.records import HourRecords, RecordSpill, Spilled
from prism_dagster.archive.redaction import FieldPolicy
from prism_dagster.archive.schema import REJECT_SCHEMA
from prism_dagster.errors import BadRecordsError
from prism_dagster.names import hour_text
from prism_dagster.sources.base import LogSource, PieceTally

log = logging.getLogger(__name__)
_SHOWN_REJECTS = 5


@dataclass(frozen=True)
class HourBatch:
    """One hour as read: records (archive order), rejects, the source's fingerprint."""

    hour: datetime
    records: HourRecords
    rejects: pl.DataFrame
    fingerprint: str
    ignored: tuple[str, ...] = ()  # see SourceBatch
    unreadable: tuple[str, ...] = ()


def read_hour(source: LogSource, hour: datetime, policy: FieldPolicy | None = None) -> HourBatch:
    """Read and normalise one hour piece by piece; bad lines fail it under ``bad_records: fail``.

    Past ``source.hour_memory_mb`` of records, the hour is sorted on local disk instead. Under
    a fields ``policy`` the failure quotes no value, as the archived rejects do not.
    """
    end = hour + layout.ONE_HOUR
    spill = RecordSpill(source.hour_memory_mb << 20)
    tally = PieceTally()
    try:
        for piece in source.read_pieces(hour, end):
            tally.add(piece)
            if piece.rows.height:
                spill.add(shape(piece.rows))
        rejected = tally.rejected()
        if rejected.height and source.bad_records == "fail":
            if policy is not None:
                rejected = policy.apply_rejects(rejected)
            shown = rejected.head(_SHOWN_REJECTS).iter_rows(named=True)
            lines = "\n  ".join(
                f"{r['source_file']}:{r['line_number']}: {r['reason']}" for r in shown
            )
            raise BadRecordsError(
                f"{rejected.height} bad source line(s) in hour {hour_text(hour)} "
                f"(policy bad_records: fail):\n  {lines}"
            )
        records = spill.finish()
    except BaseException:
        spill.discard()
        raise
    log.info(
        "hour %s: read %d rows and %d rejected lines from %s%s",
        hour_text(hour),
        records.height,
        rejected.height,
        source.describe(),
        " (sorted on local disk)" if isinstance(records, Spilled) else "",
    )
    return HourBatch(
        hour,
        records,
        rejected.select(*REJECT_SCHEMA),
        tally.fingerprint(),
        ignored=tuple(tally.ignored),
        unreadable=tuple(tally.unreadable),
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
