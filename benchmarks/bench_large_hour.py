"""Large-hour benchmark: peak memory of one very busy hour, spool and PostgreSQL.

One hour of ``--rows`` requests (default 5,000,000) archived by the plugin's real archive job
(bench_end_to_end's "plugin" method, each run in its own child process, peak RSS above the
RSS after set-up), at each ``--budget`` of ``source.hour_memory_mb``:

* spool: the hour as one gzip NDJSON file, written unordered in 1M-row chunks;
* PostgreSQL: the hour COPYed into a throwaway server (the tests' launcher).

Issue 12's targets: PostgreSQL <= 512 MiB and spool <= 768 MiB above baseline for 5M rows.
Not a test: nothing is asserted.

    python benchmarks/bench_large_hour.py [--rows 5000000] [--budget 256 --budget 64]
        [--skip-pg] [--skip-spool]
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_end_to_end import KEY, child, code_version, table
from bench_postgres import HOUR, load

from prism_dagster.archive.settings import WriteFields
from prism_dagster.sources.simulate import hour_rows, spool_path
from prism_dagster_tests.support.postgres import postgres_server  # the tests' launcher

CHUNK = 1_000_000


def write_spool_hour(spool: Path, rows: int) -> tuple[int, float]:
    """One spool file holding ``rows`` requests of HOUR; returns rows and NDJSON MB."""
    path = spool_path(spool, HOUR)
    path.parent.mkdir(parents=True, exist_ok=True)
    written, size, seed = 0, 0, 0
    with gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as handle:
        while written < rows:
            frame = hour_rows(HOUR, min(CHUNK, rows - written), seed).head(rows - written)
            seed += 1
            if frame.height:
                text = frame.write_ndjson().encode()
                handle.write(text)
                written, size = written + frame.height, size + len(text)
    return written, size / 1e6


def params(budget: int, **more: object) -> dict[str, object]:
    hour, nxt = f"{HOUR:{KEY}}", f"{HOUR + timedelta(hours=1):{KEY}}"
    level = WriteFields.model_fields["gzip_level"].default
    return {
        "day": f"{HOUR:%Y-%m-%dT00}",
        "level": level,
        "start": hour,
        "end": nxt,
        "range": [hour],
        "hour_memory_mb": budget,
        **more,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--budget", type=int, action="append", help="hour_memory_mb (MiB)")
    parser.add_argument("--piece-mb", type=int, action="append", help="PostgreSQL PIECE_BYTES")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-spool", action="store_true")
    args = parser.parse_args()
    budgets = args.budget or [256]
    began = time.perf_counter()
    print(f"code: {code_version()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="prism-large-") as tmp:
        work = Path(tmp)
        if not args.skip_spool:
            spool = work / "spool"
            rows, mb = write_spool_hour(spool, args.rows)
            print(f"spool: one file of {rows:,} rows of {HOUR:{KEY}}, {mb:.0f} MB NDJSON")
            results = {}
            for budget in budgets:
                for cache in spool.glob(".*"):  # the spool index: every run reads the file
                    cache.unlink()
                label = f"plugin, spool hour, hour_memory_mb {budget}"
                results[label] = child("plugin", params(budget, spool=str(spool)), work)
            table(f"Spool hour: {rows:,} rows, {mb:.0f} MB NDJSON", results, mb)
        if not args.skip_pg:
            with postgres_server() as pg:
                start = time.perf_counter()
                rows = load(pg.dsn(), args.rows)
                print(f"\npostgres: {rows:,} rows loaded in {time.perf_counter() - start:.0f} s")
                results = {}
                for budget in budgets:
                    for piece in args.piece_mb or [None]:
                        label = f"plugin, PostgreSQL hour, hour_memory_mb {budget}"
                        more: dict[str, object] = {"dsn": pg.dsn()}
                        if piece:
                            label, more["piece_mb"] = f"{label}, pieces of {piece} MiB", piece
                        results[label] = child("plugin-pg", params(budget, **more), work)
            table(f"PostgreSQL hour: {rows:,} rows", results, float("nan"))
    print(
        f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"took {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
