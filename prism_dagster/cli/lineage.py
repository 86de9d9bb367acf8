"""`prism-dagster lineage NAME HOUR`: one hour's chain from Dagster's records, for analysts."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING

from prism_dagster.cli.arguments import (
    FINE,
    PROBLEM,
    add_command,
    add_config_option,
    add_name_argument,
    exit_codes,
    hour_argument,
)

if TYPE_CHECKING:  # heavy (Dagster): imported when the command runs, not at --help
    from prism_dagster.config import PrismConfig
    from prism_dagster.lifecycle.lineage import HourLineage


def lineage(config: PrismConfig, name: str, hour: str | datetime) -> HourLineage:
    """The chain for integration ``name`` and UTC hour ``hour`` (e.g. 2026-03-31T14)."""
    from prism_dagster.archive import layout
    from prism_dagster.archive.verify import Severity, verify_hour
    from prism_dagster.cli.demo import PRISM_DIR, dagster_instance
    from prism_dagster.config import find_integration, parse_hour
    from prism_dagster.defs.resources import live, live_archive
    from prism_dagster.errors import PrismError
    from prism_dagster.lifecycle.lineage import hour_lineage
    from prism_dagster.names import archive_key

    hour = parse_hour(hour)
    integration = find_integration(config, name)
    archive = live_archive(integration)
    try:
        now = live(config.source.log_source()).fingerprints(hour, hour + layout.ONE_HOUR)
    except PrismError:
        now = {}  # an unreachable source: "now" is unknown, the rest of the chain still holds
    # Complete means what the reconciliation check proves: every object there, matching.
    report = verify_hour(archive, hour, now.get(hour))
    problems = [f.message for f in report.findings if f.severity is Severity.ERROR]
    instance = dagster_instance(PRISM_DIR)
    asset = archive_key(integration)
    return hour_lineage(instance, archive, asset, hour, now.get(hour), problems)


def render(chain: HourLineage, as_json: bool) -> str:
    """The chain for people, or JSON for scripts."""
    from prism_dagster.sources.base import fingerprint_change

    if as_json:
        return json.dumps(chain.to_json(), indent=2)
    lines = [f"{chain.integration} {chain.hour} (partition {chain.partition})"]
    lines.append(
        "  complete: yes" if chain.complete else "  complete: NO: " + "; ".join(chain.problems)
    )
    if chain.fingerprint_archived is None:
        source = "the hour is not archived"
    elif chain.fingerprint_now is None:
        source = "the source could not be read now"
    elif chain.current:
        source = "unchanged since archived"
    else:
        change = fingerprint_change(chain.fingerprint_archived, chain.fingerprint_now)
        source = f"changed since archived, late rows waiting: {change}"
    lines += [
        f"  source:   archived {chain.fingerprint_archived or '-'}",
        f"            now      {chain.fingerprint_now or '-'} ({source})",
        f"  manifest: {chain.manifest}",
        f"  objects:  {len(chain.objects)}",
    ]
    lines += [
        f"    {o['uri']}  {o['rows']} rows  {o['bytes']} bytes  sha256 {o['sha256']}"
        for o in chain.objects
    ]
    lines.append(f"  written by {len(chain.writes)} run(s), oldest first:")
    lines += [
        f"    {w.at}  run {w.run_id}  {w.launched_by}  rows {w.rows if w.rows is not None else '-'}"
        f"  source {w.source_fingerprint or '-'}"
        for w in chain.writes
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the chain; 1 when the hour is not complete."""
    from prism_dagster.config import load_config

    chain = lineage(load_config(args.config), args.name, args.hour)
    print(render(chain, args.json))
    return FINE if chain.complete else PROBLEM


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``lineage`` on the top-level parser's subcommands."""
    cmd = add_command(
        sub,
        "lineage",
        "one archived hour: its runs, source and objects",
        exit_codes(
            "the hour is complete (complete: yes)",
            "the hour is not complete (complete: NO), or its archive could not be read",
        ),
        run,
    )
    add_name_argument(cmd)
    cmd.add_argument(
        "hour", metavar="HOUR", type=hour_argument, help="UTC hour, e.g. 2026-03-31T14"
    )
    cmd.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_option(cmd)
