"""The ``prism-dagster`` command: operator tasks from a terminal."""

from __future__ import annotations

import argparse
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

from prism_dagster.cli.permissions import add_parser as add_permissions_parser
from prism_dagster.cli.pools import add_parser as add_pools_parser
from prism_dagster.cli.sql import add_parser as add_sql_parser
from prism_dagster.errors import PrismError


def _demo(args: argparse.Namespace) -> int:
    from prism_dagster.archive.schema import COST_CURRENCY
    from prism_dagster.cli.demo import run_demo

    summaries = run_demo(args.config, rate=args.rate)
    for s in summaries:
        print(
            f"{s.integration}: archived {s.hours} hours ({s.hours_with_data} with traffic): "
            f"{s.rows} rows, {s.rejected_rows} rejected, {s.files} files, {s.bytes} bytes "
            f"-> {s.location}"
        )
        if s.usage is not None:
            day, table = s.usage
            top = ", ".join(
                f"{r['model']} {r['cost']:.2f} {COST_CURRENCY} ({r['requests']} requests)"
                for r in table.head(3).iter_rows(named=True)
            )
            print(f"  {day} top models by cost (prism/usage_daily/{s.integration}): {top}")
    print("Open the Dagster UI on these runs: see README.md, 'The Dagster UI'.")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from prism_dagster.config import find_integration, load_config
    from prism_dagster.defs.resources import live, live_archive
    from prism_dagster.lifecycle.validate import Validation, validate_destination, validate_source

    config = load_config(args.config)
    result = validate_destination(live_archive(find_integration(config, args.name)))
    source = validate_source(live(config.source.log_source()))
    result = Validation(result.integration, result.target, [*result.steps, source])
    print("\n".join(result.lines()))
    return 0 if result.ok else 1


def _status(args: argparse.Namespace) -> int:
    from prism_dagster.cli.status import render, rows, store_label
    from prism_dagster.config import load_config

    config = load_config(args.config)
    print(render(rows(config), args.json))
    if not args.json:
        print(f"\nstatus store: {store_label(config)}")
    return 0


def _pause(args: argparse.Namespace) -> int:
    from prism_dagster.cli.status import set_paused
    from prism_dagster.config import load_config

    print(set_paused(load_config(args.config), args.name, args.command == "pause"))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from prism_dagster.config import parse_hour
    from prism_dagster.sources.simulate import simulate

    start, end = parse_hour(args.start), parse_hour(args.end)
    if end <= start:
        raise PrismError(f"--end {args.end} must be after --start {args.start}")
    hours = simulate(args.spool, start, end, args.rate, args.seed, args.bad_lines)
    rows = sum(h.rows for h in hours)
    quiet = sum(1 for h in hours if h.path is None)
    print(f"wrote {rows} requests over {len(hours)} hours ({quiet} quiet) to {args.spool}")
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from prism_dagster.cli.lineage import lineage, render
    from prism_dagster.config import load_config

    print(render(lineage(load_config(args.config), args.name, args.hour), args.json))
    return 0


def _now_hour() -> str:
    return f"{datetime.now(UTC):%Y-%m-%dT%H}"


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    top = argparse.ArgumentParser(prog="prism-dagster", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate the last 24 hours and archive them locally")
    demo.add_argument(
        "--config", type=Path, default=None, help="default: $PRISM_CONFIG or prism.yaml"
    )
    demo.add_argument("--rate", type=int, default=500, help="mean requests per hour")
    demo.set_defaults(run=_demo)
    check = sub.add_parser("validate", help="write, read, list and delete a probe object")
    check.add_argument("name", help="integration name in prism.yaml")
    check.add_argument(
        "--config", type=Path, default=None, help="default: $PRISM_CONFIG or prism.yaml"
    )
    check.set_defaults(run=_validate)
    status = sub.add_parser("status", help="status of every integration")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--config", type=Path, default=None, help="default: $PRISM_CONFIG or prism.yaml"
    )
    status.set_defaults(run=_status)
    for verb, text in (
        ("pause", "stop archiving an integration"),
        ("resume", "resume and catch up"),
    ):
        toggle = sub.add_parser(verb, help=text)
        toggle.add_argument("name", help="integration name in prism.yaml")
        toggle.add_argument(
            "--config", type=Path, default=None, help="default: $PRISM_CONFIG or prism.yaml"
        )
        toggle.set_defaults(run=_pause)
    chain = sub.add_parser("lineage", help="one archived hour: its runs, source and objects")
    chain.add_argument("name", help="integration name in prism.yaml")
    chain.add_argument("hour", help="UTC hour, e.g. 2026-03-31T14")
    chain.add_argument("--json", action="store_true", help="machine-readable output")
    chain.add_argument(
        "--config", type=Path, default=None, help="default: $PRISM_CONFIG or prism.yaml"
    )
    chain.set_defaults(run=_lineage)
    sim = sub.add_parser("simulate", help="write realistic gateway traffic into a spool folder")
    sim.add_argument("--spool", type=Path, default=Path(".prism/spool"))
    sim.add_argument("--start", required=True, help="first UTC hour, e.g. 2026-03-31T00")
    sim.add_argument("--end", default=_now_hour(), help="UTC hour to stop before (default: now)")
    sim.add_argument("--rate", type=int, default=500, help="mean requests per hour")
    sim.add_argument("--seed", type=int, default=0, help="same seed, same traffic")
    sim.add_argument("--bad-lines", type=int, default=0, help="malformed lines per hour")
    sim.set_defaults(run=_simulate)
    add_sql_parser(sub)
    add_pools_parser(sub)
    add_permissions_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``prism-dagster`` console script."""
    args = parser().parse_args(argv)
    if getattr(args, "config", "absent") is None:
        from prism_dagster.config import config_path

        args.config = config_path()
    warnings.filterwarnings("ignore", module="dagster")
    try:
        return args.run(args)
    except PrismError as exc:
        print(f"prism-dagster: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
