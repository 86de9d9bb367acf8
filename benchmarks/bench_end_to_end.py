"""End-to-end benchmark: the real archive asset against naive and plain-Polars pipelines.

What is measured, each method in its own child process (benchmarks/e2e_methods.py), so its
peak RSS (VmHWM, reset after set-up, minus the RSS after imports and set-up) is its own:

* a simulated day in the spool (``simulate(spool, day, day + hours, rate, seed)``; the
  defaults, rate 100,000 and seed 7 on 2026-03-31, give issue 12's day: 1,412,845 requests,
  76.4 MB (72.9 MiB) of gzip spool, 828 MB of NDJSON):
  - plugin: the real archive asset, materialised by its ``archive_<name>`` job for the
    whole partition range (``dagster/asset_partition_range_start``/``_end`` tags) with
    ``job.execute_in_process`` on an ephemeral instance, to a local destination (the
    figures are the whole run: Dagster's overhead and any check the job runs included);
  - plugin, warm: the same run again with the spool index the first one left (as every run
    after the first finds it); the first, cold, parses every spool file in its first hour
    to learn which hours each file holds;
  - plugin, largest hour: the same job for the day's busiest hour alone (partition_key), run
    after the day, so the spool index it finds is warm as for an ordinary hourly run; and
    again with the index deleted (it then reads every spool file for the one hour);
  - naive: gzip.open + json.loads per line, normalise in dicts (the same 19 fields and
    defaults), sort, json.dumps, gzip at the plugin's default gzip_level, one file per hour;
  - polars: pl.read_ndjson -> select/cast to the 19 fields -> sort by timestamp, request_id
    -> write_ndjson(compression="gzip") at the same level, per hour;
  - stage ceilings: gunzip of every spool file; pl.read_ndjson of the decompressed bytes;
    write_ndjson of the normalised frames to memory; zlib (gzip wrapper) at the same level of
    that NDJSON, one thread;
* one hour of ``--pg-rows`` rows in a throwaway PostgreSQL (bench_postgres.load): the plugin's
  job for that hour, naive (psycopg dict rows) and polars (read_database_uri, ADBC).

MB/s is of the source as NDJSON, uncompressed: the spool's lines, or PostgreSQL's
row_to_json of the scoped rows. ``cores`` is the process's CPU time (all threads) over wall
time, measured, not assumed; rows/s per core divides by it (PostgreSQL's own CPU is not
counted). Not a test: nothing is asserted.

    python benchmarks/bench_end_to_end.py [--rate 100000] [--pg-rows 1000000] [--skip-pg]
        [--hours 24] [--seed 7]          # quick run: --rate 5000 --pg-rows 50000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_postgres import HOUR, ORG, load

from prism_dagster.archive.settings import WriteFields
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.postgres import postgres_server  # the tests' launcher

DAY = datetime(2026, 3, 31, tzinfo=UTC)
KEY = "%Y-%m-%dT%H"
CHILD = Path(__file__).resolve().parent / "e2e_methods.py"
Result = dict[str, float]


def child(method: str, params: dict[str, Any], work: Path) -> Result:
    """Run one method in a fresh interpreter; its output folder is deleted afterwards."""
    out = Path(tempfile.mkdtemp(prefix=f"{method}-", dir=work))
    try:
        argv = [sys.executable, str(CHILD), method.split(":")[0], json.dumps(params), str(out)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{method} failed:\n{done.stderr[-4000:]}")
        result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out, ignore_errors=True)
    cpu = f"{result['cpu']:.1f} CPU s"
    print(f"  {method:22} {result['seconds']:7.1f} s  {cpu:>12}  {result['peak']:7.0f} MiB")
    return result


def row(name: str, r: Result, source_mb: float) -> str:
    made = f"{r['bytes'] / 1e6:.1f}" if r["bytes"] else "-"
    rate, cores = r["rows"] / r["seconds"], r["cpu"] / r["seconds"]
    per_core = r["rows"] / r["cpu"] if r["cpu"] else float("nan")
    mb_core = source_mb / r["cpu"] if r["cpu"] else float("nan")
    return (
        f"| {name} | {r['rows']:,.0f} | {r['seconds']:.2f} | {rate:,.0f} | "
        f"{source_mb / r['seconds']:.1f} | {cores:.2f} | {per_core:,.0f} | {mb_core:.1f} | "
        f"{r['peak']:.0f} | {made} |"
    )


def table(
    title: str, results: dict[str, Result], source_mb: float, own_mb: dict[str, float] | None = None
) -> None:
    """``own_mb``: the source MB of each row whose method did not archive the whole source."""
    print(f"\n{title}\n")
    print(
        "| method | rows | s | rows/s | MB/s src | cores | rows/s/core | MB/s/core | "
        "peak RSS +MiB | out MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(row(name, r, (own_mb or {}).get(name, source_mb)))


def ratios(results: dict[str, Result], suffix: str = "", against: str | None = None) -> None:
    """The plugin's rows/s over the baselines' (``against``: their suffix, if not ``suffix``)."""
    speed = {m: r["rows"] / r["seconds"] for m, r in results.items()}
    plugin, other = speed[f"plugin{suffix}"], suffix if against is None else against
    print(f"plugin{suffix} / naive{other}:  {plugin / speed[f'naive{other}']:.2f}x rows/s")
    print(f"plugin{suffix} / polars{other}: {plugin / speed[f'polars{other}']:.2f}x rows/s")


STAGES = ("gunzip", "parse", "serialise", "compress")


def ceiling(results: dict[str, Result]) -> None:
    """The stages' CPU per row added up: what one core could do if that were all the work."""
    cpu_per_row = sum(results[s]["cpu"] / results[s]["rows"] for s in STAGES)
    per_core = 1 / cpu_per_row
    cores = os.cpu_count() or 1
    for name in ("plugin", "plugin:warm"):
        r = results[name]
        print(
            f"{name}: {r['rows'] / r['cpu']:,.0f} rows/s per core = "
            f"{r['rows'] / r['cpu'] / per_core:.0%} of the stages' ceiling ({per_core:,.0f} rows/s"
            f" per core: gunzip + parse + serialise + compress); {r['rows'] / r['seconds']:,.0f} "
            f"rows/s = {r['rows'] / r['seconds'] / (per_core * cores):.0%} of it on {cores} cores"
        )


def spool_day(args: argparse.Namespace, work: Path, level: int) -> None:
    spool, end = work / "spool", DAY + timedelta(hours=args.hours)
    began = time.perf_counter()
    hours = simulate(spool, DAY, end, rate=args.rate, seed=args.seed)
    files = sorted(spool.rglob("*.ndjson.gz"))
    gz_mb = sum(f.stat().st_size for f in files) / 1e6
    sizes = {f: len(gzip.decompress(f.read_bytes())) / 1e6 for f in files}
    source_mb = sum(sizes.values())
    source_rows = sum(h.rows for h in hours)
    big = max(hours, key=lambda h: h.rows)
    print(
        f"spool: {source_rows:,} requests over {args.hours} hours (rate {args.rate}, seed "
        f"{args.seed}), {len(files)} files, {gz_mb:.1f} MB gzip, {source_mb:.1f} MB NDJSON; "
        f"largest hour {big.hour:{KEY}} with {big.rows:,} rows; simulated in "
        f"{time.perf_counter() - began:.0f} s"
    )
    window = [(DAY + timedelta(hours=h)).strftime(KEY) for h in range(args.hours)]
    base = {"spool": str(spool), "day": f"{DAY:{KEY}}", "level": level, "start": window[0]}
    base |= {"end": f"{end:{KEY}}", "range": window, "source_rows": source_rows}
    one = {**base, "range": [f"{big.hour:{KEY}}"]}
    hour_mb = sizes[big.path] if big.path else 0.0  # that hour's spool file
    runs = [  # (row label, method, params, whether the plugin's spool index is deleted first)
        (f"plugin (Dagster job, {args.hours} h range)", "plugin", base, True),
        (f"plugin, {args.hours} h range, warm spool index", "plugin:warm", base, False),
        (f"plugin, largest hour {big.hour:{KEY}} alone", "plugin:hour", one, False),
        ("plugin, same hour, cold spool index", "plugin:cold", one, True),
        ("naive (json + dicts + gzip)", "naive", base, True),
        ("polars (read_ndjson ... write_ndjson gzip)", "polars", base, True),
        ("stage: gunzip spool", "gunzip", base, True),
        ("stage: pl.read_ndjson", "parse", base, True),
        ("stage: write_ndjson (memory)", "serialise", base, True),
        (f"stage: zlib level {level}, 1 thread", "compress", base, True),
    ]
    results: dict[str, Result] = {}
    for label, method, params, cold in runs:
        for cache in spool.glob(".*") if cold else ():  # the plugin's spool index
            cache.unlink()
        results[label] = child(method, params, work)
    hour_rows = {label: hour_mb for label, _, params, _ in runs if params is one}
    table(
        f"Spool day: {source_rows:,} requests, {source_mb:.0f} MB NDJSON ({gz_mb:.1f} MB gzip), "
        f"gzip level {level}; hour rows: MB/s of that hour's spool file",
        results,
        source_mb,
        hour_rows,
    )
    results = {m: results[label] for label, m, _, _ in runs}
    alone = results["plugin:hour"]
    print()
    ratios(results)
    ratios(results, ":warm", against="")
    ceiling(results)
    ratio = results["plugin"]["peak"] / alone["peak"]
    print(
        f"peak RSS: {args.hours}-hour run {results['plugin']['peak']:.0f} MiB / largest hour "
        f"alone {alone['peak']:.0f} MiB (warm spool index) = {ratio:.2f}x (target <= 1.3x)"
    )


def postgres_hour(args: argparse.Namespace, work: Path, level: int) -> None:
    import psycopg

    with postgres_server() as pg:
        began = time.perf_counter()
        loaded = load(pg.dsn(), args.pg_rows)
        with psycopg.connect(pg.dsn()) as conn:
            (size,) = conn.execute(  # type: ignore[misc]
                "SELECT sum(octet_length(row_to_json(t)::text) + 1) FROM agentcc_request_log t "
                "WHERE organization_id = %s AND NOT deleted",
                (ORG,),
            ).fetchone()
        source_mb = float(size) / 1e6
        print(
            f"\npostgres: {loaded:,} rows of {HOUR:{KEY}} loaded in "
            f"{time.perf_counter() - began:.0f} s, {source_mb:.0f} MB as row_to_json NDJSON"
        )
        hour, nxt = f"{HOUR:{KEY}}", f"{HOUR + timedelta(hours=1):{KEY}}"
        params = {"dsn": pg.dsn(), "hour": HOUR.isoformat(), "day": f"{HOUR:%Y-%m-%dT00}"}
        params |= {"level": level, "start": hour, "end": nxt, "range": [hour]}
        results = {m: child(m, params, work) for m in ("plugin-pg", "naive-pg", "polars-pg")}
    table(
        f"PostgreSQL hour: {loaded:,} rows, {source_mb:.0f} MB as NDJSON, gzip level {level} "
        "(server CPU not counted)",
        {
            "plugin (Dagster job, 1 hour)": results["plugin-pg"],
            "naive (psycopg dicts + json + gzip)": results["naive-pg"],
            "polars (read_database_uri adbc ... gzip)": results["polars-pg"],
        },
        source_mb,
    )
    print()
    ratios(results, "-pg")


def code_version() -> str:
    """Which prism_dagster is measured: its folder, git commit and uncommitted files in it."""
    import prism_dagster

    package = Path(prism_dagster.__file__).parent
    git = ["git", "-C", str(package)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return f"{package} (not a git checkout)"
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True
    )
    changed = len(dirty.stdout.splitlines())
    return f"{package} at {head.stdout.strip()}, {changed} uncommitted file(s) in it"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100_000, help="simulated requests/hour")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--pg-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    level = WriteFields.model_fields["gzip_level"].default
    began = time.perf_counter()
    print(f"code: {code_version()}")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load_before}; cores {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="prism-e2e-") as tmp:
        spool_day(args, Path(tmp), level)
        if not args.skip_pg:
            postgres_hour(args, Path(tmp), level)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average after: {load_after}; benchmark took {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
