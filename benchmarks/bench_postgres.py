"""Source benchmark: one 1,000,000-row hour from PostgreSQL into the archive.

Starts a throwaway PostgreSQL (as the tests do), loads the gateway table, then runs in
separate processes, in the same run: the plugin (ADBC -> Polars -> normalise -> gzip JSONL)
and a plain baseline (psycopg fetch-all into dicts -> json.dumps per row -> gzip level 6).
Prints rows/s, peak RSS growth and the ratio. Not a test: nothing is asserted.

    python benchmarks/bench_postgres.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_write import _reset_peak, _status_mib

from prism_dagster.archive.normalize import normalize
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import write_frame
from prism_dagster.destinations import LocalDestination
from prism_dagster.sources.gateway_table import COLUMNS, TABLE_DDL
from prism_dagster.sources.postgres import PostgresSource
from prism_dagster.sources.simulate import hour_rows
from prism_dagster_tests.support.postgres import postgres_server  # the tests' launcher

HOUR = datetime(2026, 3, 31, 12, tzinfo=UTC)  # mid-day: the simulator's busiest hour
ORG = "6f1c1a0e-0000-4000-8000-000000000001"


def load(dsn: str, rows: int, chunk: int = 1_000_000) -> int:
    """Create the gateway table and COPY ``rows`` requests of one hour into it.

    In chunks of at most ``chunk`` simulated rows (each its own seed), so that loading a
    5M-row hour does not need all of it in memory at once.
    """
    import psycopg

    loaded, seed = 0, 0
    with psycopg.connect(dsn) as conn:
        conn.execute(TABLE_DDL)
        while loaded < rows:
            frame = hour_rows(HOUR, min(chunk, rows - loaded), seed)
            seed += 1  # the simulator's quiet hours give nothing: the next seed does
            frame = frame.head(rows - loaded).with_columns(
                pl.lit(ORG).alias("organization_id"),
                pl.lit(None, pl.String).alias("workspace_id"),
                pl.lit(False).alias("deleted"),
                pl.lit(None, pl.String).alias("request_body"),
            )
            if not frame.height:
                continue
            buffer = io.BytesIO()
            frame.select(COLUMNS).write_csv(buffer)
            columns = ", ".join(COLUMNS)
            sql = f"COPY agentcc_request_log ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)"
            with conn.cursor().copy(sql) as copy:
                copy.write(buffer.getvalue())
            loaded += frame.height
        conn.execute("ANALYZE agentcc_request_log")
    return loaded


def run(method: str, dsn: str, out: Path) -> dict[str, float]:
    """One method, end to end, in this process."""
    source = PostgresSource(dsn=dsn, organization_id=ORG)
    dest = LocalDestination(path=str(out))
    end = HOUR + timedelta(hours=1)
    _reset_peak()
    base = _status_mib("VmRSS")
    start = time.perf_counter()
    if method == "plugin":
        records = normalize(source.read_window(HOUR, end).rows)
        write_frame(dest, records, lambda i: f"plugin/batch_{i}.jsonl.gz", WriteSettings())
        rows = records.height
    else:
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            fetched = conn.execute(
                "SELECT * FROM agentcc_request_log WHERE organization_id = %s AND NOT deleted AND "
                "coalesce(started_at, created_at) >= %s AND coalesce(started_at, created_at) < %s",
                (ORG, HOUR, end),
            ).fetchall()
        with gzip.open(out / "baseline.jsonl.gz", "wb", compresslevel=6) as handle:
            for row in fetched:
                handle.write(json.dumps(row, default=str).encode() + b"\n")
        rows = len(fetched)
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "peak_growth_mib": _status_mib("VmHWM") - base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "DSN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as out:
            print(json.dumps(run(args.child[0], args.child[1], Path(out))))
        return
    with postgres_server() as pg:
        loaded = load(pg.dsn(), args.rows)
        print(f"\n{loaded:,} rows of one hour in PostgreSQL; each method in its own process")
        print(f"{'method':10} {'rows/s':>12} {'seconds':>9} {'peak RSS +MiB':>14}")
        results = {}
        for method in ("baseline", "plugin"):
            argv = [sys.executable, __file__, "--child", method, pg.dsn()]
            done = subprocess.run(argv, capture_output=True, text=True, check=True)
            results[method] = r = json.loads(done.stdout.strip().splitlines()[-1])
            rate, peak = r["rows"] / r["seconds"], r["peak_growth_mib"]
            print(f"{method:10} {rate:12,.0f} {r['seconds']:9.1f} {peak:14.0f}")
        speed = {m: r["rows"] / r["seconds"] for m, r in results.items()}
        ratio = speed["plugin"] / speed["baseline"]
        print(f"\nplugin / psycopg dicts + json.dumps + gzip: {ratio:.2f}x")


if __name__ == "__main__":
    main()
