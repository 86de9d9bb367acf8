"""An hour's records in archive order: in memory, or sorted on local disk a minute at a time.

An hour whose records outgrow the memory budget is spilled to a temporary folder in one-minute
buckets as it is read. The archive's order starts with the timestamp, so the buckets in
minute order, each sorted on its own, are the whole hour's order: the same rows, the same
order and so the same bytes as sorting the hour in memory, at the memory of one minute.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from prism_dagster.archive.normalize import sort_records
from prism_dagster.archive.schema import RECORD_SCHEMA

_MINUTE = pl.col("timestamp").str.slice(0, 16).alias("_minute")  # 2026-03-31T14:05


def _totals(records: pl.DataFrame) -> tuple[float, int]:
    return (
        float(records.get_column("cost").sum() or 0.0),
        int(records.get_column("is_error").sum() or 0),
    )


class HourRecords(ABC):
    """Records of one hour in archive order, read part by part, never all at once."""

    height: int

    @abstractmethod
    def totals(self) -> tuple[float, int]:
        """The hour's total cost and its count of errors, for metadata."""

    @abstractmethod
    def parts(self) -> Iterator[pl.DataFrame]:
        """The records in order, as consecutive frames."""

    def slices(self, bounds: list[tuple[int, int]]) -> Iterator[pl.DataFrame]:
        """The records at consecutive ``(offset, length)`` bounds covering every row."""
        parts, held, at = self.parts(), pl.DataFrame(schema=RECORD_SCHEMA), 0
        for offset, length in bounds:
            if offset != at:
                raise ValueError(f"slices must be consecutive: {offset} after {at}")
            while held.height < length:
                held = pl.concat([held, next(parts)], rechunk=False)
            yield held.slice(0, length)
            held, at = held.slice(length), offset + length

    def row_hashes(self) -> Iterator[bytes]:
        """Polars' hash of every row, in order (see ``writer.content_tag``)."""
        for part in self.parts():
            yield part.hash_rows(seed=0).to_numpy().tobytes()

    def close(self) -> None:
        """Let go of what the records hold (a spilled hour's folder)."""
        return None


class InMemory(HourRecords):
    """An hour small enough to sort in memory: one frame."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.height = frame.height
        self._totals: tuple[float, int] | None = None

    def totals(self) -> tuple[float, int]:
        if self._totals is None:
            self._totals = _totals(self.frame)
        return self._totals

    def close(self) -> None:
        self.totals()  # still known after the rows are let go
        self.frame = pl.DataFrame(schema=self.frame.schema)

    def parts(self) -> Iterator[pl.DataFrame]:
        yield self.frame

    def slices(self, bounds: list[tuple[int, int]]) -> Iterator[pl.DataFrame]:
        for offset, length in bounds:
            yield self.frame.slice(offset, length)


class Spilled(HourRecords):
    """A large hour: sorted minute buckets in a temporary folder, read back one at a time."""

    def __init__(
        self,
        folder: tempfile.TemporaryDirectory[str],
        files: list[Path],
        height: int,
        totals: tuple[float, int],
    ) -> None:
        self._folder, self.files, self.height, self._totals = folder, files, height, totals

    def totals(self) -> tuple[float, int]:
        return self._totals

    def parts(self) -> Iterator[pl.DataFrame]:
        for file in self.files:
            yield pl.read_ipc(file)

    def close(self) -> None:
        self._folder.cleanup()


class RecordSpill:
    """Collects an hour's records as they are read; ``finish`` puts them in archive order.

    Records stay in memory until they pass ``budget_bytes``; then all that is held goes to
    disk, a file per minute, and collecting starts again.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._held: list[pl.DataFrame] = []
        self._size = 0
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._buckets: dict[str, list[Path]] = defaultdict(list)

    def add(self, records: pl.DataFrame) -> None:
        """Records in any order (``normalize.shape``'s output)."""
        self._held.append(records)
        self._size += records.estimated_size()
        if self._size > self.budget:
            self._spill()

    def _spill(self) -> None:
        # All that is held, at once: a file per minute per spill, not per part read.
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="prism-hour-")
        held = pl.concat(self._held, rechunk=False).with_columns(_MINUTE)
        self._held, self._size = [], 0
        for (minute,), part in held.partition_by("_minute", as_dict=True).items():
            bucket = self._buckets[str(minute)]
            name = f"in-{str(minute).replace(':', '')}-{len(bucket):06d}.arrow"
            part.drop("_minute").write_ipc(Path(self._folder.name) / name)
            bucket.append(Path(self._folder.name) / name)

    def discard(self) -> None:
        """Let go of everything collected (the read failed)."""
        self._held = []
        if self._folder is not None:
            self._folder.cleanup()

    def finish(self) -> HourRecords:
        """The records in archive order."""
        if self._folder is None:
            frames = [pl.DataFrame(schema=RECORD_SCHEMA), *self._held]
            self._held = []
            return InMemory(sort_records(pl.concat(frames, rechunk=False)))
        if self._held:
            self._spill()
        files, height, cost, errors = [], 0, 0.0, 0
        for i, minute in enumerate(sorted(self._buckets)):
            parts = [pl.read_ipc(file) for file in self._buckets[minute]]
            bucket = sort_records(pl.concat(parts, rechunk=False))
            files.append(Path(self._folder.name) / f"sorted-{i:04d}.arrow")
            bucket.write_ipc(files[-1])
            for file in self._buckets[minute]:
                file.unlink()
            height += bucket.height
            cost, errors = (a + b for a, b in zip((cost, errors), _totals(bucket), strict=True))
        return Spilled(self._folder, files, height, (cost, int(errors)))
