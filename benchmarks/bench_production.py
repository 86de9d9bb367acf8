"""Production-profile benchmark: a 720-hour backfill of one integration on deploy/dagster.yaml.

The code server, daemon and webserver as separate processes on PostgreSQL (the tests'
launchers), the run queue and the source pool at their defaults; the backfill launched through
GraphQL and timed to completion. Quiet simulated hours (a few rows each): this measures run
overhead, not archiving speed. Prints wall time, runs launched and seconds per run.
Not a test: nothing is asserted.

    python benchmarks/bench_production.py [--hours 720] [--keep DIR]

With ``--keep DIR`` the work folder (spool, archive, DAGSTER_HOME with the daemon logs) is DIR
and stays afterwards. A backfill that does not succeed prints why (runs, errors, daemon logs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prism_dagster.names import archive_key, partition_key
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.postgres import postgres_server
from prism_dagster_tests.support.production import BACKFILL_RUNS, production

START = datetime(2026, 3, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    args = parser.parse_args()
    hours = [START + timedelta(hours=i) for i in range(args.hours)]
    why = ""
    with ExitStack() as stack:
        postgres = stack.enter_context(postgres_server())
        if args.keep is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            root = args.keep
            root.mkdir(parents=True, exist_ok=False)
        simulate(root / "spool", hours[0], hours[-1] + timedelta(hours=1), rate=5, seed=1)
        config = root / "prism.yaml"
        integration = {"name": "bench", "provider": "local", "path": str(root / "archive")}
        quiet = {"start": f"{START:%Y-%m-%dT%H}", "sync_interval": 24, "grace_minutes": 59}
        source = {"kind": "spool", "path": str(root / "spool")}
        config.write_text(json.dumps({"source": source, "integrations": [integration | quiet]}))
        with production(postgres, config, root / "home") as topology:
            began = time.monotonic()
            backfill = topology.dev.backfill(
                archive_key("bench").path, [partition_key(h) for h in hours]
            )
            status = topology.dev.wait_for_backfill(backfill, timeout=7200)
            wall = time.monotonic() - began
            runs = topology.dev.graphql(BACKFILL_RUNS, {"id": backfill})["runsOrError"]
            if status != "COMPLETED_SUCCESS":
                why = topology.failures(runs["results"], backfill)
    launched = len(runs["results"])
    print(f"production profile, {args.hours} hours, 1 integration: {status}")
    print(f"  wall {wall:.1f} s, {launched} runs, {wall / max(launched, 1):.2f} s per run")
    print(f"  {wall / args.hours * 1000:.0f} ms per hour")
    if why:
        print(why)


if __name__ == "__main__":
    main()
