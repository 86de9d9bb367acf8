"""The reference pipelines of bench_end_to_end.py: naive Python and plain Polars.

Both make the plugin's records (the 19 fields of schema.RECORD_SCHEMA, its defaults, the
500-character error_message cut, UTC timestamp with milliseconds), sorted by timestamp and
request_id, one gzip JSON Lines file per hour. They read the spool file by file (simulate's
``YYYY/MM/DD/HH.ndjson.gz`` layout) and write an hour once the file of that hour is read:
a file holds no row of an earlier hour (created_at >= started_at), so no hour is cut.
Rows outside the window (created_at after midnight) are left out, as the plugin's run does.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_postgres import ORG

from prism_dagster.archive.schema import (
    ERROR_MESSAGE_MAX_CHARS,
    EVENT_TYPE,
    RECORD_COLUMNS,
    RECORD_SCHEMA,
    TIMESTAMP_FORMAT,
)

Params = dict[str, Any]
Job = Callable[[], int | tuple[int, int]]  # runs the method: rows (and bytes made)
HOUR_KEY = "%Y-%m-%dT%H"  # the hour of a record: the first 13 characters of its timestamp
FIELDS = [n for n in RECORD_COLUMNS if n not in ("timestamp", "event_type")]
DEFAULTS: dict[str, object] = {  # normalize's defaults: "", False, 0 (0.0 for cost)
    n: "" if d == pl.String else False if d == pl.Boolean else d.to_python()(0)
    for n, d in RECORD_SCHEMA.items()
}
CASTS: dict[str, Callable[[Any], Any]] = {
    n: str if d == pl.String else bool if d == pl.Boolean else float if d == pl.Float64 else int
    for n, d in RECORD_SCHEMA.items()
}
PG_QUERY = (
    "SELECT {cols}, started_at, created_at FROM agentcc_request_log WHERE organization_id = "
    "'{org}' AND NOT deleted AND coalesce(started_at, created_at) >= '{start}' AND "
    "coalesce(started_at, created_at) < '{end}'"
)


def spool_files(spool: str) -> list[tuple[str, Path]]:
    """(hour key, path) of each spool file, in hour order (simulate.spool_path's layout)."""
    files = sorted(Path(spool).rglob("*.ndjson.gz"))
    return [("-".join(f.parent.relative_to(spool).parts) + "T" + f.name[:2], f) for f in files]


def pg_query(p: Params) -> str:
    hour = datetime.fromisoformat(p["hour"])
    # numeric(12, 6) arrives through ADBC as an opaque type: read it as the plugin does.
    cols = ", ".join("cost::float8 AS cost" if n == "cost" else n for n in FIELDS)
    return PG_QUERY.format(
        cols=cols, org=ORG, start=hour.isoformat(), end=hour + timedelta(hours=1)
    )


# --- naive: json.loads, dicts, json.dumps, gzip ------------------------------------------
def naive_record(row: dict[str, Any]) -> dict[str, Any]:
    rec = {n: DEFAULTS[n] if row.get(n) is None else CASTS[n](row[n]) for n in FIELDS}
    rec["error_message"] = rec["error_message"][:ERROR_MESSAGE_MAX_CHARS]
    moment = row.get("started_at") or row.get("created_at")
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    moment = moment.astimezone(UTC)
    rec["timestamp"] = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    rec["event_type"] = EVENT_TYPE
    return rec


def naive_write(out: Path, key: str, records: list[dict[str, Any]], level: int) -> None:
    records.sort(key=lambda r: (r["timestamp"], r["request_id"]))
    with gzip.open(out / f"{key}.jsonl.gz", "wb", compresslevel=level) as handle:
        for rec in records:
            handle.write(json.dumps(rec, separators=(",", ":")).encode() + b"\n")


def naive_by_hour(p: Params, out: Path, batches: Iterator[tuple[str, Iterator[dict]]]) -> int:
    """Bucket records by hour; write every hour up to a batch's own once it is read."""
    buckets: dict[str, list[dict[str, Any]]] = {}
    written = 0
    for upto, rows in chain(batches, [("~", iter(()))]):  # "~": after every hour key
        for row in rows:
            rec = naive_record(row)
            buckets.setdefault(rec["timestamp"][:13], []).append(rec)
        for key in sorted(k for k in buckets if k <= upto):
            records = buckets.pop(key)
            if p["start"] <= key < p["end"]:  # rows outside the window belong to other runs
                naive_write(out, key, records, p["level"])
                written += len(records)
    return written


def naive_spool(p: Params, out: Path) -> Job:
    def lines(path: Path) -> Iterator[dict[str, Any]]:
        with gzip.open(path, "rt") as handle:
            yield from (json.loads(line) for line in handle if line.strip())

    return lambda: naive_by_hour(p, out, ((k, lines(f)) for k, f in spool_files(p["spool"])))


def naive_pg(p: Params, out: Path) -> Job:
    import psycopg
    from psycopg.rows import dict_row

    def run() -> int:
        with psycopg.connect(p["dsn"], row_factory=dict_row) as conn:
            fetched = conn.execute(pg_query(p)).fetchall()
        return naive_by_hour(p, out, iter([(p["start"], iter(fetched))]))

    return run


# --- plain Polars: read, select/cast, sort, write_ndjson(gzip) per hour --------------------
def polars_records(frame: pl.DataFrame) -> pl.DataFrame:
    def when(name: str) -> pl.Expr:
        col = pl.col(name)
        if frame.schema.get(name) == pl.String:
            return col.str.to_datetime(time_unit="us", time_zone="UTC")
        return col.cast(pl.Datetime("us", "UTC"))

    fields = {n: pl.col(n).cast(RECORD_SCHEMA[n]).fill_null(DEFAULTS[n]) for n in FIELDS}
    fields["error_message"] = fields["error_message"].str.slice(0, ERROR_MESSAGE_MAX_CHARS)
    return frame.select(
        *fields.values(),
        pl.coalesce(when("started_at"), when("created_at"))
        .dt.strftime(TIMESTAMP_FORMAT)
        .alias("timestamp"),
        pl.lit(EVENT_TYPE).alias("event_type"),
    )


def polars_by_hour(p: Params, out: Path, frames: Iterator[tuple[str, pl.DataFrame]]) -> int:
    carry, written = pl.DataFrame(), 0
    for upto, frame in chain(frames, [("~", pl.DataFrame())]):  # one file at a time
        if frame.height:
            frame = polars_records(frame)
        if carry.height:
            frame = pl.concat([carry, frame]) if frame.height else carry
        if not frame.height:
            continue
        hour = pl.col("timestamp").str.slice(0, 13)
        carry = frame.filter(hour > pl.lit(upto))
        done = frame.filter(
            (hour <= pl.lit(upto)) & hour.is_between(pl.lit(p["start"]), pl.lit(p["end"]), "left")
        )
        parts = done.with_columns(hour.alias("_h")).partition_by("_h", include_key=False)
        for part in parts:
            key = part["timestamp"][0][:13]
            part.sort("timestamp", "request_id").write_ndjson(
                out / f"{key}.jsonl.gz", compression="gzip", compression_level=p["level"]
            )
            written += part.height
    return written


def polars_spool(p: Params, out: Path) -> Job:
    def frames() -> Iterator[tuple[str, pl.DataFrame]]:
        for key, path in spool_files(p["spool"]):
            yield key, pl.read_ndjson(io.BytesIO(gzip.decompress(path.read_bytes())))

    return lambda: polars_by_hour(p, out, frames())


def polars_pg(p: Params, out: Path) -> Job:
    def run() -> int:
        frame = pl.read_database_uri(pg_query(p), p["dsn"], engine="adbc")
        return polars_by_hour(p, out, iter([(p["start"], frame)]))

    return run
