"""The prism-dagster command: operator tasks from a terminal."""

from __future__ import annotations

import argparse
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

from prism_dagster.cli.arguments import (
    FINE,
    PROBLEM,
    USAGE,
    Parser,
    add_command,
    add_config_option,
    add_name_argument,
    exit_codes,
    hour_argument,
)
from prism_dagster.cli.lineage import add_parser as add_lineage_parser
from prism_dagster.cli.permissions import add_parser as add_permissions_parser
from prism_dagster.cli.pools import add_parser as add_pools_parser
from prism_dagster.cli.sql import add_parser as add_sql_parser
from prism_dagster.cli.verify import add_parser as add_verify_parser
from prism_dagster.errors import ConfigError, PrismError


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
    return FINE


def _validate(args: argparse.Namespace) -> int:
    from prism_dagster.config import find_integration, load_config
    from prism_dagster.defs.resources import live, live_archive
    from prism_dagster.lifecycle.validate import Validation, validate_destination, validate_source

    config = load_config(args.config)
    result = validate_destination(live_archive(find_integration(config, args.name)))
    source = validate_source(live(config.source.log_source()))
    result = Validation(result.integration, result.target, [*result.steps, source])
    print("\n".join(result.lines()))
    return FINE if result.ok else PROBLEM


def _status(args: argparse.Namespace) -> int:
    from prism_dagster.cli.status import render, rows, store_label
    from prism_dagster.config import load_config

    config = load_config(args.config)
    print(render(rows(config), args.json))
    if not args.json:
        print(f"\nstatus store: {store_label(config)}")
    return FINE


def _pause(args: argparse.Namespace) -> int:
    from prism_dagster.cli.status import set_paused
    from prism_dagster.config import load_config

    print(set_paused(load_config(args.config), args.name, args.command == "pause"))
    return FINE


def _simulate(args: argparse.Namespace) -> int:
    from prism_dagster.names import hour_text
    from prism_dagster.sources.simulate import simulate, summary

    if args.end <= args.start:
        args.usage(f"--end {hour_text(args.end)} must be after --start {hour_text(args.start)}")
    hours = simulate(args.spool, args.start, args.end, args.rate, args.seed, args.bad_lines)
    print(f"wrote {summary(hours)} to {args.spool}")
    return FINE


def _now_hour() -> str:
    return f"{datetime.now(UTC):%Y-%m-%dT%H}"


def parser() -> Parser:
    """The command-line interface."""
    top = Parser(
        prog="prism-dagster", description=__doc__, epilog=exit_codes("fine", "a problem found")
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = add_command(
        sub,
        "demo",
        "simulate the last 24 hours and archive them locally",
        exit_codes("every hour was archived", "an archive run failed (the cause is printed)"),
        _demo,
    )
    demo.add_argument("--rate", type=int, default=500, help="mean requests per hour")
    add_config_option(demo)
    check = add_command(
        sub,
        "validate",
        "write, read, list and delete a probe object, and open the source",
        exit_codes(
            "every step passed (WARN steps included)",
            "a step failed: the destination or the source cannot be used as configured",
        ),
        _validate,
    )
    add_name_argument(check)
    add_config_option(check)
    status = add_command(
        sub,
        "status",
        "status of every integration",
        exit_codes("shown, whatever each integration's status (read STATUS for Error)"),
        _status,
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_option(status)
    for verb, text in (
        ("pause", "stop archiving an integration"),
        ("resume", "resume and catch up"),
    ):
        toggle = add_command(sub, verb, text, exit_codes(f"{verb}d"), _pause)
        add_name_argument(toggle)
        add_config_option(toggle)
    sim = add_command(
        sub,
        "simulate",
        "write realistic gateway traffic into a spool folder",
        exit_codes("the traffic was written"),
        _simulate,
    )
    sim.add_argument("--spool", type=Path, default=Path(".prism/spool"))
    sim.add_argument(
        "--start",
        required=True,
        type=hour_argument,
        metavar="HOUR",
        help="first UTC hour, e.g. 2026-03-31T00",
    )
    sim.add_argument(
        "--end",
        default=_now_hour(),
        type=hour_argument,
        metavar="HOUR",
        help="UTC hour to stop before (default: the current hour)",
    )
    sim.add_argument("--rate", type=int, default=500, help="mean requests per hour")
    sim.add_argument("--seed", type=int, default=0, help="same seed, same traffic")
    sim.add_argument("--bad-lines", type=int, default=0, help="malformed lines per hour")
    add_lineage_parser(sub)
    add_sql_parser(sub)
    add_pools_parser(sub)
    add_permissions_parser(sub)
    add_verify_parser(sub)
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
        return USAGE if _usage(exc) else PROBLEM


def _usage(exc: PrismError) -> bool:
    """Whether the command was given something it cannot use (exit 2), rather than finding a
    problem where it looked (exit 1: a destination, a source, an archive)."""
    from prism_dagster.queries.target import QueryError  # an engine that cannot read the store

    return isinstance(exc, ConfigError | QueryError)


if __name__ == "__main__":
    sys.exit(main())
