"""The asset's value: a window of normalised records and rejected lines, split by hour."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from prism_dagster.archive import layout
from prism_dagster.archive.schema import REJECT_SCHEMA
from prism_dagster.sources.base import REJECT_TIME


@dataclass(frozen=True)
class ArchiveWindow:
    """Records (sorted by timestamp) and rejects for ``[start, end)``, handed to the IO manager."""

    start: datetime
    end: datetime
    records: pl.DataFrame
    rejects: pl.DataFrame
    fingerprints: dict[datetime, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()  # see SourceBatch
    unreadable: tuple[str, ...] = ()

    def hours(self) -> Iterator[tuple[datetime, pl.DataFrame, pl.DataFrame]]:
        """(hour, records, rejects) for every hour of the window, empty hours included.

        Records are sorted by their fixed-width ISO timestamp, so each hour is one
        contiguous, zero-copy slice found by binary search.
        """
        stamps = self.records.get_column("timestamp")
        for hour in layout.hours_between(self.start, self.end):
            lo, hi = (
                int(stamps.search_sorted(f"{h:%Y-%m-%dT%H}:", side="left"))
                for h in (hour, hour + layout.ONE_HOUR)
            )
            in_hour = pl.col(REJECT_TIME).is_between(hour, hour + layout.ONE_HOUR, closed="left")
            rejects = self.rejects.filter(in_hour).select(*REJECT_SCHEMA)
            yield hour, self.records.slice(lo, hi - lo), rejects
