"""A spool file larger than an hour's memory budget, read a block of whole lines at a time.

Each block goes through the fast path when all its lines are good, else through the careful
reader, so one bad line costs a careful read of its block, never the file in memory. Line
numbers count from the file's start, as in a file read whole.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

import polars as pl

from prism_dagster.sources.spool_file import Lines, read_clean, rows_and_rejects, undated
from prism_dagster.sources.spool_lines import (
    BOM,
    GZIP_MAGIC,
    REJECTS,
    damage_rejects,
    early_rejects,
    lines_of,
)

#: A file's NDJSON is estimated at this many times its gzip size (logs compress ~10-15x).
_GZIP_RATIO = 12
#: Bytes of NDJSON taken at once: a quarter of the hour's memory budget, at most this.
MAX_BLOCK = 32 << 20
_READ = 1 << 20
Moment = datetime | None


def is_large(file: Path, budget_bytes: int) -> bool:
    """Whether ``file``'s lines, estimated from its size, are more than ``budget_bytes``."""
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        return size * (_GZIP_RATIO if handle.read(2) == GZIP_MAGIC else 1) > budget_bytes


def _blocks(file: Path, size: int) -> Iterator[tuple[bytes, str | None]]:
    """Blocks of whole lines; the last one with why the data ended early (damaged gzip)."""
    with open(file, "rb") as handle:
        gz = handle.read(2) == GZIP_MAGIC
    with gzip.open(file, "rb") if gz else open(file, "rb") as stream:
        held: list[bytes] = []
        while True:
            try:
                # Small reads: damaged gzip data loses at most one of them, as when read whole.
                chunk = stream.read(min(_READ, size))
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                yield b"".join(held), f"gzip data damaged or cut ({exc})"
                return
            if chunk:
                held.append(chunk)
            if not chunk or sum(map(len, held)) >= size:
                block = b"".join(held)
                cut = block.rfind(b"\n") + 1 if chunk else len(block)
                held = [block[cut:]] if block[cut:] else []
                yield block[:cut], None
            if not chunk:
                return


def _pieces(file: Path, size: int) -> Iterator[tuple[int, bytes, list[tuple[int, str, str]]]]:
    """(first line number, whole lines, rejects where damaged data ends) of ``file``."""
    line_no = 1
    for data, damage in _blocks(file, size):
        if line_no == 1:
            data = data.removeprefix(BOM)
        whole = data if damage is None else data[: data.rfind(b"\n") + 1]
        yield line_no, whole, []
        line_no += whole.count(b"\n")
        if damage is not None:
            yield line_no, b"", damage_rejects(line_no, data[len(whole) :], damage)


def _block(
    file: Path, first_line: int, data: bytes, damage: list[tuple[int, str, str]], after: Moment
) -> Lines:
    clean = None if damage else read_clean(data)
    if clean is not None:
        times = clean.get_column("_t")  # every good row is dated
        first, last = (times[0], times[-1]) if len(times) else (None, None)
        return Lines(clean, pl.DataFrame(schema=REJECTS), first, last)
    lines, early = lines_of(data, first_line)
    early = pl.concat([early, early_rejects(damage)]) if damage else early
    return rows_and_rejects(file, lines, early, after)


def read_in_blocks(
    file: Path, start: datetime, budget_bytes: int
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """``file``'s good rows (typed, plus ``_t``) and rejects, one block of lines at a time.

    A bad line is dated as in the file read whole (``rows_and_rejects``), across blocks: by
    the last dated line before it, else the first after it (blocks at the top of the file
    with none are read again once it is found, never held), else by the file's time.
    """
    size = min(MAX_BLOCK, max(1 << 16, budget_bytes // 4))
    last: Moment = None  # the last dated line so far
    waiting = undated_lines = 0  # blocks at the top with no dated line yet, their bad lines
    for first_line, data, damage in _pieces(file, size):
        read = _block(file, first_line, data, damage, last)
        if last is None and read.first is None:
            waiting, undated_lines = waiting + 1, undated_lines + read.bad.height
            yield read.good, read.bad.clear()  # its rejects, once dated
            continue
        if waiting:
            yield from _top(file, size, waiting, read.first)
            waiting = 0
        last = read.last if read.last is not None else last
        yield read.good, read.bad
    if waiting:
        yield from _top(file, size, waiting, undated(file, start, undated_lines))


def _top(
    file: Path, size: int, blocks: int, moment: datetime | None
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """The rejects of the first ``blocks`` blocks of ``file`` (none dated), dated ``moment``."""
    for first_line, data, damage in islice(_pieces(file, size), blocks):
        read = _block(file, first_line, data, damage, moment)
        yield read.good.clear(), read.bad
