"""The careful side of the spool reader: damaged files, bad bytes and unreadable paths.

Used only for what the fast Polars reader refuses. Whatever can be recovered is kept, and
every problem becomes a reject of its own line (or path), so one bad byte never costs a file
and one bad file never fails a run.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import zlib
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from prism_dagster.archive.schema import EVENT_TIME_RANGE, GATEWAY_SCHEMA, REJECT_SCHEMA
from prism_dagster.sources.base import REJECT_TIME
from prism_dagster.sources.spool_typing import PRE, RAW_FIELDS

LINE, LINE_NO = "line", "line_number"
RAW = pl.Struct(RAW_FIELDS)
REJECTS = {**REJECT_SCHEMA, REJECT_TIME: pl.Datetime("us", "UTC")}
EVENT_TIMES = tuple(datetime.fromisoformat(moment) for moment in EVENT_TIME_RANGE)
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 16  # gzip data is fed in pieces so damage is located to within a piece


def non_blank(lines: pl.DataFrame) -> pl.DataFrame:
    """Drop blank lines: they are not source lines (neither archived nor rejected)."""
    return lines.filter(pl.col(LINE).str.strip_chars() != "")


def gunzip(raw: bytes) -> tuple[bytes, str | None]:
    """All data of every gzip member that can be recovered, and what stopped it (None if whole).

    ``zlib.decompress(raw, 31)`` would stop silently after the first member.
    """
    out, pos, view = [], 0, memoryview(raw)
    while pos < len(raw):
        if raw[pos : pos + 2] != GZIP_MAGIC:
            if not raw[pos:].strip(b"\0"):
                break  # zero padding after the last member, as gzip itself allows
            return b"".join(out), f"not gzip data after byte {pos} of {len(raw)}"
        member = zlib.decompressobj(wbits=31)
        at = pos
        try:
            while at < len(raw) and not member.eof:
                out.append(member.decompress(view[at : at + _CHUNK]))
                at = min(at + _CHUNK, len(raw))
        except zlib.error:
            return b"".join(out), f"gzip data corrupt after byte {at} of {len(raw)}"
        if not member.eof:
            out.append(member.flush())
            return b"".join(out), f"gzip data truncated after byte {len(raw)} of {len(raw)}"
        pos = at - len(member.unused_data)
    return b"".join(out), None


def _segments(
    data: bytes, first_line: int = 1
) -> tuple[list[pl.DataFrame], list[tuple[int, str, str]]]:
    # Decode runs of valid UTF-8 in one go; a line holding an invalid byte is rejected alone.
    frames, bad, pos, line_no = [], [], 0, first_line
    view = memoryview(data)
    while pos < len(data):
        try:
            text, end = str(view[pos:], "utf-8"), len(data)
            cut = None
        except UnicodeDecodeError as exc:
            error_at = pos + exc.start
            cut = data.rfind(b"\n", pos, error_at) + 1 or pos
            end = data.find(b"\n", error_at)
            end = len(data) if end < 0 else end
            text = str(view[pos:cut], "utf-8")
            where = f"{exc.reason} at byte {error_at - cut + 1} of the line"
        frame = pl.DataFrame({LINE: [text]}).select(pl.col(LINE).str.split("\n")).explode(LINE)
        frames.append(frame.with_row_index(LINE_NO, offset=line_no))
        if cut is None:
            break
        line_no += data.count(b"\n", pos, cut)
        line = data[cut:end].decode("utf-8", errors="backslashreplace").removesuffix("\r")
        bad.append((line_no, line, f"not valid UTF-8 ({where})"))
        line_no, pos = line_no + 1, end + 1
    return frames, bad


def read_slowly(file: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Non-blank lines of ``file`` and the lines (with a reason) that failed before JSON.

    Raises OSError when the file cannot be opened or read at all.
    """
    data = file.read_bytes()
    damage = None
    if data.startswith(GZIP_MAGIC):
        data, damage = gunzip(data)
    data = data.removeprefix(BOM)
    tail = b""
    if damage is not None:
        # The last line of a cut file is cut too: it is rejected, never archived half.
        keep = data.rfind(b"\n") + 1
        data, tail = data[:keep], data[keep:]
    lines, rejects = lines_of(data)
    extra = damage_rejects(data.count(b"\n") + 1, tail, damage) if damage is not None else []
    return lines, pl.concat([rejects, early_rejects(extra)])


def damage_rejects(line_no: int, tail: bytes, damage: str) -> list[tuple[int, str, str]]:
    """The rejects where damaged gzip data ends: the cut last line (if any), then the file."""
    found = []
    if tail.strip():
        text = tail.decode("utf-8", errors="backslashreplace")
        found.append((line_no, text, "line cut off where the gzip data ends"))
    found.append(
        (line_no + len(found), "", f"unreadable file: {damage}; anything after it is lost")
    )
    return found


def early_rejects(bad: list[tuple[int, str, str]]) -> pl.DataFrame:
    """(line number, line, reason) of lines that failed before JSON, as a frame."""
    schema = {LINE_NO: pl.Int64, LINE: pl.String, "reason": pl.String}
    return pl.DataFrame(bad, schema=schema, orient="row")


def lines_of(data: bytes, first_line: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Non-blank lines of NDJSON bytes, numbered from ``first_line``, and those not UTF-8."""
    frames, bad = _segments(data, first_line)
    schema = {LINE_NO: pl.Int64, LINE: pl.String}
    lines = pl.concat([pl.DataFrame(schema=schema), *(f.cast(schema) for f in frames)])
    lines = non_blank(lines.with_columns(pl.col(LINE).str.strip_suffix("\r")))
    return lines, early_rejects(bad)


def is_symlink(path: Path) -> bool:
    """Like ``Path.is_symlink``, but False instead of raising when the parent is not searchable."""
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def why(path: Path, exc: BaseException) -> str:
    """Why ``path`` cannot be read, in operator words."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, FileNotFoundError):
        return "broken symlink" if is_symlink(path) else "removed while reading"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"unexpected {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"


def filed_at(path: Path, fallback: datetime) -> datetime:
    """The hour a file-level problem is filed under: when the path was last written.

    A path that cannot be stat'ed (or dated 1970 or in the far future) is filed under the
    run's first hour, so this run reports it; the index never records it, so every later
    run that reads it reports it again until it is fixed.
    """
    for stat_of in (os.stat, os.lstat):
        try:
            moment = datetime.fromtimestamp(stat_of(path).st_mtime, tz=UTC)
        except (OSError, OverflowError, ValueError):
            continue
        if EVENT_TIMES[0] <= moment < EVENT_TIMES[1]:
            return moment
    return fallback


def path_reject(path: Path, exc: BaseException, start: datetime, kind: str) -> pl.DataFrame:
    """One reject for a ``kind`` ("file" or "folder") that could not be read at all."""
    return pl.DataFrame(
        {
            "source_file": [str(path)],
            "line_number": [0],
            "reason": [f"unreadable {kind}: {why(path, exc)}"],
            "line": [""],
            REJECT_TIME: [filed_at(path, start)],
        },
        schema=REJECTS,
    )


def python_check(line: str) -> str | None:
    # Slow path, used only for a file the vectorised decoder refused: find which lines
    # are not JSON objects with scalar fields, so the good lines can still be archived.
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        return f"not valid JSON ({str(exc)[:120]})"
    except RecursionError:
        return "not valid JSON (nested too deeply)"
    if not isinstance(value, dict):
        return f"not a JSON object (got {type(value).__name__})"
    for name in GATEWAY_SCHEMA:
        if isinstance(value.get(name), dict | list):
            return f"{name}: expected a single value, got {type(value[name]).__name__}"
        if isinstance(value.get(name), float) and not math.isfinite(value[name]):
            return f"{name}: expected a finite number, got {value[name]}"
    return None


def decode_each(lines: pl.DataFrame) -> pl.DataFrame:
    # Last resort for a file whose checked lines still do not decode together: one by one.
    decoded, reasons = [], []
    for line in lines[LINE]:
        try:
            decoded.append(pl.Series([line]).str.json_decode(RAW)[0])
            reasons.append(None)
        except pl.exceptions.PolarsError as exc:
            decoded.append(None)
            reasons.append(f"not decodable ({str(exc).splitlines()[0][:120]})")
    return lines.with_columns(
        pl.Series("_raw", decoded, dtype=RAW), pl.Series(PRE, reasons, dtype=pl.String)
    )
