"""Frame to gzip JSON Lines, in bounded slices compressed in parallel as they go.

Each slice becomes one gzip member; members appended one after another form a standard
multi-member gzip file that ``gzip``, ``zcat``, Python, Polars and DuckDB read whole.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

DEFAULT_SLICE_ROWS = 50_000


@dataclass(frozen=True)
class Member:
    """One compressed slice: its gzip bytes, rows and uncompressed size."""

    data: bytes
    rows: int
    uncompressed_bytes: int


def encode_member(frame: pl.DataFrame, level: int) -> Member:
    """One slice as a gzip member (Polars' own encoder; releases the GIL)."""
    buffer = io.BytesIO()
    frame.write_ndjson(buffer, compression="gzip", compression_level=level)
    data = buffer.getvalue()
    # ISIZE, the last 4 bytes of a member, is its uncompressed size mod 2**32;
    # slices are far below 4 GiB, so it is exact and costs nothing to read.
    (size,) = struct.unpack("<I", data[-4:]) if frame.height else (0,)
    return Member(data=data, rows=frame.height, uncompressed_bytes=size)


def slice_bounds(rows: int, max_rows_per_file: int, slice_rows: int) -> list[tuple[int, int]]:
    """(offset, length) of each slice; no slice straddles a ``max_rows_per_file`` boundary."""
    bounds = []
    for chunk_start in range(0, rows, max_rows_per_file):
        chunk = min(max_rows_per_file, rows - chunk_start)
        parts = -(-chunk // slice_rows)
        for i in range(parts):
            lo = chunk_start + chunk * i // parts
            hi = chunk_start + chunk * (i + 1) // parts
            bounds.append((lo, hi - lo))
    return bounds


def encode_slices(slices: Iterable[pl.DataFrame], level: int, threads: int = 2) -> Iterator[Member]:
    """A member per slice, in order; at most ``threads + 1`` slices are in memory at once."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        pending: deque[Future[Member]] = deque()
        for piece in slices:
            pending.append(pool.submit(encode_member, piece, level))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class Digest:
    """Running size and SHA-256 of an object being written."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.bytes = 0

    def update(self, data: bytes) -> None:
        self._sha.update(data)
        self.bytes += len(data)

    @property
    def hexdigest(self) -> str:
        return self._sha.hexdigest()
