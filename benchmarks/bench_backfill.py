"""Backfill benchmark: a 720-hour backfill of one integration on a real `dagster dev`.

Starts `dagster dev` (webserver + daemon, the default run launcher: one process per run),
launches the partitions page's backfill through GraphQL and times it to completion, for
``catch_up.max_hours_per_run`` 24 (the default: 30 runs) and, over fewer hours, 1 (one run per
hour). Prints wall time, seconds per run and per hour, and the ratio. Quiet simulated hours
(a few rows each): this measures run overhead, not archiving speed (see bench_write.py).
Not a test: nothing is asserted.

    python benchmarks/bench_backfill.py [--hours 720] [--single-hours 48]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The tests' `dagster dev` launcher and its GraphQL calls: one copy, shared with the benchmark.
from prism_dagster.names import partition_key
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.dagster_dev import dagster_dev

START = datetime(2026, 3, 1, tzinfo=UTC)
ASSET = ["prism", "archive", "prod"]
RUNS = "query { runsOrError { ... on Runs { results { runId status } } } }"


def _backfill(root: Path, spool: Path, hours: int, per_run: int) -> tuple[float, int]:
    """Wall seconds from launching a backfill of ``hours`` hours to its end; runs it took."""
    config = root / f"prism-{per_run}.json"
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {
                "name": "prod",
                "provider": "local",
                "path": str(root / f"archive-{per_run}"),
                "start": START.strftime("%Y-%m-%dT%H"),
            }
        ],
        "catch_up": {"max_hours_per_run": per_run},
        "status_store": {"url": f"sqlite:///{root / f'status-{per_run}.db'}"},
    }
    config.write_text(json.dumps(raw))
    keys = [partition_key(START + timedelta(hours=h)) for h in range(hours)]
    with dagster_dev(config, root / f"home-{per_run}") as dev:
        began = time.monotonic()
        backfill = dev.backfill(ASSET, keys)
        status = dev.wait_for_backfill(backfill, timeout=4 * 3600)
        took = time.monotonic() - began
        runs = dev.graphql(RUNS)["runsOrError"]["results"]
    if status != "COMPLETED_SUCCESS":
        raise SystemExit(f"backfill ended {status}")
    return took, len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--single-hours", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spool = root / "spool"
        simulate(spool, START, START + timedelta(hours=args.hours), rate=4, seed=1)
        many, many_runs = _backfill(root, spool, args.hours, 24)
        one, one_runs = _backfill(root, spool, args.single_hours, 1)
    per_run_one = one / one_runs
    print(f"{'what':44} {'hours':>6} {'runs':>5} {'wall s':>8} {'s/run':>6} {'s/hour':>7}")
    print(
        f"{'backfill, 24 hours per run (default)':44} {args.hours:6} {many_runs:5} "
        f"{many:8.1f} {many / many_runs:6.2f} {many / args.hours:7.3f}"
    )
    print(
        f"{'backfill, 1 hour per run':44} {args.single_hours:6} {one_runs:5} "
        f"{one:8.1f} {per_run_one:6.2f} {one / args.single_hours:7.3f}"
    )
    print(
        f"one hour per run costs {one / args.single_hours / (many / args.hours):.1f}x the time "
        f"per hour; {args.hours} hours that way would take about "
        f"{one / args.single_hours * args.hours / 60:.0f} min instead of {many / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
