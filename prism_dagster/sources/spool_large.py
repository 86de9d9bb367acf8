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
from pathlib import Path

import polars as pl

from prism_dagster.sources.spool_file import read_clean, rows_and_rejects
from prism_dagster.sources.spool_lines import (
    BOM,
    GZIP_MAGIC,
    LINE,
    LINE_NO,
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


def _block(
    file: Path, start: datetime, data: bytes, first_line: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    clean = read_clean(data)
    if clean is not None:
        return clean, pl.DataFrame(schema=REJECTS)
    lines, early = lines_of(data, first_line)
    return rows_and_rejects(file, start, lines, early)


def read_in_blocks(
    file: Path, start: datetime, budget_bytes: int
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """``file``'s good rows (typed, plus ``_t``) and rejects, one block of lines at a time."""
    line_no = 1
    for data, damage in _blocks(file, min(MAX_BLOCK, max(1 << 16, budget_bytes // 4))):
        if line_no == 1:
            data = data.removeprefix(BOM)
        whole = data if damage is None else data[: data.rfind(b"\n") + 1]
        yield _block(file, start, whole, line_no)
        line_no += whole.count(b"\n")
        if damage is None:
            continue
        lines = pl.DataFrame(schema={LINE_NO: pl.Int64, LINE: pl.String})
        found = damage_rejects(line_no, data[len(whole) :], damage)
        yield rows_and_rejects(file, start, lines, early_rejects(found))
