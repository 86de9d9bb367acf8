"""Write-path benchmark: the plugin's frame -> gzip JSONL files against two references.

Each method runs in its own child process on the same frame (read from one Parquet file),
so peak RSS is measured per method. Prints rows/s, MB/s of uncompressed JSON, compressed
size, peak RSS growth over the loaded frame, and the ratios. Not a test: nothing is asserted.

    python benchmarks/bench_write.py [--rows 1000000] [--memory-rows 5000000] [--level 6]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from prism_dagster.archive.normalize import normalize
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import write_frame
from prism_dagster.destinations import LocalDestination
from prism_dagster.sources.simulate import hour_rows

METHODS = ("naive", "polars", "plugin")


def make_frame(rows: int) -> pl.DataFrame:
    """``rows`` normalised records of simulated gateway traffic."""
    parts, total, hour = [], 0, datetime(2026, 3, 31, tzinfo=UTC)
    while total < rows:
        part = hour_rows(hour, rate=min(rows - total, 250_000) + 1000, seed=1)
        parts.append(part)
        total += part.height
        hour += timedelta(hours=1)
    return normalize(pl.concat([p for p in parts if p.height], how="diagonal_relaxed")).head(rows)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS, so
    # the peak of loading the Parquet file does not hide or inflate the method's own.
    Path("/proc/self/clear_refs").write_text("5")


def run_method(method: str, parquet: Path, out: Path, level: int) -> dict[str, float]:
    """Run one method on the frame in ``parquet``; return its figures."""
    frame = pl.read_parquet(parquet)
    frame.shrink_to_fit()
    # Set up outside the timed region (importing dagster takes about a second).
    dest = LocalDestination(path=str(out))
    settings = WriteSettings(gzip_level=level, max_rows_per_file=frame.height or 1)
    _reset_peak()
    base = _status_mib("VmRSS")
    start = time.perf_counter()
    if method == "naive":
        with gzip.open(out / "naive.jsonl.gz", "wb", compresslevel=level) as handle:
            for row in frame.iter_rows(named=True):
                handle.write(json.dumps(row, separators=(",", ":")).encode() + b"\n")
    elif method == "polars":
        frame.write_ndjson(out / "polars.jsonl.gz", compression="gzip", compression_level=level)
    else:
        write_frame(dest, frame, lambda i: f"plugin/batch_{i}.jsonl.gz", settings)
    seconds = time.perf_counter() - start
    peak = _status_mib("VmHWM")
    size = sum(p.stat().st_size for p in out.rglob("*.gz"))
    raw = sum(len(chunk) for chunk in _gunzip_sizes(out))
    return {
        "seconds": seconds,
        "rows": frame.height,
        "compressed": size,
        "uncompressed": raw,
        "peak_growth_mib": peak - base,
        "frame_mib": frame.estimated_size() / 2**20,
    }


def _gunzip_sizes(folder: Path):
    for path in folder.rglob("*.gz"):
        with gzip.open(path) as handle:
            while chunk := handle.read(1 << 24):
                yield chunk


def child(method: str, parquet: Path, level: int) -> dict[str, float]:
    """Run a method in a fresh interpreter so its peak RSS is its own."""
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, __file__, "--child", method, str(parquet), out]
        done = subprocess.run(
            [*argv, "--level", str(level)], capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])


def report(title: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'method':8} {'rows/s':>12} {'MB/s json':>10} {'gzip MB':>9} {'peak RSS +MiB':>14}")
    for method, r in results.items():
        rate = r["rows"] / r["seconds"]
        mbs = r["uncompressed"] / 1e6 / r["seconds"]
        print(
            f"{method:8} {rate:12,.0f} {mbs:10.1f} {r['compressed'] / 1e6:9.1f} "
            f"{r['peak_growth_mib']:14.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=5_000_000, help="0 to skip")
    parser.add_argument("--level", type=int, default=6)
    parser.add_argument(
        "--child", nargs=3, metavar=("METHOD", "PARQUET", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        method, parquet, out = args.child
        print(json.dumps(run_method(method, Path(parquet), Path(out), args.level)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "frame.parquet"
        make_frame(args.rows).write_parquet(parquet)
        results = {m: child(m, parquet, args.level) for m in METHODS}
        report(f"{args.rows:,} rows, gzip level {args.level}, one process each", results)
        speed = {m: r["rows"] / r["seconds"] for m, r in results.items()}
        vs_polars, vs_naive = speed["plugin"] / speed["polars"], speed["plugin"] / speed["naive"]
        print(f"\nplugin / polars write_ndjson(gzip): {vs_polars:.2f}x (target >= 0.9x)")
        print(f"plugin / naive json.dumps+gzip:     {vs_naive:.2f}x (target >= 3x)")
        if args.memory_rows:
            big = Path(tmp) / "big.parquet"
            make_frame(args.memory_rows).write_parquet(big)
            mem = {m: child(m, big, args.level) for m in ("polars", "plugin")}
            report(f"{args.memory_rows:,} rows: memory above the loaded frame", mem)
            plugin = mem["plugin"]
            print(
                f"\nplugin peak RSS growth: {plugin['peak_growth_mib']:.0f} MiB over a "
                f"{plugin['frame_mib']:.0f} MiB frame (target <= 150 MiB)"
            )


if __name__ == "__main__":
    main()
