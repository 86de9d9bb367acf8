"""The embedded default source: a folder of gateway NDJSON log files (optionally .gz).

Every non-blank source line is accounted for exactly once: a row, or a reject filed under one
hour. Blank (whitespace-only) lines are not source lines. A path that cannot be read at all,
and the damaged end of a gzip file, add one reject each with ``line == ""``.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from pydantic import Field, PrivateAttr

from prism_dagster.archive.schema import GATEWAY_SCHEMA
from prism_dagster.errors import FailureCause, SourceError
from prism_dagster.sources.base import REJECT_TIME, LogSource, SourceBatch
from prism_dagster.sources.spool_file import read_file
from prism_dagster.sources.spool_index import INDEX_NAME, Span, SpoolIndex
from prism_dagster.sources.spool_large import is_large, read_in_blocks
from prism_dagster.sources.spool_lines import REJECTS, is_symlink, path_reject, why

#: Log file names end in one of these, in any case, optionally followed by .gz. A .json file
#: is read as NDJSON too: a pretty-printed one then shows up as rejects instead of nothing.
LOG_SUFFIXES = (".ndjson", ".jsonl", ".json")
log = logging.getLogger("prism_dagster")
#: A file's rows past the window are kept for the next hour's read (a run reads its hours
#: in order) when there are no more of them than this, or than the window took from it.
CARRY_ROWS = 10_000


@dataclass(frozen=True)
class _Carry:
    """What a file holds from ``since`` on, as read by an earlier window of this run."""

    since: datetime
    good: pl.DataFrame
    bad: pl.DataFrame


def is_log_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().removesuffix(".gz").endswith(LOG_SUFFIXES)


def list_spool(root: Path) -> tuple[list[Path], list[Path], list[tuple[Path, OSError, str]]]:
    """Log files under ``root``; other entries, not read; and paths that could not be read."""
    files, ignored, broken = [], [], []

    def unreadable_folder(exc: OSError) -> None:
        if Path(exc.filename) == root:
            # Like a missing folder: every hour would look empty, so fail loudly instead.
            raise SourceError(
                f"spool folder {root} cannot be read ({why(root, exc)}): "
                "grant the Dagster user read access",
                FailureCause.SOURCE_DENIED,
            ) from exc
        broken.append((Path(exc.filename), exc, "folder"))

    # Symlinked folders are not followed (as before with rglob): they could loop.
    for folder, dirs, names in os.walk(root, onerror=unreadable_folder):
        here = Path(folder)
        ignored += [here / d for d in dirs if not d.startswith(".") and is_symlink(here / d)]
        for name in names:
            path = here / name
            if name.startswith("."):
                # Hidden, so not read (as Athena, Hive and Spark skip them), but a hidden log
                # file is named: its lines are in no archive. Our own index is not a log.
                if is_log_name(name.lstrip(".")) and name != INDEX_NAME:
                    ignored.append(path)
                continue
            if not is_log_name(name):
                ignored.append(path)
                continue
            try:
                regular = stat.S_ISREG(path.stat().st_mode)  # a FIFO would block the run
            except OSError as exc:  # broken or looping symlink, no permission
                broken.append((path, exc, "file"))
                continue
            (files if regular else ignored).append(path)
    return sorted(files), sorted(ignored), sorted(broken, key=lambda b: b[0])


def _span(good: pl.DataFrame, bad: pl.DataFrame) -> Span:
    times = pl.concat([good.get_column("_t"), bad.get_column(REJECT_TIME)]).drop_nulls()
    return (times.min(), times.max()) if len(times) else None  # type: ignore[return-value]


def _own(part: pl.DataFrame, whole: pl.DataFrame) -> pl.DataFrame:
    """``part`` (filtered from ``whole``) holding only its own bytes when it is a small part.

    A filtered frame shares its parent's string buffers: a few rows kept for the next hour,
    or one hour's rows of a day's file, would otherwise keep the whole file in memory.
    """
    if part.height * 2 > whole.height:
        return part
    buffer = io.BytesIO()
    part.write_ipc(buffer)
    buffer.seek(0)
    return pl.read_ipc(buffer)


def _widest(spans: list[Span]) -> Span:
    known = [span for span in spans if span is not None]
    return (min(s[0] for s in known), max(s[1] for s in known)) if known else None


class SpoolSource(LogSource):
    """Gateway log files (NDJSON, optionally gzip) in a spool folder, read with Polars."""

    path: str = Field(
        description="Spool folder; every *.ndjson / *.jsonl / *.json (.gz) below it is read."
    )

    _carry: dict[str, _Carry] = PrivateAttr(default_factory=dict)

    def describe(self) -> str:
        return f"spool folder {Path(self.path).expanduser()}"

    def read_window(self, start: datetime, end: datetime) -> SourceBatch:
        return SourceBatch.combine(self.read_pieces(start, end))

    def read_pieces(self, start: datetime, end: datetime) -> Iterator[SourceBatch]:
        """A piece per spool file that holds rows of ``[start, end)`` (a large file in parts)."""
        root = Path(self.path).expanduser()
        if not root.is_dir():
            # An empty read here would look like quiet hours; say what is wrong instead.
            raise SourceError(
                f"spool folder {root} does not exist or is not a folder: fix source.path"
            )
        files, ignored, broken = list_spool(root)
        if ignored:
            names = ", ".join(p.relative_to(root).as_posix() for p in ignored[:10])
            log.warning(
                "spool %s: %d entries not read (hidden, or not regular "
                "*.ndjson/*.jsonl/*.json[.gz] files): %s",
                root,
                len(ignored),
                names,
            )
        in_window = pl.col("_t").is_between(start, end, closed="left")
        rejected = pl.col(REJECT_TIME).is_between(start, end, closed="left")
        yield SourceBatch(
            rows=pl.DataFrame(schema=GATEWAY_SCHEMA),
            rejects=pl.concat(
                [SourceBatch.empty_rejects()]
                + [path_reject(path, exc, start, kind) for path, exc, kind in broken]
            ).filter(rejected),
            ignored=tuple(p.relative_to(root).as_posix() for p in ignored),
            unreadable=tuple(f"{path}: {why(path, exc)}" for path, exc, _ in broken),
        )
        index = SpoolIndex(root)
        carried, self._carry = self._carry, {}
        for file in files:
            key = index.key(file)  # before reading: a file growing meanwhile is read again
            if index.skips(key, start, end):
                continue
            kept = carried.get(key) if key else None
            if kept is not None and kept.since <= start:
                good, bad = kept.good, kept.bad  # read by this run's previous hour already
            else:
                try:
                    if is_large(file, self.hour_memory_mb << 20):
                        # Block by block, never whole; no carry (it would be large too).
                        spans = []
                        for good, bad in read_in_blocks(file, start, self.hour_memory_mb << 20):
                            spans.append(_span(good, bad))
                            taken = _own(good.filter(in_window), good)
                            yield SourceBatch(
                                taken.drop("_t"), bad.filter(rejected).select(*REJECTS)
                            )
                        index.record(key, _widest(spans))
                        continue
                    good, bad = read_file(file, start)
                except Exception as exc:  # one file, whatever is wrong with it, never fails
                    yield SourceBatch(
                        rows=pl.DataFrame(schema=GATEWAY_SCHEMA),
                        rejects=path_reject(file, exc, start, "file").filter(rejected),
                        unreadable=(f"{file}: {why(file, exc)}",),
                    )
                    continue  # and is not indexed, so the next run reads it again
                index.record(key, _span(good, bad))
            taken = _own(good.filter(in_window), good)
            yield SourceBatch(taken.drop("_t"), bad.filter(rejected).select(*REJECTS))
            later = good.filter(pl.col("_t") >= end), bad.filter(pl.col(REJECT_TIME) >= end)
            if key and 0 < later[0].height + later[1].height <= max(CARRY_ROWS, taken.height):
                self._carry[key] = _Carry(end, _own(later[0], good), _own(later[1], bad))
        index.save()
