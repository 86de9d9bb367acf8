"""Two processes archive the same hour at once from different sources (late rows): what do
readers see afterwards? Prints, per round and in total, what a manifest reader and a glob
reader of the hour find.

Runs against whichever prism_dagster is importable, so the same script measures a change
against main: ``PYTHONPATH=/path/to/main-checkout python benchmarks/race_one_hour.py``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from prism_dagster.destinations import LocalDestination
from prism_dagster.sources import SourceBatch

try:
    from prism_dagster.archive import layout
    from prism_dagster.archive.normalize import normalize
    from prism_dagster.archive.settings import WriteSettings
    from prism_dagster.archive.writer import write_hour
except ImportError:  # main before the restructuring (issue 9): the flat modules
    from prism_dagster.normalize import normalize  # type: ignore[no-redef]
    from prism_dagster.writer import WriteSettings, write_hour  # type: ignore[no-redef]

    from prism_dagster import layout  # type: ignore[no-redef]

HOUR = datetime(2026, 3, 31, 14, tzinfo=UTC)
PREFIX = "race"


def source(rows: int) -> pl.DataFrame:
    """``rows`` requests spread over the hour, ids stable so two sizes overlap."""
    step_us = 3_600_000_000 // rows
    return normalize(
        pl.DataFrame(
            {
                "request_id": [f"req_{i:08d}" for i in range(rows)],
                "started_at": [HOUR + timedelta(microseconds=i * step_us) for i in range(rows)],
                "cost": [i / 1000 for i in range(rows)],
            }
        )
    )


def _write(root: str, rows: int, start: multiprocessing.synchronize.Event) -> None:
    records = source(rows)
    start.wait()
    write_hour(
        LocalDestination(path=root),
        integration="prod",
        prefix=PREFIX,
        hour=HOUR,
        records=records,
        rejects=SourceBatch.empty_rejects(),
        settings=WriteSettings(max_rows_per_file=5_000, slice_rows=2_500),
    )


def inspect(root: Path, sizes: tuple[int, int]) -> dict[str, int]:
    """What readers of the hour find after both writers finished."""
    folder = root / layout.hour_dir(PREFIX, HOUR)
    manifest = json.loads((folder / layout.MANIFEST_NAME).read_text())
    bad_checksums = sum(
        hashlib.sha256((folder / f["name"]).read_bytes()).hexdigest() != f["sha256"]
        for f in manifest["files"]
    )
    listed = [f["name"] for f in manifest["files"]]
    via_manifest = [
        json.loads(line)["request_id"]
        for name in listed
        for line in gzip.decompress((folder / name).read_bytes()).splitlines()
    ]
    via_glob = [
        json.loads(line)["request_id"]
        for path in sorted(folder.glob("batch_*.jsonl.gz"))
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    expected = {size: {f"req_{i:08d}" for i in range(size)} for size in sizes}
    best = min(sizes, key=lambda s: len(expected[s] ^ set(via_manifest)))
    return {
        "bad_checksums": bad_checksums,
        "manifest_missing_rows": len(expected[best] - set(via_manifest)),
        "manifest_duplicate_rows": len(via_manifest) - len(set(via_manifest)),
        "glob_duplicate_rows": len(via_glob) - len(set(via_glob)),
        "orphan_files": len(list(folder.glob("batch_*.jsonl.gz"))) - len(listed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    sizes = (args.rows, args.rows * 11 // 10)
    totals: dict[str, int] = {}
    corrupt_rounds = 0
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            _write(tmp, 1000, _set(ctx))  # an earlier archive of the hour, to be replaced
            start = ctx.Event()
            writers = [ctx.Process(target=_write, args=(tmp, n, start)) for n in sizes]
            for w in writers:
                w.start()
            start.set()
            for w in writers:
                w.join(300)
            found = inspect(Path(tmp), sizes)
        corrupt_rounds += any(found.values())
        for key, value in found.items():
            totals[key] = totals.get(key, 0) + value
        print(f"round {round_ + 1}: {found}", flush=True)
    print(f"rounds with any defect: {corrupt_rounds} of {args.rounds}")
    print(f"totals: {totals}")


def _set(ctx: multiprocessing.context.SpawnContext) -> multiprocessing.synchronize.Event:
    event = ctx.Event()
    event.set()
    return event


if __name__ == "__main__":
    main()
