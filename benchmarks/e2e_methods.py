"""The methods bench_end_to_end.py times, each run alone in a child process.

    python benchmarks/e2e_methods.py METHOD PARAMS_JSON OUT_DIR   # prints one JSON line

Each method's set-up (imports, Dagster definitions, loading a stage's input) is untimed; then
the peak RSS is reset and the method is timed. Figures: rows, wall seconds, process CPU
seconds (all threads), peak RSS above the RSS after set-up (MiB) and bytes written.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import sys
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_postgres import ORG
from bench_write import _reset_peak, _status_mib
from e2e_pipelines import (
    HOUR_KEY,
    Job,
    Params,
    naive_pg,
    naive_spool,
    polars_pg,
    polars_spool,
    spool_files,
)

from prism_dagster.archive.layout import MANIFEST_NAME
from prism_dagster.archive.normalize import normalize


# --- the plugin: its real asset, materialised by its archive job in process ----------------
def plugin(p: Params, out: Path) -> Job:
    import dagster as dg

    from prism_dagster.config import parse_config
    from prism_dagster.definitions import build_definitions
    from prism_dagster.names import PARTITION_KEY_FORMAT, archive_job_name

    if "dsn" in p:
        os.environ["BENCH_GATEWAY_DSN"] = p["dsn"]
        source = {"kind": "postgres", "dsn": {"env": "BENCH_GATEWAY_DSN"}, "organization_id": ORG}
    else:
        source = {"kind": "spool", "path": p["spool"]}
    if "hour_memory_mb" in p:  # bench_large_hour.py; otherwise the default
        source["hour_memory_mb"] = p["hour_memory_mb"]
    if "piece_mb" in p:  # bench_large_hour.py --piece-mb: PostgreSQL's piece size
        from prism_dagster.sources import postgres

        postgres.PIECE_BYTES = int(p["piece_mb"]) << 20
    raw = {
        "source": source,
        "integrations": [
            {"name": "bench", "provider": "local", "path": str(out / "archive"), "start": p["day"]}
        ],
        "status_store": {"url": f"sqlite:///{out / 'status.db'}"},
    }
    job = build_definitions(parse_config(raw)).resolve_job_def(archive_job_name("bench"))
    keys = [datetime.strptime(k, HOUR_KEY).strftime(PARTITION_KEY_FORMAT) for k in p["range"]]
    tags = {"dagster/asset_partition_range_start": keys[0]}
    tags["dagster/asset_partition_range_end"] = keys[-1]
    instance = dg.DagsterInstance.ephemeral()

    def run() -> int:
        if len(keys) == 1:  # one hour: an ordinary hourly run
            result = job.execute_in_process(partition_key=keys[0], instance=instance)
        else:
            result = job.execute_in_process(tags=tags, instance=instance)
        if not result.success:
            raise SystemExit(f"plugin run failed: {result}")
        manifests = (out / "archive").rglob(MANIFEST_NAME)
        return sum(json.loads(m.read_text())["total_rows"] for m in manifests)

    return run


# --- stage ceilings on the spool day -------------------------------------------------------
def _raw(p: Params) -> list[bytes]:
    return [gzip.decompress(f.read_bytes()) for _, f in spool_files(p["spool"])]


def stage_gunzip(p: Params, out: Path) -> Job:
    files = [f for _, f in spool_files(p["spool"])]

    def run() -> tuple[int, int]:
        raw = [len(gzip.decompress(f.read_bytes())) for f in files]
        return p["source_rows"], sum(raw)

    return run


def stage_parse(p: Params, out: Path) -> Job:
    raw = _raw(p)
    return lambda: sum(pl.read_ndjson(io.BytesIO(b)).height for b in raw)


def _normalised(p: Params) -> list[pl.DataFrame]:
    return [normalize(pl.read_ndjson(io.BytesIO(b))) for b in _raw(p)]


def stage_serialise(p: Params, out: Path) -> Job:
    frames = _normalised(p)

    def run() -> tuple[int, int]:
        size = 0
        for frame in frames:
            frame.write_ndjson(buffer := io.BytesIO())
            size += buffer.tell()
        return sum(f.height for f in frames), size

    return run


def stage_compress(p: Params, out: Path) -> Job:
    texts = [(f.height, f.write_ndjson().encode()) for f in _normalised(p)]

    def run() -> tuple[int, int]:
        size = 0
        for _, text in texts:
            packer = zlib.compressobj(p["level"], zlib.DEFLATED, 31)  # gzip, one thread
            size += len(packer.compress(text)) + len(packer.flush())
        return sum(rows for rows, _ in texts), size

    return run


METHODS: dict[str, Callable[[Params, Path], Job]] = {
    "plugin": plugin,
    "plugin-pg": plugin,
    "naive": naive_spool,
    "polars": polars_spool,
    "naive-pg": naive_pg,
    "polars-pg": polars_pg,
    "gunzip": stage_gunzip,
    "parse": stage_parse,
    "serialise": stage_serialise,
    "compress": stage_compress,
}


def measure(method: str, p: Params, out: Path) -> dict[str, float]:
    if "dsn" in p:  # loaded lazily by the plugin and Polars: part of the baseline, not the peak
        import adbc_driver_postgresql.dbapi  # noqa: F401
        import psycopg  # noqa: F401
        import pyarrow  # noqa: F401
    job = METHODS[method](p, out)
    _reset_peak()
    base = _status_mib("VmRSS")
    cpu0, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    done = job()
    seconds = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    # A stage returns (rows, bytes it made); a pipeline returns rows and its files are counted.
    rows, written = done if isinstance(done, tuple) else (done, 0)
    written += sum(f.stat().st_size for f in out.rglob("*.gz"))
    peak = _status_mib("VmHWM") - base
    return {"rows": rows, "seconds": seconds, "cpu": cpu, "peak": peak, "bytes": written}


if __name__ == "__main__":
    name, params, folder = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(measure(name, params, folder)))
